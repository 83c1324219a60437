import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as h2connect, constants, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { h2Request, send } from './helpers/client.js';
import { FRAME, rawH2 } from './helpers/h2-frames.js';
import { startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { startProxy, type ProxyConfig } from './helpers/proxy.js';
import { tempDir } from './helpers/tmp.js';

interface LogLine { path: string; status: number; error?: string }

/** A proxy with an h2c and an HTTP/1.1 listener in front of `origin`, logging to a file in a temporary directory. */
async function proxyTo(t: TestContext, origin: Origin, extra: Partial<ProxyConfig> = {}) {
  const dir = tempDir('h2');
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }, { name: 'h1', address: '127.0.0.1:0' }],
    access_log: { path: join(dir, 'access.log') },
    // failures: 1 ejects a server at its first failure, so any abort counted against it would show.
    upstreams: { app: { servers: [origin.url], health: { passive: { failures: 1, max_ejected_percent: 100 } } } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
    ...extra,
  });
  const session = (): ClientHttp2Session => {
    const s = h2connect(gh.url('h2'));
    s.on('error', () => {});
    t.after(() => s.destroy());
    return s;
  };
  const log = async (): Promise<LogLine[]> => {
    await gh.stop();
    return readFileSync(join(dir, 'access.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine);
  };
  const server = () => gh.upstreams()[0]!.servers[0]!;
  return { gh, session, log, server, port: (name: string) => Number(new URL(gh.url(name)).port) };
}

/** Rejects when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

test('HTTP/2: uploads reset mid-body (RST_STREAM CANCEL) are 499 client aborts, never failures of the server', async (t) => {
  const seen: string[] = [];
  const origin = await startOrigin(t, (req, res) => {
    if (req.method === 'GET') return void res.end('fine');
    // A slow reader: the upload is still going when the client gives up.
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; req.pause(); setTimeout(() => req.resume(), 20); });
    req.on('end', () => { seen.push(`complete ${n}`); res.end('stored'); });
    req.on('error', () => seen.push('aborted'));
  });
  const p = await proxyTo(t, origin, {
    upstreams: { app: { servers: [origin.url], health: { passive: { failures: 3, max_ejected_percent: 100 } } } },
  });
  const client = await rawH2(p.port('h2'));
  t.after(() => client.socket.destroy());
  for (let i = 0; i < 5; i++) {
    const id = 1 + 2 * i;
    // With a declared length and without (DATA frames only): both stream to the backend.
    client.headers(id, { ':method': 'POST', ':path': `/upload/${i}`, ...(i % 2 ? { 'content-length': '1000000' } : {}) }, false);
    client.data(id, 'x'.repeat(16_000));
    await waitFor(() => origin.requests.length === i + 1, 3000, 'the upload to reach the backend');
    client.reset(id, constants.NGHTTP2_CANCEL);
    await waitFor(() => seen.length === i + 1, 3000, 'the backend to see the upload end');
    assert.equal(p.server().up, true, `the server is still up after ${i + 1} cancelled uploads`);
  }
  assert.deepEqual(seen, Array(5).fill('aborted'), 'each upload was cut off at the backend, never passed as complete');
  const server = p.server();
  assert.equal(server.up, true);
  assert.deepEqual([server.health.consecutiveFailures, server.health.ejections], [0, 0], 'no failure counted');
  assert.equal((await h2Request(p.session(), { ':path': '/' })).text, 'fine');
  const uploads = (await p.log()).filter((l) => l.path.startsWith('/upload/'));
  assert.deepEqual(uploads.map((l) => [l.status, l.error]), Array(5).fill([499, 'GH_CLIENT_ABORTED']));
});

test('HTTP/2 and HTTP/1.1: a client that leaves while waiting for the response head or during its body is a client abort; the upstream request is aborted', async (t) => {
  const held: ServerResponse[] = [];
  const closed = new Set<string>();
  const origin = await startOrigin(t, (req: IncomingMessage, res) => {
    res.on('close', () => { if (!res.writableFinished) closed.add(req.url!); });
    if (req.url === '/') return void res.end('fine');
    held.push(res);
    // /head/*: never answers; /body/*: the head and a first part of the body, then nothing more.
    if (req.url!.startsWith('/body/')) { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('first part'); }
  });
  t.after(() => { for (const r of held) r.destroy(); });
  const p = await proxyTo(t, origin);
  const session = p.session();
  const h2Leave = async (path: string): Promise<void> => {
    const stream = session.request({ ':path': path });
    stream.on('error', () => {});
    if (path.startsWith('/body/')) await new Promise((r) => stream.once('data', r));
    else await waitFor(() => origin.requests.some((q) => q.url === path), 3000, `${path} to reach the backend`);
    stream.close(constants.NGHTTP2_CANCEL);
  };
  const h1Leave = async (path: string): Promise<void> => {
    const req = httpRequest(`${p.gh.url('h1')}${path}`, { agent: false });
    req.on('error', () => {});
    req.end();
    if (path.startsWith('/body/')) await new Promise<void>((r) => req.once('response', (res) => res.once('data', () => r())));
    else await waitFor(() => origin.requests.some((q) => q.url === path), 3000, `${path} to reach the backend`);
    req.destroy();
  };
  const paths = ['/head/h2', '/body/h2', '/head/h1', '/body/h1'];
  for (const path of paths) {
    await (path.endsWith('h2') ? h2Leave(path) : h1Leave(path));
    await waitFor(() => closed.has(path), 3000, `the upstream request for ${path} to be aborted`);
  }
  const server = p.server();
  assert.equal(server.up, true);
  assert.deepEqual([server.health.consecutiveFailures, server.health.ejections], [0, 0], 'no failure counted');
  assert.equal((await h2Request(session, { ':path': '/' })).text, 'fine');
  assert.equal((await send(`${p.gh.url('h1')}/`)).text, 'fine');
  const lines = await p.log();
  assert.deepEqual(lines.filter((l) => l.path === '/').map((l) => [l.status, l.error]), [[200, undefined], [200, undefined]], 'whole responses are no aborts');
  // As nginx: 499 before the response head went out; after it, the status the client was sent.
  assert.deepEqual(paths.map((path) => { const l = lines.find((x) => x.path === path)!; return [path, l.status, l.error]; }), [
    ['/head/h2', 499, 'GH_CLIENT_ABORTED'], ['/body/h2', 200, 'GH_CLIENT_ABORTED'],
    ['/head/h1', 499, 'GH_CLIENT_ABORTED'], ['/body/h1', 200, 'GH_CLIENT_ABORTED'],
  ]);
});

test('HTTP/2: a connection nghttp2 ends with GOAWAY (protocol error) while a stream is open is closed, its upstream request aborted; connections_per_client never fills', async (t) => {
  const held: ServerResponse[] = [];
  const origin = await startOrigin(t, (req, res) => { if (req.url === '/') res.end('fine'); else held.push(res); });
  t.after(() => { for (const r of held) r.destroy(); });
  const p = await proxyTo(t, origin, { limits: { connections_per_client: 2, keepalive_timeout: '300ms' } });
  for (let i = 0; i < 4; i++) {
    const client = await rawH2(p.port('h2'));
    t.after(() => client.socket.destroy());
    client.headers(1, { ':method': 'GET', ':path': `/slow/${i}` }, true);
    await waitFor(() => origin.requests.length === i + 1, 3000, 'the request to reach the backend');
    // DATA on stream 0 is a connection error (RFC 9113 6.1): the server sends GOAWAY, then the client hangs up.
    client.frame(FRAME.DATA, 0, 0, Buffer.from('x'));
    await waitFor(() => client.received.includes(FRAME.GOAWAY), 3000, 'GOAWAY');
    client.socket.end();
    await within(client.closed, 3000, `connection ${i} to be closed by the server`);
  }
  await waitFor(() => origin.requests.every((r) => r.socket.destroyed), 3000, 'the upstream requests to be aborted');
  assert.equal((await h2Request(p.session(), { ':path': '/' })).text, 'fine', 'a fifth connection is served (cap 2)');
  const slow = (await p.log()).filter((l) => l.path.startsWith('/slow/'));
  assert.deepEqual(slow.map((l) => [l.status, l.error]), Array(4).fill([499, 'GH_CLIENT_ABORTED']));
});

test('HTTP/2: a client that hangs up after the drain\'s GOAWAY does not hold stop() until the shutdown timeout', async (t) => {
  const held: ServerResponse[] = [];
  const origin = await startOrigin(t, (_req, res) => { held.push(res); });
  t.after(() => { for (const r of held) r.destroy(); });
  const p = await proxyTo(t, origin);
  const session = p.session();
  const stream = session.request({ ':path': '/slow' });
  stream.on('error', () => {});
  await waitFor(() => origin.requests.length === 1, 3000, 'the request to reach the backend');
  const started = Date.now();
  const stopping = p.gh.stop({ timeoutMs: 20_000 });
  await within(new Promise((r) => session.once('goaway', r)), 3000, 'the drain\'s GOAWAY');
  session.destroy();
  await within(stopping, 3000, 'stop()');
  assert.ok(Date.now() - started < 3000);
  assert.equal(origin.requests[0]!.socket.destroyed, true, 'the upstream request was aborted');
});

test('HTTP/2: a request reset while queued for a concurrency slot gives the slot back', async (t) => {
  const held: ServerResponse[] = [];
  const origin = await startOrigin(t, (_req, res) => { held.push(res); });
  t.after(() => { for (const r of held) r.destroy(); });
  const p = await proxyTo(t, origin, { routes: [{ match: {}, concurrency: { max: 1, queue: 1, queue_timeout: '5s' }, proxy: { upstream: 'app' } }] });
  const session = p.session();
  const first = h2Request(session, { ':path': '/first' });
  await waitFor(() => held.length === 1, 3000, 'the first request to take the slot');
  const queued = session.request({ ':path': '/queued' });
  queued.on('error', () => {});
  await new Promise((r) => setTimeout(r, 100));
  queued.close(constants.NGHTTP2_CANCEL);
  await new Promise((r) => queued.once('close', r));
  held[0]!.end('one');
  assert.equal((await first).text, 'one');
  const third = h2Request(session, { ':path': '/third' });
  await waitFor(() => held.length === 2, 3000, 'the third request to get the slot');
  assert.equal(origin.requests.map((r) => r.url).join(' '), '/first /third', 'the reset request never reached the backend');
  held[1]!.end('three');
  assert.equal((await third).status, 200);
});
