/**
 * The shared cache under attack, over real sockets: poisoning for other users, leaking private data, bypassing
 * purge restrictions and desyncing the client connection. Each test shows a rule that must hold.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import pino from 'pino';
import { createCacheStore, createEngine } from '../src/cache/index.js';
import { definePlugin } from '../src/index.js';
import { rawRequest, send } from './helpers/client.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startProxy, type StartedProxy, type ProxyConfig } from './helpers/proxy.js';

type Respond = (req: IncomingMessage, res: ServerResponse, n: number) => void;

async function setup(t: TestContext, respond: Respond, cache: Record<string, unknown> = {}, extra: Partial<ProxyConfig> = {}): Promise<{ origin: Origin; gh: StartedProxy; hits: () => number }> {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => respond(req, res, ++n));
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache, proxy: { upstream: 'app' } }],
    ...extra,
  });
  return { origin, gh, hits: () => n };
}

test('RFC 9111 3.2 / 3.5: a Set-Cookie in a 304 is not merged into the shared object (no session leak)', async (t) => {
  const { gh } = await setup(t, (req, res, n) => {
    if (n === 1) {
      res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"v1"', 'content-type': 'text/plain' });
      return res.end('public');
    }
    // The origin refreshes the revalidating user's session along with the 304.
    if (req.headers['if-none-match'] === '"v1"') {
      const session = req.headers.cookie === undefined ? {} : { 'set-cookie': 'sid=victim-secret' };
      res.writeHead(304, { 'cache-control': 'max-age=60', etag: '"v1"', ...session });
      return res.end();
    }
    res.writeHead(500);
    res.end();
  });
  await send(`${gh.url}/a`);
  const victim = await send(`${gh.url}/a`, { headers: { cookie: 'sid=victim-secret' } });
  assert.equal(victim.status, 200);
  assert.deepEqual(victim.headers['set-cookie'], ['sid=victim-secret'], 'the revalidating user gets their own cookie');
  const attacker = await send(`${gh.url}/a`);
  assert.equal(attacker.status, 200);
  assert.equal(attacker.text, 'public');
  assert.equal(attacker.headers['set-cookie'], undefined, 'another user\'s Set-Cookie must not be replayed');
});

test('RFC 9111 5.2.2.7: a 304 that says private stops the object being shared', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    if (n === 1) {
      res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"v1"', 'content-type': 'text/plain' });
      return res.end('body');
    }
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { 'cache-control': 'private, max-age=60', etag: '"v1"' });
      return res.end();
    }
    res.writeHead(200, { 'cache-control': 'private, max-age=60', 'content-type': 'text/plain' });
    res.end('fresh');
  });
  await send(`${gh.url}/p`);
  await send(`${gh.url}/p`);
  const third = await send(`${gh.url}/p`);
  assert.notEqual(third.headers['x-cache'], 'HIT', 'a private response is never a shared hit');
  assert.equal(hits(), 3);
});

/** An origin that compresses as a Node origin with negotiator would: gzip for any Accept-Encoding that allows it. */
const compressingOrigin: Respond = (req, res) => {
  const ae = String(req.headers['accept-encoding'] ?? '');
  const gz = /(^|,)\s*(gzip|\*)\s*(;|,|$)/i.test(ae) && !/(gzip|\*)\s*;\s*q\s*=\s*0(\.0*)?\s*(,|$)/i.test(ae);
  const head = { 'cache-control': 'max-age=60', vary: 'Accept-Encoding', 'content-type': 'text/plain' };
  if (gz) {
    res.writeHead(200, { ...head, 'content-encoding': 'gzip' });
    return res.end(gzipSync('hello'));
  }
  res.writeHead(200, head);
  res.end('hello');
};

test('RFC 9111 4.1: Accept-Encoding "*" cannot poison the identity variant with a gzip body', async (t) => {
  const { gh } = await setup(t, compressingOrigin);
  const attacker = await send(`${gh.url}/ae`, { headers: { 'accept-encoding': '*' } });
  assert.equal(attacker.headers['content-encoding'], 'gzip');
  // wget and many download tools send exactly this.
  const victim = await send(`${gh.url}/ae`, { headers: { 'accept-encoding': 'identity' } });
  assert.equal(victim.headers['content-encoding'], undefined, 'a client that refused gzip must not get it');
  assert.equal(victim.text, 'hello');
});

test('RFC 9111 4.1: an Accept-Encoding with parameters cannot poison the identity variant', async (t) => {
  const { gh } = await setup(t, compressingOrigin);
  const attacker = await send(`${gh.url}/ae2`, { headers: { 'accept-encoding': 'gzip;q=1;x=y' } });
  assert.equal(attacker.headers['content-encoding'], 'gzip');
  const victim = await send(`${gh.url}/ae2`, { headers: { 'accept-encoding': 'identity' } });
  assert.equal(victim.headers['content-encoding'], undefined);
  assert.equal(victim.text, 'hello');
});

test('cache: a request filter that fails does not leave a collapsing fill behind (no 10s stall per key)', async (t) => {
  const boom = definePlugin({
    name: 'boom',
    routeSchema: z.literal(true),
    create() {
      return {
        forRoute: () => ({
          upstreamRequestFilter(ctx) { if (ctx.req.header('x-boom') !== undefined) throw new Error('filter failed'); },
        }),
      };
    },
  });
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end('ok');
  });
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, plugins: { boom: true }, cache: { collapse_timeout: '2s' }, proxy: { upstream: 'app' } }],
  }, { plugins: [boom] });
  const failed = await send(`${gh.url}/k`, { headers: { 'x-boom': '1' } });
  assert.equal(failed.status, 500);
  const t0 = Date.now();
  const next = await send(`${gh.url}/k`);
  assert.equal(next.status, 200);
  assert.ok(Date.now() - t0 < 1000, `the next request waited ${Date.now() - t0}ms on a fill that never ran`);
  const third = await send(`${gh.url}/k`);
  assert.equal(third.headers['x-cache'], 'HIT', 'the key still caches');
  assert.equal(gh.gh.cache?.stats().inflight_fills, 0);
});

test('cache: PURGE from an address not allowed is a 405, whatever X-Forwarded-For says (no trusted_proxies)', async (t) => {
  const { gh, hits } = await setup(t, (_req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`v${n}`);
  }, { purge: { allow: ['10.0.0.0/8'] } });
  await send(`${gh.url}/x`);
  const r = await send(`${gh.url}/x`, { method: 'PURGE', headers: { 'x-forwarded-for': '10.0.0.1', forwarded: 'for=10.0.0.1' } });
  assert.equal(r.status, 405);
  const after = await send(`${gh.url}/x`);
  assert.equal(after.headers['x-cache'], 'HIT');
  assert.equal(after.text, 'v1');
  assert.equal(hits(), 1, 'the PURGE was not passed to the origin either');
});

test('RFC 9110 7.2: a Host with a port does not poison the object for the plain host', async (t) => {
  const { gh } = await setup(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`<a href="http://${req.headers['x-forwarded-host'] ?? req.headers.host}/next">`);
  });
  const poison = await rawRequest(gh.port, 'GET /h HTTP/1.1\r\nHost: example.com:666\r\nConnection: close\r\n\r\n');
  assert.match(poison, /example\.com:666/);
  const victim = await rawRequest(gh.port, 'GET /h HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
  assert.doesNotMatch(victim, /:666/);
});

test('RFC 9110 9.3.2 / 9112 6.3: HEAD, 304 and 416 from the cache carry no body and frame the connection right', async (t) => {
  const { gh } = await setup(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"e"', 'content-type': 'text/plain', 'content-length': '10' });
    res.end('0123456789');
  });
  await send(`${gh.url}/d`);
  const host = `127.0.0.1:${gh.port}`;
  const req = (extra: string): string => `GET /d HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
  // Three requests pipelined on one connection: a desynced length would swallow or split the next response.
  const out = await rawRequest(gh.port, `HEAD /d HTTP/1.1\r\nHost: ${host}\r\n\r\n${req('If-None-Match: "e"\r\n')}${req('Range: bytes=50-\r\n')}${req('Connection: close\r\n')}`);
  const statuses = [...out.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '304', '416', '200']);
  assert.ok(out.endsWith("0123456789"), `only the last response has a body: ${JSON.stringify(out)}`);
  assert.doesNotMatch(out, /transfer-encoding/i);
});

test('RFC 9111 4.1: behind a trusted proxy, X-Forwarded-Proto is keyed (an http redirect is not served to https users)', async (t) => {
  const { gh } = await setup(t, (req, res) => {
    if (req.headers['x-forwarded-proto'] === 'http') {
      res.writeHead(301, { location: `https://${req.headers.host}${req.url}`, 'cache-control': 'max-age=3600' });
      return res.end();
    }
    res.writeHead(200, { 'cache-control': 'max-age=3600' });
    res.end('secure page');
  }, {}, { trusted_proxies: ['127.0.0.1'] });
  const attacker = await send(`${gh.url}/login`, { headers: { 'x-forwarded-proto': 'http' } });
  assert.equal(attacker.status, 301);
  const victim = await send(`${gh.url}/login`, { headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(victim.status, 200, 'an https user must not get the redirect stored for http (a redirect loop)');
  assert.equal(victim.text, 'secure page');
});

test('RFC 9111 4.1: behind a trusted proxy, X-Forwarded-Host is keyed (no poisoned links)', async (t) => {
  const { gh } = await setup(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`<script src="//${req.headers['x-forwarded-host']}/app.js">`);
  }, {}, { trusted_proxies: ['127.0.0.1'] });
  const host = `127.0.0.1:${gh.port}`;
  await send(`${gh.url}/page`, { headers: { 'x-forwarded-host': 'evil.example' } });
  const victim = await send(`${gh.url}/page`, { headers: { 'x-forwarded-host': host } });
  assert.doesNotMatch(victim.text, /evil/);
});

test('RFC 9110 14.2: Range requests for many uncached URLs start a bounded number of whole-object fetches', async (t) => {
  let whole = 0;
  const { gh } = await setup(t, (req, res) => {
    if (req.headers.range !== undefined) {
      res.writeHead(206, { 'content-range': 'bytes 0-0/1048576', 'content-length': '1', 'cache-control': 'max-age=60' });
      return res.end('x');
    }
    whole++;
    // A large object that takes its time: the fetch stays in flight.
    res.writeHead(200, { 'content-length': '1048576', 'cache-control': 'max-age=60' });
    res.write(Buffer.alloc(1024));
  });
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => send(`${gh.url}/big?r=${round * 10 + i}`, { headers: { range: 'bytes=0-0' }, agent })));
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(whole <= 16, `${whole} whole-object fetches for 50 one-byte ranges`);
  assert.ok(whole > 0);
});

test('cache: key.ignore_query parameters are unkeyed, so they do not reach the origin (reflected, they would poison the page)', async (t) => {
  const { gh } = await setup(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/html' });
    res.end(`<a href="/next${decodeURIComponent(new URL(req.url!, 'http://o').search)}">`);
  }, { key: { ignore_query: ['utm_*'] } });
  const attacker = await send(`${gh.url}/p?utm_source=%22%3E%3Cscript%3E&id=1`);
  assert.equal(attacker.text, '<a href="/next?id=1">');
  const victim = await send(`${gh.url}/p?id=1`);
  assert.doesNotMatch(victim.text, /script/);
  assert.equal(victim.headers['x-cache'], 'HIT');
});

/** An origin that answers Range requests for `body` (as nginx does), `v` changing what it serves. */
function rangeOrigin(state: { body: Buffer; etag: string; ranged: number }, extra: Record<string, string> = {}): Respond {
  return (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    const head = { 'cache-control': 'max-age=60', etag: state.etag, 'content-type': 'application/octet-stream', 'surrogate-key': 'media', ...extra };
    if (!m) {
      res.writeHead(200, { ...head, 'content-length': String(state.body.length) });
      return res.end(state.body);
    }
    state.ranged++;
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), state.body.length - 1);
    res.writeHead(206, { ...head, 'content-range': `bytes ${start}-${end}/${state.body.length}`, 'content-length': String(end - start + 1) });
    res.end(state.body.subarray(start, end + 1));
  };
}

test('RFC 9111 4.4: purge and invalidation reach objects stored in slices', async (t) => {
  const state = { body: Buffer.alloc(3000, 'a'), etag: '"a"', ranged: 0 };
  const { gh } = await setup(t, rangeOrigin(state), { ranges: { slice: 1024 }, purge: { allow: ['127.0.0.1'] } });
  const first = await send(`${gh.url}/v.mp4`);
  assert.equal(first.body.length, 3000);
  state.body = Buffer.alloc(3000, 'b');
  state.etag = '"b"';
  const purged = await send(`${gh.url}/v.mp4`, { method: 'PURGE' });
  assert.ok(JSON.parse(purged.text).purged >= 1, `purge found nothing: ${purged.text}`);
  const after = await send(`${gh.url}/v.mp4`);
  assert.equal(after.body.toString()[0], 'b', 'a purged object is not served');
  // By tag too (Surrogate-Key on every slice).
  state.body = Buffer.alloc(3000, 'c');
  state.etag = '"c"';
  assert.ok((gh.gh.cache?.purge({ tag: 'media' }) ?? 0) >= 1);
  assert.equal((await send(`${gh.url}/v.mp4`)).body.toString()[0], 'c');
});

test('RFC 9110 14.4: slices that disagree, one with a huge Content-Range total, are dropped without a long loop', async (t) => {
  const total = 2 ** 34;
  let n = 0;
  const { gh } = await setup(t, (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    if (!m) { res.writeHead(500); return res.end(); }
    const start = Number(m[1]);
    const end = Number(m[2]);
    // Slice 0 claims a 16 GiB object; slice 1 says the object changed.
    res.writeHead(206, { 'cache-control': 'max-age=60', etag: `"e${n++}"`, 'content-range': `bytes ${start}-${end}/${total}`, 'content-length': String(end - start + 1) });
    res.end(Buffer.alloc(end - start + 1, 'x'));
  }, { ranges: { slice: 1024 } });
  const t0 = Date.now();
  await send(`${gh.url}/huge`, { headers: { range: 'bytes=0-2047' } }).catch(() => undefined);
  assert.ok(Date.now() - t0 < 1000, `the event loop was held ${Date.now() - t0}ms`);
});

test('RFC 9111 4.4: a redirect\'s Location after a POST does not invalidate the URL it names (no purge by open redirect)', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    if (req.method === 'POST') {
      const next = new URL(req.url!, 'http://o').searchParams.get('next') ?? '/';
      res.writeHead(303, { location: next });
      return res.end();
    }
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`v${n}`);
  }, { purge: { allow: ['10.0.0.0/8'] } });
  await send(`${gh.url}/popular`);
  const post = await send(`${gh.url}/logout?next=/popular`, { method: 'POST', body: '' });
  assert.equal(post.status, 303);
  const after = await send(`${gh.url}/popular`);
  assert.equal(after.headers['x-cache'], 'HIT', 'still stored: only an allowed PURGE takes it out');
  assert.equal(hits(), 2);
});

test('RFC 9111 4.4: a 201\'s Location and a Content-Location after a POST are invalidated', async (t) => {
  const { gh } = await setup(t, (req, res, n) => {
    if (req.method === 'POST') {
      res.writeHead(201, { location: '/items/1', 'content-location': '/items/2' });
      return res.end();
    }
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/items/1`);
  await send(`${gh.url}/items/2`);
  await send(`${gh.url}/items`, { method: 'POST', body: 'x' });
  assert.equal((await send(`${gh.url}/items/1`)).headers['x-cache'], 'MISS');
  assert.equal((await send(`${gh.url}/items/2`)).headers['x-cache'], 'MISS');
});

test('cache: the Vary index forgets base keys whose objects were evicted (no growth per URL ever stored)', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const store = await createCacheStore({ memory: 2048 });
  const engine = createEngine(store, pino({ level: 'silent' }));
  t.after(() => engine.close());
  for (let i = 0; i < 100; i++) {
    const base = `z http://h/?r=${i}`;
    const w = store.create(base, { status: 200, headers: ['vary', 'accept'], requestTime: 0, responseTime: 0, url: `http://h/?r=${i}`, tags: [], extra: { zone: 'z', base, vary: ['accept'] } }, 100)!;
    w.write(Buffer.alloc(100));
    const obj = await w.end();
    if (obj) engine.add(obj);
  }
  t.mock.timers.tick(60_000);
  assert.ok(engine.vary.size <= store.stats().memory.objects, `${engine.vary.size} Vary entries for ${store.stats().memory.objects} objects`);
});
