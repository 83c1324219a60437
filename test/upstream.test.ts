import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { test } from 'node:test';
import { rawRequest, send } from './helpers/client.js';
import { freePort, startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { requestIds } from '../src/server/request-id.js';
import { FieldNames } from '../src/core/headers.js';

const proxyTo = (servers: string[], extra: Record<string, unknown> = {}) => ({
  upstreams: { app: { servers, ...extra } },
  routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
});

test('RFC 9110 7.6.1: hop-by-hop fields and fields named in Connection are not forwarded, either way; of TE only "trailers" (RFC 9113 8.2.2)', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(200, {
      'connection': 'x-origin-hop', 'x-origin-hop': 'drop me', 'keep-alive': 'timeout=99', 'x-end': 'keep',
      'proxy-authenticate': 'Basic',
    });
    res.end(JSON.stringify(req.headers));
  });
  const { url } = await startProxy(t, proxyTo([o.url]));
  const r = await send(url, {
    headers: { 'connection': 'keep-alive, x-secret-hop', 'x-secret-hop': 'private', 'keep-alive': 'timeout=5', 'te': 'gzip;q=0.5, trailers', 'proxy-authorization': 'Basic abc', 'upgrade': 'h2c', 'x-end': 'kept' },
  });
  const seen = JSON.parse(r.text) as Record<string, string>;
  assert.equal(seen['x-secret-hop'], undefined);
  assert.equal(seen['te'], 'trailers');
  assert.equal(seen['proxy-authorization'], undefined);
  assert.equal(seen['upgrade'], undefined);
  assert.notEqual(seen['keep-alive'], 'timeout=5');
  assert.equal(seen['x-end'], 'kept');
  assert.equal(r.headers['x-origin-hop'], undefined);
  assert.equal(r.headers['proxy-authenticate'], undefined);
  assert.notEqual(r.headers['keep-alive'], 'timeout=99');
  assert.equal(r.headers['x-end'], 'keep');
});

test('forwarding headers: X-Forwarded-* and Via are set; client values trusted only from trusted_proxies', async (t) => {
  const o = await startOrigin(t, (req, res) => res.end(JSON.stringify(req.headers)));
  const untrusted = await startProxy(t, proxyTo([o.url]));
  const spoof = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test', 'forwarded': 'for=6.6.6.6', 'via': '1.0 corp' };
  let seen = JSON.parse((await send(`${untrusted.url}/x`, { headers: { host: 'shop.test', ...spoof } })).text) as Record<string, string>;
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], 'shop.test');
  assert.equal(seen['forwarded'], undefined);
  assert.equal(seen['host'], 'shop.test', 'Host is passed through by default');
  assert.equal(seen['via'], '1.0 corp, 1.1 gatehouse');

  const trusted = await startProxy(t, { ...proxyTo([o.url]), trusted_proxies: ['127.0.0.0/8', '::1'] });
  seen = JSON.parse((await send(`${trusted.url}/x`, { headers: { host: 'shop.test', ...spoof } })).text) as Record<string, string>;
  assert.equal(seen['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'https');
  assert.equal(seen['x-forwarded-host'], 'evil.test');
});

test('Host can be overridden per upstream', async (t) => {
  const o = await startOrigin(t, (req, res) => res.end(req.headers.host));
  const { url } = await startProxy(t, proxyTo([o.url], { host: 'internal.svc' }));
  assert.equal((await send(url, { headers: { host: 'public.test' } })).text, 'internal.svc');
});

test('every method token is forwarded, bodies included', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(`${req.method} ${Buffer.concat(chunks).toString()}`));
  });
  const { url } = await startProxy(t, proxyTo([o.url]));
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'M-SEARCH', 'PROPFIND', 'PURGE']) {
    const r = await send(url, { method, body: method === 'GET' ? undefined : 'payload' });
    assert.equal(r.status, 200, method);
    assert.equal(r.text, method === 'GET' ? 'GET ' : `${method} payload`);
  }
  const head = await send(url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('a chunked request body streams through and arrives whole', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => res.end(`got ${n}`));
  });
  const { port } = await startProxy(t, proxyTo([o.url]));
  const raw = await rawRequest(port, 'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 200/);
  assert.match(raw, /got 11$/);
});

test('X-Request-Id: a well-formed one is kept, otherwise one is generated; sent upstream and returned', async (t) => {
  const o = await startOrigin(t, (req, res) => res.end(String(req.headers['x-request-id'])));
  const { url } = await startProxy(t, proxyTo([o.url]));
  const kept = await send(url, { headers: { 'x-request-id': 'abc-123' } });
  assert.equal(kept.text, 'abc-123');
  assert.equal(kept.headers['x-request-id'], 'abc-123');
  const bad = await send(url, { headers: { 'x-request-id': 'has spaces "and quotes"' } });
  assert.match(bad.text, GENERATED_ID);
  assert.equal(bad.headers['x-request-id'], bad.text);
  const none = await send(url);
  assert.match(String(none.headers['x-request-id']), GENERATED_ID);
  assert.notEqual(none.headers['x-request-id'], bad.text);
});

// 16 random bytes in hex, as nginx's $request_id (src/server/request-id.ts).
const GENERATED_ID = /^[0-9a-f]{32}$/;

test('X-Request-Id: generated ids are random (nothing in common between consecutive ones) and unique within and across proxies', async (t) => {
  const o = await startOrigin(t, (_req, res) => res.end('ok'));
  const [a, b] = [await startProxy(t, proxyTo([o.url])), await startProxy(t, proxyTo([o.url]))];
  const ids: string[] = [];
  for (const { url } of [a, b, a, b]) {
    for (let i = 0; i < 3; i++) ids.push(String((await send(url)).headers['x-request-id']));
  }
  for (const id of ids) assert.match(id, GENERATED_ID);
  assert.equal(new Set(ids).size, ids.length);
  // No shared prefix or visible counter: an id says nothing of how many requests came between two of them.
  assert.notEqual(ids[0]!.slice(0, 8), ids[1]!.slice(0, 8));
  // each id accepted back as a client's id (the format a client may send)
  const back = await send(a.url, { headers: { 'x-request-id': ids[0]! } });
  assert.equal(back.headers['x-request-id'], ids[0]);
});

test('X-Request-Id: ids stay 32 hex digits and unique across refills of the random pool', () => {
  const next = requestIds(64); // four ids a pool
  const ids = Array.from({ length: 40 }, next);
  for (const id of ids) assert.match(id, GENERATED_ID);
  assert.equal(new Set(ids).size, ids.length);
});

test('hidden field names: found by length then by name, as a Set would (same-length names, repeats, empty, long)', () => {
  const names = ['server', 'x-powered-by', 'x-request-id', 'te', 'connection', 'keep-alive', 'server', 'x'.repeat(300)];
  const set = new Set(names);
  const hidden = new FieldNames(names);
  for (const probe of [...names, 'Server', 'servers', 'serve', 'x-powered-bz', 'ke', '', 'keep-alivf', 'x'.repeat(299), 'x'.repeat(300), 'date']) {
    assert.equal(hidden.has(probe), set.has(probe), probe);
  }
});

test('backends are hidden: Server, X-Powered-By and configured headers dropped, Location rewritten', async (t) => {
  let self = '';
  const o = await startOrigin(t, (req, res) => {
    res.setHeader('server', 'Apache/2.4.1 (Unix)');
    res.setHeader('x-powered-by', 'PHP/5.6');
    res.setHeader('x-backend-id', 'node-7');
    if (req.url === '/moved') res.writeHead(302, { location: `${self}/login?next=%2F`, 'content-location': `${self}/doc` });
    res.end('ok');
  });
  self = o.url;
  const { url } = await startProxy(t, { ...proxyTo([o.url]), hide_headers: ['X-Backend-Id'] });
  const r = await send(url);
  assert.equal(r.headers.server, undefined);
  assert.equal(r.headers['x-powered-by'], undefined);
  assert.equal(r.headers['x-backend-id'], undefined);
  const m = await send(`${url}/moved`, { headers: { host: 'www.shop.test' } });
  assert.equal(m.status, 302);
  assert.equal(m.headers.location, 'http://www.shop.test/login?next=%2F');
  assert.equal(m.headers['content-location'], 'http://www.shop.test/doc');
  assert.ok(!m.rawHeaders.join('\n').includes(String(o.port)));
});

test('backends are hidden whatever the case of the names they send (SERVER, X-Powered-BY, configured ones), on either engine', async (t) => {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nSERVER: Apache/2.4.1\r\nX-Powered-BY: PHP/5.6\r\nX-BACKEND-id: node-7\r\nX-Kept: Yes\r\nContent-Length: 2\r\n\r\nok'));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { url } = await startProxy(t, { ...proxyTo([origin]), hide_headers: ['x-backend-ID'] });
  const r = await send(url);
  assert.equal(r.text, 'ok');
  const names = r.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());
  for (const hidden of ['server', 'x-powered-by', 'x-backend-id']) assert.ok(!names.includes(hidden), `${hidden} reached the client: ${names.join(', ')}`);
  assert.equal(r.headers['x-kept'], 'Yes');
});

test('a backend URL in Location gets the route\'s prefix back (strip_prefix, replace_prefix), as nginx\'s proxy_redirect default', async (t) => {
  let self = '';
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(302, { location: `${self}${req.url === '/v2/moved' ? '/v2/there' : '/there'}?q=1#top`, 'content-location': '/relative/stays' });
    res.end();
  });
  self = o.url;
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [o.url] } },
    routes: [
      { match: { path: '/api/' }, rewrite: { strip_prefix: '/api' }, proxy: { upstream: 'app' } },
      { match: { path: '/old/' }, rewrite: { replace_prefix: { from: '/old/', to: '/v2/' } }, proxy: { upstream: 'app' } },
    ],
  });
  const a = await send(`${url}/api/moved`, { headers: { host: 'shop.test' } });
  assert.equal(a.headers.location, 'http://shop.test/api/there?q=1#top');
  assert.equal(a.headers['content-location'], '/relative/stays', 'a relative URL is left as the backend sent it');
  const b = await send(`${url}/old/moved`, { headers: { host: 'shop.test' } });
  assert.equal(b.headers.location, 'http://shop.test/old/there?q=1#top');
});

test('Max-Forwards (RFC 9110 7.6.2): OPTIONS and TRACE at 0 are answered by the proxy; above 0 forwarded, decremented', async (t) => {
  const seen: (string | undefined)[] = [];
  const o = await startOrigin(t, (req, res) => { seen.push(`${req.method} ${String(req.headers['max-forwards'])}`); res.end('origin'); });
  const { url } = await startProxy(t, proxyTo([o.url]));
  const opt0 = await send(url, { method: 'OPTIONS', headers: { 'max-forwards': '0' } });
  assert.equal(opt0.status, 200);
  assert.match(String(opt0.headers.allow), /GET/);
  const trace0 = await send(url, { method: 'TRACE', headers: { 'max-forwards': '0' } });
  assert.equal(trace0.status, 405);
  assert.equal(seen.length, 0, 'neither reached the backend');
  assert.equal((await send(url, { method: 'OPTIONS', headers: { 'max-forwards': '3' } })).text, 'origin');
  await send(url, { method: 'GET', headers: { 'max-forwards': '0' } });
  assert.deepEqual(seen, ['OPTIONS 2', 'GET 0'], 'decremented for OPTIONS; other methods pass it on as sent');
});

test('backend failures are the proxy own 502/504 pages, with no backend detail', async (t) => {
  const dead = await freePort();
  const { url } = await startProxy(t, proxyTo([`http://127.0.0.1:${dead}`], { retries: 0 }));
  const r = await send(url);
  assert.equal(r.status, 502);
  assert.equal(r.headers['content-type'], 'application/json');
  const body = JSON.parse(r.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'requestId', 'status']);
  assert.equal(body.code, 'GH_UPSTREAM_CONNECT');
  assert.ok(!r.text.includes(String(dead)) && !r.text.includes('ECONNREFUSED') && !r.text.includes('127.0.0.1'));

  const broken = await startOrigin(t, (req) => req.socket.destroy());
  const p2 = await startProxy(t, proxyTo([broken.url], { retries: 0 }));
  const r2 = await send(p2.url);
  assert.equal(r2.status, 502);
  assert.equal((JSON.parse(r2.text) as { code: string }).code, 'GH_UPSTREAM_RESET');
});

test('timeouts: response headers → 504; idle body cuts the response; connect failures retry on another server', async (t) => {
  const slow = await startOrigin(t, (_req, res) => { setTimeout(() => res.end('late'), 1500).unref(); });
  const { url } = await startProxy(t, proxyTo([slow.url], { timeouts: { response_headers: '200ms' } }));
  const started = Date.now();
  const r = await send(url);
  assert.equal(r.status, 504);
  assert.equal((JSON.parse(r.text) as { code: string }).code, 'GH_UPSTREAM_HEADERS_TIMEOUT');
  assert.ok(Date.now() - started < 1200);

  const stall = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'content-length': '10' }); res.write('12345'); });
  const p2 = await startProxy(t, proxyTo([stall.url], { timeouts: { idle: '200ms' } }));
  await assert.rejects(send(p2.url), /aborted|socket hang up|ECONNRESET/);

  const dead = await freePort();
  const live = await startOrigin(t, (_req, res) => res.end('live'));
  const p3 = await startProxy(t, proxyTo([`http://127.0.0.1:${dead}`, live.url]));
  for (let i = 0; i < 4; i++) assert.equal((await send(p3.url)).text, 'live');
});

test('103 Early Hints are relayed; 100-continue is answered; trailers are relayed', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      setTimeout(() => res.end('page'), 20);
      return;
    }
    if (req.url === '/trailers') {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('data');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
      return;
    }
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => res.end(`got ${n}`));
  });
  const { url, port } = await startProxy(t, proxyTo([o.url]));
  const hints = await send(`${url}/hints`);
  assert.equal(hints.text, 'page');
  assert.equal(hints.informational[0]?.status, 103);
  assert.equal(hints.informational[0]?.headers.link, '</style.css>; rel=preload; as=style');

  const tr = await send(`${url}/trailers`);
  assert.equal(tr.text, 'data');
  assert.equal(tr.trailers['x-checksum'], 'abc123');

  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (c) => {
      out += c.toString();
      if (out.includes('100 Continue') && !out.includes('got')) s.write('hello');
      if (out.includes('got 5')) s.end();
    });
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.write('POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  });
  assert.match(raw, /^HTTP\/1\.1 100 Continue\r\n/);
  assert.match(raw, /HTTP\/1\.1 200 OK[\s\S]*got 5/);
});

test('a client that goes away aborts its upstream request: no upstream socket is left streaming', async (t) => {
  let active = 0;
  const o = await startOrigin(t, (_req, res) => {
    active++;
    res.writeHead(200);
    const timer = setInterval(() => res.write('x'.repeat(1024)), 5);
    res.on('close', () => { active--; clearInterval(timer); });
  });
  const { port } = await startProxy(t, proxyTo([o.url]));
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.once('data', () => { s.destroy(); resolve(); });
    });
  }
  await waitFor(() => active === 0, 3000, 'upstream responses to be aborted');
  // What may stay open is at most an idle pooled connection or two, never one per aborted request.
  assert.ok(o.openSockets() <= 2, `open upstream sockets: ${o.openSockets()}`);
});

test('RFC 9112 3.2.2: an absolute-form target is accepted when it agrees with Host, else 400 and close', async (t) => {
  const o = await startOrigin(t, (req, res) => res.end(`${req.url} ${req.headers.host}`));
  const { port } = await startProxy(t, proxyTo([o.url]));
  const ok = await rawRequest(port, 'GET http://shop.test/a?b=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200/);
  assert.match(ok, /\/a\?b=1 shop\.test$/);
  const bad = await rawRequest(port, 'GET http://internal.test/admin HTTP/1.1\r\nHost: shop.test\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400/);
  assert.match(bad, /connection: close/i);
  assert.match(bad, /GH_BAD_REQUEST/);
  assert.equal(o.requests.length, 1, 'the bad request never reached the backend');
});

test('connect timeout: 504 when the only server does not accept; retried on another server when there is one', async (t) => {
  // A listener whose accept queue is full: further SYNs go unanswered, so connecting times out.
  const { spawn } = await import('node:child_process');
  const py = spawn('python3', ['-c', [
    'import socket,sys,time',
    's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)',
    'print(s.getsockname()[1]); sys.stdout.flush()',
    'fill=[socket.create_connection(s.getsockname()) for _ in range(1)]',
    'extra=[]',
    'for _ in range(3):',
    '  try:',
    '    c=socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); extra.append(c)',
    '  except Exception: pass',
    'print("ready"); sys.stdout.flush(); time.sleep(30)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => py.kill('SIGKILL'));
  const out: string[] = [];
  py.stdout.on('data', (c: Buffer) => out.push(...c.toString().trim().split('\n')));
  await waitFor(() => out.includes('ready'), 5000, 'the blackhole listener');
  const blackhole = `http://127.0.0.1:${out[0]}`;

  const { url } = await startProxy(t, proxyTo([blackhole], { timeouts: { connect: '300ms' } }));
  const started = Date.now();
  const r = await send(url);
  assert.equal(r.status, 504);
  assert.equal((JSON.parse(r.text) as { code: string }).code, 'GH_UPSTREAM_CONNECT_TIMEOUT');
  assert.ok(Date.now() - started < 3000);

  const live = await startOrigin(t, (_q, s) => s.end('live'));
  const p2 = await startProxy(t, proxyTo([blackhole, live.url], { timeouts: { connect: '300ms' } }));
  assert.equal((await send(p2.url)).text, 'live');
  assert.equal((await send(p2.url)).text, 'live');
});

test('every server refusing: the last failure (502), not a 503', async (t) => {
  const [d1, d2] = [await freePort(), await freePort()];
  const { url } = await startProxy(t, proxyTo([`http://127.0.0.1:${d1}`, `http://127.0.0.1:${d2}`]));
  const r = await send(url);
  assert.equal(r.status, 502);
  assert.equal((JSON.parse(r.text) as { code: string }).code, 'GH_UPSTREAM_CONNECT');
});

test('RFC 9113 3.3: h2: true on an http:// upstream speaks h2c with prior knowledge (a gRPC-style backend), trailers and health probes included', async (t) => {
  const { connect: h2connect, createServer: h2server } = await import('node:http2');
  const seen: string[] = [];
  // Like a gRPC server: HTTP/2 only, no HTTP/1.1 fallback, the status in a trailer.
  const origin = h2server((req, res) => {
    seen.push(`${req.httpVersion} ${req.method} ${req.url}`);
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
      res.end(`echo:${body}`);
    });
  });
  const sessions = new Set<import('node:http2').Http2Session>();
  origin.on('session', (s) => sessions.add(s));
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sessions) s.destroy();
    origin.close();
  });
  const port = (origin.address() as { port: number }).port;
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'grpc', address: '127.0.0.1:0', h2c: true }, { name: 'web', address: '127.0.0.1:0' }],
    upstreams: { grpc: { h2: true, servers: [`http://127.0.0.1:${port}`], health: { active: { path: '/healthz', interval: '100ms', timeout: '1s', fall: 1 } } } },
    routes: [{ match: {}, proxy: { upstream: 'grpc' } }],
  });
  const session = h2connect(gh.url('grpc'));
  t.after(() => session.close());
  const res = await new Promise<{ status: number; type: unknown; text: string; trailers: Record<string, unknown> }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
    let status = 0;
    let type: unknown;
    let text = '';
    let trailers: Record<string, unknown> = {};
    stream.on('response', (h) => { status = Number(h[':status']); type = h['content-type']; });
    stream.on('trailers', (h) => { trailers = h; });
    stream.on('data', (c: Buffer) => { text += c.toString(); });
    stream.on('end', () => resolve({ status, type, text, trailers }));
    stream.on('error', reject);
    stream.end('ping');
  });
  assert.equal(res.status, 200);
  assert.equal(res.type, 'application/grpc');
  assert.equal(res.text, 'echo:ping');
  assert.equal(res.trailers['grpc-status'], '0');
  assert.equal(res.trailers['grpc-message'], 'ok');
  // An HTTP/1.1 client on another listener reaches the same h2c backend.
  const h1 = await send(`${gh.url('web')}/plain`);
  assert.equal(h1.status, 200);
  assert.equal(h1.text, 'echo:');
  await waitFor(() => seen.filter((s) => s.endsWith('/healthz')).length >= 3, 5000, 'health probes');
  assert.ok(seen.every((s) => s.startsWith('2.0 ')), seen.join('\n'));
  assert.equal(gh.upstreams()[0]!.servers[0]!.up, true);
  assert.deepEqual(seen.filter((s) => !s.endsWith('/healthz')), ['2.0 POST /pkg.Svc/Call', '2.0 GET /plain']);
});
