/** WebSocket proxying: RFC 6455 through HTTP/1.1 Upgrade, RFC 8441 extended CONNECT over HTTP/2. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as h2connect } from 'node:http2';
import type { TestContext } from 'node:test';
import test from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { hashPassword } from '../src/protect/index.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startProxy, type ProxyConfig } from './helpers/proxy.js';
import { tempDir } from './helpers/tmp.js';

interface Backend { origin: Origin; wss: WebSocketServer; heads: Record<string, string | string[] | undefined>[] }

/** An echo WebSocket server on a plain HTTP origin (its plain requests answer 200 'plain'). */
async function echoBackend(t: TestContext): Promise<Backend> {
  const origin = await startOrigin(t, (_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: origin.server, handleProtocols: (p) => p.values().next().value ?? false });
  const heads: Backend['heads'] = [];
  wss.on('connection', (ws, req) => {
    heads.push(req.headers);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  t.after(() => { for (const c of wss.clients) c.terminate(); wss.close(); });
  return { origin, wss, heads };
}

async function proxyTo(t: TestContext, b: Backend, extra: Partial<ProxyConfig> = {}, proxy: Record<string, unknown> = {}) {
  return startProxy(t, {
    upstreams: { app: { servers: [b.origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app', ...proxy } }],
    ...extra,
  });
}

function open(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, opts);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The status the handshake was refused with (ws reports it in 'unexpected-response'). */
function refused(url: string, opts: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), opts);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('handshake unexpectedly accepted')));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

function closed(ws: WebSocket): Promise<{ code: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => ws.once('close', (code) => resolve({ code, ms: performance.now() - start })));
}

test('RFC 6455 4.1: echo through the proxy; Sec-WebSocket-Protocol negotiated, X-Forwarded-For and Via sent', async (t) => {
  const b = await echoBackend(t);
  const { url } = await proxyTo(t, b);
  const ws = await open(`${url}/chat?room=1`, {}, ['chat.v2']);
  assert.equal(ws.protocol, 'chat.v2');
  const got = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
  ws.send('hello');
  assert.equal(await got, 'hello');
  const h = b.heads[0]!;
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.match(String(h.via), /1\.1 gatehouse/);
  assert.equal(h['sec-websocket-protocol'], 'chat.v2');
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000);
});

test('RFC 6455 5.2: 10,000 messages each way and 1 MiB messages pass untouched', async (t) => {
  const b = await echoBackend(t);
  const { url } = await proxyTo(t, b);
  const ws = await open(url);
  const n = 10_000;
  let seen = 0;
  const all = new Promise<void>((resolve, reject) => ws.on('message', (d) => {
    if (d.toString() !== `m${seen}`) reject(new Error(`message ${seen} was ${d.toString()}`));
    if (++seen === n) resolve();
  }));
  for (let i = 0; i < n; i++) ws.send(`m${i}`);
  await all;
  ws.removeAllListeners('message');
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  for (let k = 0; k < 3; k++) {
    const echoed = new Promise<Buffer>((r) => ws.once('message', (d) => r(d as Buffer)));
    ws.send(big, { binary: true });
    assert.ok((await echoed).equals(big));
  }
  ws.close();
  await closed(ws);
});

test('backend killed mid-session: the client sees a close promptly', async (t) => {
  const b = await echoBackend(t);
  const { url } = await proxyTo(t, b);
  const ws = await open(url);
  const done = closed(ws);
  for (const c of b.wss.clients) c.terminate();
  const { code, ms } = await done;
  assert.ok(code === 1014 || code === 1006, `close code ${code}`);
  assert.ok(ms < 2000, `closed after ${ms} ms`);
});

test('1,000 concurrent WebSockets with bounded proxy memory', async (t) => {
  const b = await echoBackend(t);
  const { url } = await proxyTo(t, b);
  global.gc?.();
  const before = process.memoryUsage();
  const sockets: WebSocket[] = [];
  for (let batch = 0; batch < 10; batch++) sockets.push(...await Promise.all(Array.from({ length: 100 }, () => open(url))));
  const echoes = await Promise.all(sockets.map((ws, i) => new Promise<string>((r) => { ws.once('message', (d) => r(d.toString())); ws.send(`s${i}`); })));
  assert.deepEqual(echoes, sockets.map((_ws, i) => `s${i}`));
  const after = process.memoryUsage();
  // Client, backend and proxy share this process: the bound is loose (about 64 KiB per socket, all three ends).
  const grewMiB = (after.rss - before.rss) / 1024 ** 2;
  t.diagnostic(`rss +${grewMiB.toFixed(1)} MiB, heap +${((after.heapUsed - before.heapUsed) / 1024 ** 2).toFixed(1)} MiB for 1,000 sockets`);
  assert.ok(grewMiB < 200, `rss grew ${grewMiB} MiB`);
  await Promise.all(sockets.map((ws) => { const c = closed(ws); ws.close(); return c; }));
});

test('the handshake runs auth: 401 without credentials, and the backend never sees it', async (t) => {
  const b = await echoBackend(t);
  const hash = await hashPassword('s3cret', 10);
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [b.origin.url] } },
    routes: [{ match: { path: '/' }, auth: { basic: { users: { alice: hash } } }, proxy: { upstream: 'app' } }],
  });
  const r = await refused(url);
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.body).code, 'GH_UNAUTHORIZED');
  assert.equal(b.heads.length, 0);
  const ws = await open(url, { headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` } });
  ws.close();
  await closed(ws);
  assert.equal(b.heads.length, 1);
});

test('websocket: false and respond routes refuse the handshake with GH_WEBSOCKET_NOT_ALLOWED', async (t) => {
  const b = await echoBackend(t);
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [b.origin.url] } },
    routes: [
      { match: { path: '/off' }, proxy: { upstream: 'app', websocket: false } },
      { match: { path: '/static' }, respond: { status: 200, body: 'hi' } },
    ],
  });
  for (const path of ['/off', '/static']) {
    const r = await refused(url + path);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).code, 'GH_WEBSOCKET_NOT_ALLOWED');
  }
  assert.equal(b.heads.length, 0);
  // Plain requests on the route still work.
  assert.equal(await (await fetch(`${url}/off`)).text(), 'plain');
});

test('a backend that does not switch protocols: its answer is relayed as a normal response', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(403, { 'content-type': 'text/plain' }); res.end('no sockets here'); });
  const { url } = await startProxy(t, { upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }] });
  const r = await refused(url);
  assert.equal(r.status, 403);
  assert.equal(r.body, 'no sockets here');
});

test('RFC 9110 7.8: another Upgrade token is served as plain HTTP without Upgrade', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(`upgrade=${req.headers.upgrade ?? 'none'}`));
  const { url } = await startProxy(t, { upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }] });
  const { request } = await import('node:http');
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(url, { headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' } }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => { s += c.toString(); });
      res.on('end', () => resolve(`${res.statusCode} ${s}`));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(body, '200 upgrade=none');
});

test('idle_timeout closes an idle WebSocket with 1001 (Going Away)', async (t) => {
  const b = await echoBackend(t);
  const { url } = await proxyTo(t, b, {}, { websocket: { idle_timeout: '300ms' } });
  const ws = await open(url);
  const { code, ms } = await closed(ws);
  assert.equal(code, 1001);
  assert.ok(ms >= 250 && ms < 3000, `closed after ${ms} ms`);
});

test('max_lifetime closes a busy WebSocket', async (t) => {
  const b = await echoBackend(t);
  const { url } = await proxyTo(t, b, {}, { websocket: { idle_timeout: '10s', max_lifetime: '400ms' } });
  // Timed from before the handshake: the lifetime starts on the proxy during it, and a loaded machine may take
  // a while to hand the client its open socket.
  const start = performance.now();
  const ws = await open(url);
  const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 50);
  t.after(() => clearInterval(timer));
  const { code } = await closed(ws);
  const ms = performance.now() - start;
  assert.equal(code, 1001);
  assert.ok(ms >= 350, `closed after ${ms} ms`);
});

test('RFC 6455 7.4.1: gatehouse.stop() sends Close 1001 to client and backend', async (t) => {
  const b = await echoBackend(t);
  const backendClose = new Promise<number>((r) => b.wss.once('connection', (s) => s.once('close', (code) => r(code))));
  const { gh, url } = await proxyTo(t, b);
  const ws = await open(url);
  const echoed = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
  ws.send('before');
  assert.equal(await echoed, 'before');
  const done = closed(ws);
  await gh.stop({ timeoutMs: 1000 });
  assert.equal((await done).code, 1001);
  assert.equal(await backendClose, 1001);
});

test('the access log has one line per WebSocket when it closes: 101, duration, bytes both ways', async (t) => {
  const b = await echoBackend(t);
  const dir = tempDir('ws');
  const { gh, url } = await proxyTo(t, b, { access_log: { path: join(dir, 'access.log') } });
  const ws = await open(`${url}/logged`);
  const echoed = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
  ws.send('x'.repeat(1000));
  await echoed;
  ws.close();
  await closed(ws);
  await gh.stop();
  const lines = readFileSync(join(dir, 'access.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const line = lines.find((l) => l.path === '/logged')!;
  assert.equal(line.status, 101);
  assert.equal(line.upstream, 'app');
  assert.ok((line.bytes_in as number) > 1000 && (line.bytes_out as number) > 1000, JSON.stringify(line));
  assert.equal(typeof line.duration_ms, 'number');
});

/** A masked client frame (RFC 6455 5.3). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const key = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((c, i) => c ^ key[i & 3]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), key, masked]);
}

/** A proxy with an h2c listener in front of `b`, and an HTTP/2 client session to it. */
async function h2Proxy(t: TestContext, b: Backend) {
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [b.origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const session = h2connect(gh.url('h2'));
  session.on('error', () => {});
  t.after(() => session.destroy());
  return { gh, session };
}

test('RFC 8441 4: extended CONNECT (:protocol websocket) on an h2c listener reaches an HTTP/1.1 backend', async (t) => {
  const b = await echoBackend(t);
  const { session } = await h2Proxy(t, b);
  // RFC 8441 3: the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL.
  const settings = await new Promise<{ enableConnectProtocol?: boolean }>((r) => session.once('remoteSettings', r));
  assert.equal(settings.enableConnectProtocol, true);
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/chat', ':authority': 'chat.test', 'sec-websocket-version': '13' }, { endStream: false });
  const head = await new Promise<Record<string, unknown>>((r) => stream.once('response', r));
  assert.equal(head[':status'], 200);
  assert.equal(head['sec-websocket-accept'], undefined);
  const got = new Promise<Buffer>((r) => stream.once('data', r));
  stream.write(clientFrame(0x1, Buffer.from('hi h2')));
  const frame = await got;
  assert.equal(frame[0], 0x81);
  assert.equal(frame.subarray(2).toString(), 'hi h2');
  assert.equal(b.heads[0]!.host, 'chat.test');
  stream.close();
});

test('RFC 6455 5.2: the proxy\'s Close goes between frames, never inside one (16- and 64-bit lengths)', async () => {
  const { FrameScanner, closeFrame } = await import('../src/upstream/ws-frames.js');
  const out: Buffer[] = [];
  const s = new FrameScanner({ onBytes: () => {}, endFrame: closeFrame(1001, '', false) });
  s.on('data', (c: Buffer) => out.push(c));
  const f16 = Buffer.concat([Buffer.from([0x82, 126, 0x01, 0x00]), Buffer.alloc(256, 7)]);
  const f64head = Buffer.from([0x02, 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00]);
  s.write(f16.subarray(0, 3)); // inside the 16-bit length
  s.inject(closeFrame(1001, 'Going Away', false));
  s.write(Buffer.concat([f16.subarray(3), f64head, Buffer.alloc(256, 9)]));
  s.end();
  await new Promise((r) => s.once('end', r));
  const all = Buffer.concat(out);
  // The whole first frame, then the Close; the frame after it is dropped (nothing follows a Close).
  assert.ok(all.subarray(0, f16.length).equals(f16));
  assert.equal(all[f16.length], 0x88);
  assert.equal(all.readUInt16BE(f16.length + 2), 1001);
  assert.equal(all.length, f16.length + 2 + 2 + 'Going Away'.length);
});

test('wss:// on a TLS listener that offers HTTP/2 (HTTP/1.1 Upgrade beside h2), and extended CONNECT over TLS', async (t) => {
  const b = await echoBackend(t);
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'ws.test', ['ws.test']);
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    upstreams: { app: { servers: [b.origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const port = new URL(gh.url()).port;
  const ws = await open(`wss://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'ws.test', headers: { host: 'ws.test' } } as WebSocket.ClientOptions);
  const echoed = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
  ws.send('over tls');
  assert.equal(await echoed, 'over tls');
  assert.equal(b.heads[0]!['x-forwarded-proto'], 'https');
  ws.close();
  await closed(ws);
  const session = h2connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'ws.test' });
  session.on('error', () => {});
  t.after(() => session.destroy());
  await new Promise((r) => session.once('remoteSettings', r));
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/', ':authority': 'ws.test', 'sec-websocket-version': '13' }, { endStream: false });
  assert.equal((await new Promise<Record<string, unknown>>((r) => stream.once('response', r)))[':status'], 200);
  const got = new Promise<Buffer>((r) => stream.once('data', r));
  stream.write(clientFrame(0x1, Buffer.from('h2 tls')));
  assert.equal((await got).subarray(2).toString(), 'h2 tls');
  stream.close();
});

test('a reload closes the old config\'s WebSockets with 1001 halfway through shutdown.timeout', async (t) => {
  const b = await echoBackend(t);
  const config = {
    upstreams: { app: { servers: [b.origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
    shutdown: { timeout: '600ms' },
  };
  const { gh, url } = await startProxy(t, config);
  const ws = await open(url);
  const done = closed(ws);
  await gh.reload({ ...config, access_log: { enabled: false }, overload: false, listeners: [{ name: 'public', address: '127.0.0.1:0' }] });
  const { code, ms } = await done;
  assert.equal(code, 1001);
  assert.ok(ms >= 250, `closed after ${ms} ms`);
  // New WebSockets open on the new config.
  const again = await open(url);
  again.close();
  await closed(again);
});

test('RFC 8441 + RFC 6455 7.4.1: gatehouse.stop() sends Close 1001 on an HTTP/2 WebSocket too', async (t) => {
  const b = await echoBackend(t);
  const backendClose = new Promise<number>((r) => b.wss.once('connection', (s) => s.once('close', (code) => r(code))));
  const { gh, session } = await h2Proxy(t, b);
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/chat', ':authority': 'chat.test', 'sec-websocket-version': '13' }, { endStream: false });
  stream.on('error', () => {});
  assert.equal((await new Promise<Record<string, unknown>>((r) => stream.once('response', r)))[':status'], 200);
  // Everything the proxy sends from now on: an echo, then its Close frame (opcode 0x8, code 1001).
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  stream.write(clientFrame(0x1, Buffer.from('x')));
  for (let i = 0; i < 100 && Buffer.concat(chunks).length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  await gh.stop({ timeoutMs: 1000 });
  const all = Buffer.concat(chunks);
  const close = all.indexOf(0x88);
  assert.ok(close > 0, `no Close frame in ${all.toString('hex')}`);
  assert.equal(all.readUInt16BE(close + 2), 1001);
  assert.equal(await backendClose, 1001);
});
