import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { hashPassword } from '../src/protect/index.js';
import { memoryStore } from '../src/protect/stores/memory.js';
import { rawRequest, send } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import type { ProxyConfig } from './helpers/proxy.js';

async function guarded(t: Parameters<typeof startOrigin>[0], extra: Partial<ProxyConfig> & { routes?: ProxyConfig['routes'] } = {}) {
  const origin = await startOrigin(t, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => res.end(`ok ${n}`));
  });
  const proxy = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
    ...extra,
  });
  return { origin, ...proxy };
}

const SMUGGLING: Record<string, string> = {
  'RFC 9112 6.3: Content-Length with Transfer-Encoding': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'RFC 9112 6.3: differing Content-Length values': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
  'RFC 9112 6.1: Transfer-Encoding other than chunked': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabcd',
  'RFC 9112 6.1: chunked not alone': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
  'RFC 9112 6.1: Transfer-Encoding in HTTP/1.0': 'POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'RFC 9110 5.1: invalid character in a field name': 'GET / HTTP/1.1\r\nHost: a\r\nX-Fo{o: 1\r\n\r\n',
  'RFC 9110 5.5: control character in a field value': 'GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\u0001b\r\n\r\n',
  'RFC 9112 5.2: obs-fold': 'GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n b\r\n\r\n',
  'RFC 9112 2.2: bare LF line ends': 'GET / HTTP/1.1\nHost: a\n\n',
  'RFC 9112 2.2: bare CR': 'GET / HTTP/1.1\rHost: a\r\n\r\n',
  'RFC 9112 7.1: bad chunk size': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  'RFC 9112 5.1: whitespace before the colon': 'GET / HTTP/1.1\r\nHost: a\r\nX-Foo : 1\r\n\r\n',
  'RFC 9112 3.2.2: absolute-form authority differs from Host': 'GET http://internal/ HTTP/1.1\r\nHost: a\r\n\r\n',
  'RFC 9112 3.2: no Host': 'GET / HTTP/1.1\r\n\r\n',
  'RFC 9112 3.2: several Host headers': 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  'RFC 9110 7.2: Host with a space': 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
  'RFC 9110 7.2: Host with a path': 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n',
  'RFC 9110 7.2: Host with userinfo': 'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n',
  'RFC 9112 2.3: HTTP/2.0 in an HTTP/1 request line': 'GET / HTTP/2.0\r\nHost: a\r\n\r\n',
};

test('strict parsing: every smuggling pattern gets 400 and closes, and the backend sees nothing', async (t) => {
  const { origin, port } = await guarded(t);
  for (const [name, data] of Object.entries(SMUGGLING)) {
    const out = await rawRequest(port, data, 1500);
    assert.match(out, /^HTTP\/1\.1 400 /, name);
    assert.match(out, /connection: close/i, `${name}: closes the connection`);
  }
  assert.equal(origin.requests.length, 0, 'nothing reached the backend');
});

test('CONNECT gets 405 with Allow and the JSON error body, and never reaches a backend', async (t) => {
  const { origin, port } = await guarded(t);
  const out = await rawRequest(port, 'CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n', 1500);
  assert.match(out, /^HTTP\/1\.1 405 /);
  assert.match(out, /\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
  assert.match(out, /"code":"GH_METHOD_NOT_ALLOWED"/);
  assert.equal(origin.requests.length, 0);
});

test('Upgrade: h2c is never passed to a backend; what is forwarded is re-framed', async (t) => {
  const seen: Record<string, unknown>[] = [];
  const origin = await startOrigin(t, (req, res) => { seen.push(req.headers); res.end('ok'); });
  const { port } = await startProxy(t, { upstreams: { app: { servers: [origin.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  const out = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200/);
  assert.equal(seen[0]!.upgrade, undefined);
  assert.equal(seen[0]!['http2-settings'], undefined);
});

test('limits: URL 414, header count 431, header size 431, body 413 before and while streaming', async (t) => {
  const { origin, port, url } = await guarded(t, { limits: { body_size: '1KiB', url_size: '100', header_count: 20, header_size: '4KiB' } });
  const long = await send(`${url}/${'a'.repeat(200)}`);
  assert.equal(long.status, 414);
  const many = await send(url, { headers: Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`x-h${i}`, '1'])) });
  assert.equal(many.status, 431);
  const big = await rawRequest(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(5000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431/);
  const declared = await send(url, { method: 'POST', body: 'x'.repeat(2000) });
  assert.equal(declared.status, 413);
  assert.equal(origin.requests.length, 0);
  // A chunked body is counted as it streams: the backend never receives more than the limit.
  const chunked = await rawRequest(port, `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${'c'.repeat(1024)}\r\n400\r\n${'c'.repeat(1024)}\r\n0\r\n\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413/);
  const fine = await send(url, { method: 'POST', body: 'x'.repeat(1000) });
  assert.equal(fine.text, 'ok 1000');
});

test('limits: a route can raise the body limit', async (t) => {
  const { url } = await guarded(t, {
    limits: { body_size: '1KiB' },
    routes: [
      { match: { path: '/upload/' }, limits: { body_size: '1MiB' }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
  assert.equal((await send(`${url}/upload/x`, { method: 'POST', body: 'x'.repeat(100_000) })).text, 'ok 100000');
  assert.equal((await send(`${url}/x`, { method: 'POST', body: 'x'.repeat(100_000) })).status, 413);
});

test('limits: a request body that stalls gets 408 and the backend request is aborted', async (t) => {
  const { origin, port } = await guarded(t, { limits: { body_timeout: '300ms', request_buffer: '1KiB' } });
  const out = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(5000)}`));
    let data = '';
    s.on('data', (c) => { data += c.toString(); });
    s.on('close', () => resolve(data));
    setTimeout(() => s.destroy(), 3000);
  });
  assert.match(out, /^HTTP\/1\.1 408/);
  await waitFor(() => origin.openSockets() === 0 || origin.requests.every((r) => r.destroyed), 2000);
});

test('limits: a body the proxy never reads (the request was answered without it) that then stalls is dropped, not an uncaught error', async (t) => {
  const { url, port } = await startProxy(t, {
    limits: { body_timeout: '200ms' },
    routes: [{ match: {}, respond: { status: 200, body: 'answered' } }],
  });
  const s = connect(port, '127.0.0.1', () => s.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(100_000)}`));
  t.after(() => s.destroy());
  s.on('error', () => {});
  let got = '';
  s.on('data', (c: Buffer) => { got += c.toString(); });
  await waitFor(() => got.includes('answered'), 2000, 'the answer');
  // The body stays unread and stalls past body_timeout (a fixed wait: it is the timer that must fire).
  await new Promise((r) => setTimeout(r, 600));
  assert.equal((await send(url)).text, 'answered');
});

test('access: allow and deny lists, global and per route, IPv4 and IPv6; 403', async (t) => {
  const { origin, url } = await guarded(t, {
    routes: [
      { match: { path: '/internal/' }, access: { allow: ['10.0.0.0/8', 'fd00::/8'] }, proxy: { upstream: 'app' } },
      { match: { path: '/local/' }, access: { allow: ['127.0.0.0/8', '::1'] }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, access: { deny: ['127.0.0.2'] }, proxy: { upstream: 'app' } },
    ],
  });
  const denied = await send(`${url}/internal/x`);
  assert.equal(denied.status, 403);
  assert.equal((JSON.parse(denied.text) as { code: string }).code, 'GH_ACCESS_DENIED');
  assert.equal(origin.requests.length, 0);
  assert.equal((await send(`${url}/local/x`)).status, 200);
  assert.equal((await send(`${url}/x`)).status, 200);
  const v6 = await startProxy(t, { listeners: [{ name: 'v6', address: '[::1]:0' }], access: { deny: ['::1'] }, upstreams: { app: { servers: [origin.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  assert.equal((await send(v6.url)).status, 403);
  // The client address comes from X-Forwarded-For only when the peer is a trusted proxy.
  const trusted = await startProxy(t, { trusted_proxies: ['127.0.0.1'], upstreams: { app: { servers: [origin.url] } }, routes: [{ match: {}, access: { allow: ['10.0.0.0/8'] }, proxy: { upstream: 'app' } }] });
  assert.equal((await send(trusted.url, { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200);
  assert.equal((await send(trusted.url, { headers: { 'x-forwarded-for': '8.8.8.8' } })).status, 403);
});

test('auth: basic with scrypt hashes; 401 with WWW-Authenticate; credentials not forwarded', async (t) => {
  const hash = await hashPassword('s3cret', 10);
  const seen: Record<string, unknown>[] = [];
  const origin = await startOrigin(t, (req, res) => { seen.push(req.headers); res.end('private'); });
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/private/' }, auth: { basic: { users: { alice: hash } } }, proxy: { upstream: 'app' } }],
  });
  const none = await send(`${url}/private/x`);
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Basic realm="gatehouse", charset="UTF-8"');
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  assert.equal((await send(`${url}/private/x`, { headers: basic('alice', 'wrong') })).status, 401);
  assert.equal((await send(`${url}/private/x`, { headers: basic('mallory', 's3cret') })).status, 401);
  assert.equal(seen.length, 0);
  const ok = await send(`${url}/private/x`, { headers: basic('alice', 's3cret') });
  assert.equal(ok.status, 200);
  assert.equal(seen[0]!.authorization, undefined);
  assert.equal(seen[0]!['x-forwarded-user'], 'alice');
});

test('rate limit: one key over its limit gets 429 with Retry-After and RateLimit headers; another key is unaffected', async (t) => {
  const { url } = await guarded(t, {
    routes: [{ match: { path: '/limited/' }, rate_limit: { key: 'header:x-api-key', rate: '10/s', burst: 10 }, proxy: { upstream: 'app' } }],
  });
  const started = Date.now();
  const flood = await Promise.all(Array.from({ length: 30 }, () => send(`${url}/limited/x`, { headers: { 'x-api-key': 'flooder' } })));
  const elapsedS = (Date.now() - started) / 1000;
  const ok = flood.filter((r) => r.status === 200).length;
  assert.ok(ok >= 10 && ok <= 10 + Math.ceil(elapsedS * 10), `${ok} of 30 allowed in ${elapsedS} s`);
  const last = flood.find((r) => r.status === 429);
  assert.ok(last, 'some requests got 429');
  assert.equal(last!.headers['retry-after'], '1');
  assert.equal(last!.headers['ratelimit-policy'], '"default";q=10;w=1');
  assert.match(String(last!.headers.ratelimit), /^"default";r=0;t=\d+$/);
  const other = await send(`${url}/limited/x`, { headers: { 'x-api-key': 'polite' } });
  assert.equal(other.status, 200);
  assert.match(String(other.headers.ratelimit), /^"default";r=9;t=1$/);
});

test('rate limit: memory stays bounded under 100,000 distinct keys, and idle keys expire', async () => {
  const store = memoryStore({ maxKeys: 10_000 });
  try {
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++) store.take(`attacker-${i}`, 100, 10);
    assert.ok(store.size() <= 10_000, `${store.size()} keys held`);
    assert.ok(process.memoryUsage().heapUsed - before < 50 * 1024 * 1024);
    const quick = memoryStore({ maxKeys: 1000 });
    for (let i = 0; i < 500; i++) quick.take(`k${i}`, 10, 1);
    await waitFor(() => quick.size() === 0, 3000, 'idle keys to expire');
    quick.close();
  } finally {
    store.close();
  }
});

test('slowloris: 500 slow-header connections while another client keeps getting 200 within 1 s', { timeout: 30_000 }, async (t) => {
  const { url, port } = await guarded(t, { limits: { header_timeout: '2s' } });
  const slow = Array.from({ length: 500 }, () => {
    const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n'));
    s.on('error', () => {});
    return s;
  });
  t.after(() => { for (const s of slow) s.destroy(); });
  const trickle = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write('X-a: b\r\n'); }, 500);
  t.after(() => clearInterval(trickle));
  for (let i = 0; i < 10; i++) {
    const started = Date.now();
    const r = await send(url);
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started < 1000, `request ${i} took ${Date.now() - started} ms`);
    await new Promise((r2) => setTimeout(r2, 100));
  }
  await waitFor(() => slow.every((s) => s.destroyed || s.closed), 6000, 'the slow connections to be closed by header_timeout');
});

test('connection caps: past connections_per_client a client address gets its extra connections closed', async (t) => {
  const { url, port } = await guarded(t, { limits: { connections_per_client: 5 } });
  const held = await Promise.all(Array.from({ length: 5 }, () => new Promise<ReturnType<typeof connect>>((r) => { const s = connect(port, '127.0.0.1', () => r(s)); })));
  t.after(() => { for (const s of held) s.destroy(); });
  await assert.rejects(send(url), /socket hang up|ECONNRESET/);
  held[0]!.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await send(url)).status, 200);
});

/** Sends a head with Expect: 100-continue; sends the body only once told to, as curl and browsers do. */
function expectContinue(port: number, head: string, body: string): Promise<{ got100: boolean; response: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    let got100 = false;
    const timer = setTimeout(() => sock.destroy(), 3000);
    sock.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      if (!got100 && data.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        got100 = true;
        data = data.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
        sock.write(body);
      }
    });
    sock.on('close', () => { clearTimeout(timer); resolve({ got100, response: data }); });
    sock.on('error', reject);
    sock.write(head);
  });
}

test('Expect: 100-continue is answered only once the request passed its checks: a refused request never uploads its body', async (t) => {
  const { origin, port } = await guarded(t, {
    limits: { body_size: '1KiB' },
    routes: [
      { match: { path: '/private/' }, auth: { basic: { users: {} } }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
  const big = await expectContinue(port, 'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n', 'x'.repeat(5000));
  assert.equal(big.got100, false);
  assert.match(big.response, /^HTTP\/1\.1 413 /);
  const denied = await expectContinue(port, 'POST /private/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n', 'hello');
  assert.equal(denied.got100, false);
  assert.match(denied.response, /^HTTP\/1\.1 401 /);
  assert.equal(origin.requests.length, 0);
  const ok = await expectContinue(port, 'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n', 'hello');
  assert.equal(ok.got100, true);
  assert.match(ok.response, /^HTTP\/1\.1 200 [\s\S]*ok 5$/);
});
