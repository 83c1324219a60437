/**
 * Gatehouse's own HTTP/1.1 upstream client (engine: native, src/upstream/h1/): what goes on the wire to the
 * server (RFC 9112 3, 6), how responses are read whatever way the bytes arrive, connection reuse (RFC 9112 9.3)
 * and what a broken server gets the client (502, never its bytes).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { definePlugin } from '../src/index.js';
import { HttpParser, ParseError } from '../src/core/llhttp.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { send } from './helpers/client.js';

interface RawOrigin { url: string; connections: number; requests: string[]; open(): number }

/** A server on raw sockets: `answer` gets each request's bytes (one data event per request) and its socket. */
async function rawOrigin(t: TestContext, answer: (data: string, socket: Socket, nth: number) => void): Promise<RawOrigin> {
  const sockets = new Set<Socket>();
  const o: RawOrigin = { url: '', connections: 0, requests: [], open: () => sockets.size };
  const server: Server = createServer((socket) => {
    o.connections++;
    socket.on('data', (d) => { o.requests.push(d.toString('latin1')); answer(d.toString('latin1'), socket, o.requests.length); });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  t.after(() => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }));
  const { port } = server.address() as { port: number };
  o.url = `http://127.0.0.1:${port}`;
  return o;
}

function proxyTo(t: TestContext, url: string, extra: Record<string, unknown> = {}, opts: Parameters<typeof startProxy>[2] = {}): ReturnType<typeof startProxy> {
  return startProxy(t, {
    engine: 'native',
    upstreams: { app: { servers: [url], ...extra } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  }, opts);
}

test('native client: request head on the wire: Host first, Content-Length for a known body, chunked for a streamed one (RFC 9112 6.1, 7.1)', async (t) => {
  const seen: { head: string; body: string }[] = [];
  const origin = await startOrigin(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const head = `${req.method} ${req.url}\n${req.rawHeaders.join('\n')}`;
      seen.push({ head, body: Buffer.concat(chunks).toString() });
      res.end('ok');
    });
  });
  const gh = await proxyTo(t, origin.url);
  assert.equal((await send(`${gh.url}/a?b=1`, { method: 'POST', body: 'hello' })).status, 200);
  const lines = seen[0]!.head.split('\n');
  assert.equal(lines[0], 'POST /a?b=1');
  assert.equal(lines[1]!.toLowerCase(), 'host', 'Host is the first field (RFC 9110 7.2)');
  assert.ok(lines.some((l, i) => l.toLowerCase() === 'content-length' && lines[i + 1] === '5'));
  assert.equal(seen[0]!.body, 'hello');

  // A chunked upload larger than retry_buffer streams, chunked, with nothing held whole.
  const big = 'x'.repeat(200_000);
  const r = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${gh.url}/up`, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, agent: false }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    for (let i = 0; i < 20; i++) req.write(big.slice(i * 10_000, (i + 1) * 10_000));
    req.end();
  });
  assert.equal(r, 200);
  const up = seen[1]!;
  assert.ok(/transfer-encoding\nchunked/i.test(up.head), up.head);
  assert.equal(up.body.length, big.length);

  // POST without a body: Content-Length: 0 (RFC 9110 8.6); GET without one: neither field.
  await send(`${gh.url}/empty`, { method: 'POST' });
  assert.ok(/content-length\n0/i.test(seen[2]!.head));
  await send(`${gh.url}/get`);
  assert.ok(!/content-length|transfer-encoding/i.test(seen[3]!.head), seen[3]!.head);
});

test('native client: a response split at every byte offset reads the same (headers, chunked body, trailers)', async (t) => {
  const response = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: x-sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n';
  let split = 0;
  const origin = await rawOrigin(t, (_d, socket) => {
    const at = split;
    socket.write(response.slice(0, at));
    setTimeout(() => socket.write(response.slice(at)), 2);
  });
  const gh = await proxyTo(t, origin.url);
  for (split = 1; split < response.length; split++) {
    const r = await send(`${gh.url}/s`, { headers: { te: 'trailers' } });
    assert.equal(r.status, 200, `split at ${split}`);
    assert.equal(r.text, 'hello, world', `split at ${split}`);
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.trailers['x-sum'], '12', `split at ${split}`);
  }
  assert.equal(origin.connections, 1, 'one kept-alive connection served every request');
});

test('native client: a kept-alive connection the server closed is replaced for an idempotent request; a POST is not replayed (RFC 9112 9.3.1)', async (t) => {
  const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  const served = new WeakMap<Socket, number>();
  const origin = await rawOrigin(t, (_d, socket) => {
    const n = (served.get(socket) ?? 0) + 1;
    served.set(socket, n);
    // Each connection answers one request, then closes as the next one arrives (a server's idle close racing it).
    if (n === 1) socket.write(ok);
    else socket.destroy();
  });
  const gh = await proxyTo(t, origin.url);
  assert.equal((await send(`${gh.url}/1`)).status, 200);
  const again = await send(`${gh.url}/2`);
  assert.equal(again.status, 200, 'sent again on a new connection');
  assert.equal(origin.connections, 2);
  const post = await send(`${gh.url}/3`, { method: 'POST', body: 'once' });
  assert.equal(post.status, 502, 'a POST that may have reached the server is not sent twice');
  assert.equal(origin.requests.filter((r) => r.startsWith('POST')).length, 1);

  // retries: 0 — the operator allows no second attempt, not even this one.
  const strict = await proxyTo(t, origin.url, { retries: 0 });
  assert.equal((await send(`${strict.url}/4`)).status, 200);
  assert.equal((await send(`${strict.url}/5`)).status, 502);
  assert.equal(origin.requests.filter((r) => r.startsWith('GET /5')).length, 1);
});

test('native client: Keep-Alive: timeout from the server bounds reuse; Connection: close is honoured', async (t) => {
  const origin = await rawOrigin(t, (d, socket) => {
    if (d.startsWith('GET /short')) socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok');
    else if (d.startsWith('GET /close')) socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const gh = await proxyTo(t, origin.url);
  for (let i = 0; i < 3; i++) assert.equal((await send(`${gh.url}/keep`)).status, 200);
  assert.equal(origin.connections, 1, 'reused');
  await send(`${gh.url}/short`); // timeout=1: less a second of margin, not reused
  await send(`${gh.url}/keep`);
  assert.equal(origin.connections, 2);
  await send(`${gh.url}/close`);
  await send(`${gh.url}/keep`);
  assert.equal(origin.connections, 3);
});

test('native client: a broken response is a 502 that shows nothing of it; the connection is not reused', async (t) => {
  const bodies: Record<string, string> = {
    '/cl-te': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    '/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    '/switch': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    '/huge': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`,
    '/space': 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok',
  };
  const origin = await rawOrigin(t, (d, socket) => {
    const path = d.slice(4, d.indexOf(' ', 4));
    socket.write(bodies[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const gh = await proxyTo(t, origin.url);
  // A body that goes bad after a good head: the head went out, so the only honest signal is a cut connection.
  await assert.rejects(send(`${gh.url}/bad-chunk`), /socket hang up|aborted/);
  for (const path of Object.keys(bodies).filter((p) => p !== '/bad-chunk')) {
    const r = await send(`${gh.url}${path}`);
    assert.equal(r.status, 502, path);
    // Exactly the proxy's own error body: nothing of the server's (a random request id may well contain "abc").
    assert.deepEqual(JSON.parse(r.text), { status: 502, code: 'GH_UPSTREAM_PROTOCOL', requestId: r.headers['x-request-id'] }, path);
  }
  const before = origin.connections;
  assert.equal((await send(`${gh.url}/fine`)).text, 'ok');
  assert.equal(origin.connections, before + 1, 'a new connection after a broken one');
});

test('native client: HEAD, 204 and 304 carry no body, and the connection stays in step; 1xx is relayed', async (t) => {
  const origin = await rawOrigin(t, (d, socket) => {
    if (d.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    else if (d.startsWith('GET /204')) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    else if (d.startsWith('GET /304')) socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
    else if (d.startsWith('GET /hints')) socket.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const gh = await proxyTo(t, origin.url);
  const head = await send(`${gh.url}/h`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '100');
  assert.equal((await send(`${gh.url}/204`)).status, 204);
  assert.equal((await send(`${gh.url}/304`)).status, 304);
  const hints = await send(`${gh.url}/hints`);
  assert.equal(hints.text, 'hi');
  assert.deepEqual(hints.informational.map((i) => [i.status, i.headers.link]), [[103, '</s.css>; rel=preload']]);
  assert.equal((await send(`${gh.url}/after`)).text, 'ok');
  // The connection is closed after HEAD (as undici does: a body sent anyway must not be read as the next
  // response), and kept after 204, 304 and the 103 + 200: two connections in all.
  assert.equal(origin.connections, 2, 'every response ended where its framing said');
  assert.match(origin.requests[0]!, /\r\nconnection: close\r\n/);
});

test('native client: max_connections queues requests in order; a stalled body times out (timeouts.idle)', async (t) => {
  let open = 0;
  let most = 0;
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/stall') { res.writeHead(200, { 'content-length': '10' }); res.write('abc'); return; }
    open++;
    most = Math.max(most, open);
    setTimeout(() => { open--; res.end(req.url); }, 20);
  });
  const gh = await proxyTo(t, origin.url, { keepalive: { max_connections: 2 }, timeouts: { idle: '300ms' } });
  const all = await Promise.all(Array.from({ length: 8 }, (_, i) => send(`${gh.url}/q${i}`)));
  assert.deepEqual(all.map((r) => r.text), Array.from({ length: 8 }, (_, i) => `/q${i}`));
  assert.ok(most <= 2, `at most 2 at once (saw ${most})`);
  const started = Date.now();
  await assert.rejects(send(`${gh.url}/stall`), 'the client sees the response cut, not a complete short body');
  assert.ok(Date.now() - started < 3000);
});

test('native client: a header a plugin made with CR/LF is never sent (500, the server sees nothing)', async (t) => {
  let hits = 0;
  const origin = await startOrigin(t, (_req, res) => { hits++; res.end('ok'); });
  const inject = definePlugin({
    name: 'inject',
    routeSchema: z.boolean(),
    create: () => ({ forRoute: () => ({ upstreamRequestFilter: (_ctx, req) => { req.headers.push('x-evil', 'a\r\nx-injected: 1'); } }) }),
  });
  const gh = await startProxy(t, {
    engine: 'native',
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, plugins: { inject: true }, proxy: { upstream: 'app' } }],
  }, { plugins: [inject] });
  const r = await send(`${gh.url}/x`);
  assert.equal(r.status, 500);
  assert.equal(JSON.parse(r.text).code, 'GH_INTERNAL');
  assert.equal(hits, 0);
});

test('native client: a slow reader gets every byte of a large response (backpressure, no loss)', async (t) => {
  const size = 8 * 1024 * 1024;
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(size) });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) { sent += chunk.length; if (!res.write(chunk)) return void res.once('drain', pump); }
      res.end();
    };
    pump();
  });
  const gh = await proxyTo(t, origin.url);
  const got = await new Promise<number>((resolve, reject) => {
    httpRequest(`${gh.url}/big`, { agent: false }, (res) => {
      let n = 0;
      res.pause();
      setTimeout(() => { res.on('data', (c: Buffer) => { n += c.length; }); res.resume(); }, 300);
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject).end();
  });
  assert.equal(got, size);
  await sleep(10);
  assert.equal((await send(`${gh.url}/again`)).status, 200);
});

test('native client: responses in random chunk sizes, every framing, back to back: every body whole, no socket left behind', async (t) => {
  let seed = 16;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const body = (i: number): string => `body-${i}-`.repeat(1 + (i % 7));
  const frame = (i: number): string => {
    const b = body(i);
    if (i % 3 === 0) return `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
    if (i % 3 === 1) return `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\nX-I: ${i}\r\n\r\n`;
    return `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
  };
  const origin = await rawOrigin(t, (d, socket) => {
    const i = Number(/GET \/(\d+)/.exec(d)?.[1]);
    const bytes = frame(i);
    let at = 0;
    const step = (): void => {
      if (at >= bytes.length || socket.destroyed) return;
      const n = 1 + rand(24);
      socket.write(bytes.slice(at, at + n));
      at += n;
      if (rand(4) === 0) setTimeout(step, 1); else step();
    };
    step();
  });
  const gh = await proxyTo(t, origin.url);
  for (let round = 0; round < 10; round++) {
    const got = await Promise.all(Array.from({ length: 20 }, (_, k) => send(`${gh.url}/${round * 20 + k}`)));
    got.forEach((r, k) => assert.equal(r.text, body(round * 20 + k), `request ${round * 20 + k}`));
  }
  assert.ok(origin.connections <= 20, `connections reused (${origin.connections} for 200 requests)`);
  await gh.gh.stop({ timeoutMs: 1000 });
  // Every upstream connection closes with the proxy.
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && origin.open() > 0) await sleep(20);
  assert.equal(origin.open(), 0);
});

test('native client: a background revalidation whose body breaks right after its head throws nothing and releases the server (RFC 5861)', async (t) => {
  const thrown: unknown[] = [];
  const onThrown = (e: unknown): void => { thrown.push(e); };
  process.on('uncaughtException', onThrown);
  t.after(() => process.off('uncaughtException', onThrown));
  const origin = await rawOrigin(t, (_d, socket, nth) => {
    if (nth === 1) socket.write('HTTP/1.1 200 OK\r\ncache-control: max-age=1, stale-while-revalidate=60\r\ncontent-length: 2\r\n\r\nv1');
    else socket.end('HTTP/1.1 200 OK\r\ncache-control: max-age=1\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\n');
  });
  const gh = await startProxy(t, {
    engine: 'native',
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: {}, proxy: { upstream: 'app' } }],
  });
  assert.equal((await send(`${gh.url}/s`)).text, 'v1');
  await sleep(1100);
  const stale = await send(`${gh.url}/s`);
  assert.equal(stale.text, 'v1');
  await sleep(300);
  assert.equal(origin.requests.length, 2, 'revalidated in the background');
  assert.deepEqual(gh.gh.upstreams().find((u) => u.name === 'app')!.servers.map((s) => s.inflight), [0]);
  assert.deepEqual(thrown, []);
});

test('native client: a server that sends interim responses without end is cut off (502); a few are relayed (RFC 9110 15.2)', async (t) => {
  const hint = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n';
  const origin = await rawOrigin(t, (d, socket) => {
    if (d.startsWith('GET /flood')) socket.write(hint.repeat(40) + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    else if (d.startsWith('GET /few')) socket.write(hint.repeat(3) + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const gh = await proxyTo(t, origin.url);
  const few = await send(`${gh.url}/few`);
  assert.equal(few.text, 'ok');
  assert.equal(few.informational.length, 3);
  const flood = await send(`${gh.url}/flood`);
  assert.equal(flood.status, 502);
  assert.equal(JSON.parse(flood.text).code, 'GH_UPSTREAM_PROTOCOL');
  assert.equal((await send(`${gh.url}/after`)).text, 'ok');
});

test('llhttp glue: a callback that throws fails that message with GH_H1_INTERNAL, and parsing goes on elsewhere', () => {
  const quiet = { onMessageBegin: () => 0, onUrl: () => 0, onStatus: () => 0, onHeaderField: () => 0, onHeaderValue: () => 0, onBody: () => 0, onMessageComplete: () => 0 };
  const bad = new HttpParser('response', { ...quiet, onHeadersComplete: () => { throw new Error('a bug'); } });
  const r = bad.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  assert.ok(r instanceof ParseError);
  assert.equal(r.code, 'GH_H1_INTERNAL');
  bad.destroy();
  let done = 0;
  const good = new HttpParser('response', { ...quiet, onHeadersComplete: () => 0, onMessageComplete: () => { done++; return 0; } });
  assert.equal(good.execute(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), undefined);
  assert.equal(done, 1);
  good.destroy();
});

test('llhttp glue: a response parser that lower-cases names does so wherever the reads split the head; values keep their bytes', () => {
  const head = 'HTTP/1.1 200 OK\r\nX-Mixed-Case: Value ÀB\r\nETag: "AbC"\r\nset-cookie: A=B\r\nContent-Length: 2\r\n\r\nOK';
  const bytes = Buffer.from(head, 'latin1');
  for (let cut = 1; cut < bytes.length; cut++) {
    let fields: string[] = [];
    let body = '';
    const quiet = { onMessageBegin: () => 0, onUrl: () => 0, onStatus: () => 0, onHeaderField: () => 0, onHeaderValue: () => 0, onMessageComplete: () => 0 };
    const p: HttpParser = new HttpParser('response', {
      ...quiet,
      onHeadersComplete: () => { fields = p.takeFields(); return 0; },
      onBody: (b) => { body += b.toString('latin1'); return 0; },
    }, { lowerNames: true });
    assert.equal(p.execute(bytes.subarray(0, cut)), undefined);
    assert.equal(p.execute(bytes.subarray(cut)), undefined);
    p.destroy();
    assert.deepEqual(fields, ['x-mixed-case', 'Value ÀB', 'etag', '"AbC"', 'set-cookie', 'A=B', 'content-length', '2'], `cut at ${cut}`);
    assert.equal(body, 'OK');
  }
});

test('native client: an upstream\'s field names reach the client in lower case, their values as sent', async (t) => {
  const origin = await rawOrigin(t, (_d, socket) => socket.write('HTTP/1.1 200 OK\r\nX-Upper-NAME: MiXeD Value\r\nContent-Length: 2\r\n\r\nok'));
  const gh = await proxyTo(t, origin.url);
  const r = await send(`${gh.url}/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upper-name'], 'MiXeD Value');
  // On the wire, not as node's client shows them: the name in lower case, the value's bytes as sent.
  const at = r.rawHeaders.indexOf('x-upper-name');
  assert.ok(at >= 0 && at % 2 === 0, `names on the wire: ${r.rawHeaders.filter((_v, i) => i % 2 === 0).join(', ')}`);
  assert.equal(r.rawHeaders[at + 1], 'MiXeD Value');
  assert.equal(r.text, 'ok');
});
