/**
 * The cache's shared tier in Redis (`cache.redis`), with a real redis-server: two instances on one Redis, one
 * Host, the same routes; what one stores the other finds on a local miss.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createCacheStore, createEngine } from '../src/cache/index.js';
import type { CachePurge, SharedCacheTier } from '../src/core/services.js';
import { ConfigError, parseConfig } from '../src/index.js';
import type { GatehouseConfigInput } from '../src/index.js';
import { collect, spawnCli } from './helpers/cli.js';
import { send, type Response } from './helpers/client.js';
import { freePort, startOrigin, waitFor, type Handler } from './helpers/origin.js';
import { startProxy, type ProxyConfig, type StartedProxy } from './helpers/proxy.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

const HOST = 'shop.test';

interface Fleet { a: StartedProxy; b: StartedProxy; redis: RedisServer; r: Redis; origin: { count(path?: string): number }; lines: string[] }

async function fleet(t: TestContext, handler: Handler, opts: { max_object?: string } = {}): Promise<Fleet> {
  const redis = await startRedis(t);
  const seen: string[] = [];
  const origin = await startOrigin(t, (req, res) => { seen.push(req.url!); handler(req, res); });
  const r = new Redis(redis.port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200 });
  r.on('error', () => undefined);
  t.after(() => r.disconnect());
  const lines: string[] = [];
  const config = {
    admin: { address: '127.0.0.1:0' },
    state: { redis: `redis://127.0.0.1:${redis.port}` },
    cache: { redis: opts.max_object ? { max_object: opts.max_object } : {} },
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: {}, proxy: { upstream: 'app' } }],
  } as ProxyConfig;
  const logger = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const a = await startProxy(t, config, { logger });
  const b = await startProxy(t, config, { logger });
  await waitFor(() => r.status === 'ready', 5000, 'the test client to connect');
  return { a, b, redis, r, lines, origin: { count: (path) => (path === undefined ? seen.length : seen.filter((u) => u === path).length) } };
}

const get = (p: StartedProxy, path: string, headers: Record<string, string> = {}): Promise<Response> =>
  send(`${p.url}${path}`, { headers: { host: HOST, ...headers } });

/** Waits until the URL's index set is in Redis: the write (one script, objects and indexes at once) has landed. */
const shared = (f: Fleet, path: string): Promise<void> =>
  waitFor(async () => (await f.r.exists(`gatehouse:cu:http://${HOST}${path}`)) === 1, 2000, `${path} in Redis`);

test('cache.redis: an object fetched through A is a HIT on B without an origin request (RFC 9111 4.2.3: its Age)', async (t) => {
  const f = await fleet(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60, stale-while-revalidate=30', 'surrogate-key': 'k1', age: '5' });
    res.end('hello');
  });
  const first = await get(f.a, '/x');
  assert.equal(first.headers['x-cache'], 'MISS');
  await shared(f, '/x');
  // The expiry: what is left of the freshness lifetime (60 - 5) plus the stale window (30), in ms.
  const pttl = await f.r.pttl(`gatehouse:cu:http://${HOST}/x`);
  assert.ok(pttl > 80_000 && pttl <= 85_000, String(pttl));
  assert.ok((await f.r.pttl(`gatehouse:ct:k1`)) > 80_000);
  const onB = await get(f.b, '/x');
  assert.equal(onB.status, 200);
  assert.equal(onB.text, 'hello');
  assert.equal(onB.headers['x-cache'], 'HIT');
  assert.match(String(onB.headers['cache-status']), /^Gatehouse; hit; ttl=5\d; detail=shared$/);
  assert.ok(Number(onB.headers.age) >= 5, String(onB.headers.age));
  assert.equal(onB.headers['surrogate-key'], undefined);
  assert.equal(f.origin.count(), 1);
  // Now in B's own store: a plain local hit.
  const again = await get(f.b, '/x');
  assert.equal(again.headers['x-cache'], 'HIT');
  assert.doesNotMatch(String(again.headers['cache-status']), /shared/);
  assert.equal(f.origin.count(), 1);
  assert.deepEqual(f.b.gh.cache?.stats().shared, { hits: 1, misses: 0, errors: 0, stored: 0 });
  assert.equal(f.a.gh.cache?.stats().shared?.stored, 1);
});

test('cache.redis: Vary variants (Accept-Encoding, a custom field) stay apart across instances (RFC 9111 4.1)', async (t) => {
  const f = await fleet(t, (req, res) => {
    if (req.url === '/ae') {
      const gz = /gzip/.test(String(req.headers['accept-encoding'] ?? ''));
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Encoding', ...(gz ? { 'content-encoding': 'gzip' } : {}) });
      return res.end(gz ? 'gzipped' : 'plain');
    }
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'X-Variant' });
    res.end(`variant ${String(req.headers['x-variant'])}`);
  });
  await get(f.a, '/ae', { 'accept-encoding': 'gzip' });
  await get(f.a, '/ae', { 'accept-encoding': 'identity' });
  await get(f.a, '/v', { 'x-variant': 'a' });
  await get(f.a, '/v', { 'x-variant': 'b' });
  await shared(f, '/ae');
  await shared(f, '/v');
  await waitFor(async () => (await f.r.scard(`gatehouse:cu:http://${HOST}/v`)) === 2 && (await f.r.scard(`gatehouse:cu:http://${HOST}/ae`)) === 2, 2000, 'every variant in Redis');
  assert.equal(f.origin.count(), 4);
  // B has never seen these URLs: the Vary names come from Redis too.
  const gz = await get(f.b, '/ae', { 'accept-encoding': 'gzip, deflate' });
  assert.deepEqual([gz.text, gz.headers['content-encoding'], gz.headers['x-cache']], ['gzipped', 'gzip', 'HIT']);
  const plain = await get(f.b, '/ae', { 'accept-encoding': 'identity' });
  assert.deepEqual([plain.text, plain.headers['content-encoding'], plain.headers['x-cache']], ['plain', undefined, 'HIT']);
  const vb = await get(f.b, '/v', { 'x-variant': 'b' });
  assert.deepEqual([vb.text, vb.headers['x-cache']], ['variant b', 'HIT']);
  assert.equal(f.origin.count(), 4);
  // A variant nobody stored goes to the origin.
  const vc = await get(f.b, '/v', { 'x-variant': 'c' });
  assert.deepEqual([vc.text, vc.headers['x-cache']], ['variant c', 'MISS']);
  assert.equal(f.origin.count(), 5);
});

test('cache.redis: an object larger than max_object is not shared', async (t) => {
  const f = await fleet(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(req.url === '/big' ? 'x'.repeat(2048) : 'small');
  }, { max_object: '1KiB' });
  await get(f.a, '/big');
  await get(f.a, '/small');
  await shared(f, '/small');
  assert.equal(await f.r.exists(`gatehouse:cu:http://${HOST}/big`), 0);
  assert.equal((await get(f.b, '/big')).headers['x-cache'], 'MISS');
  assert.equal((await get(f.b, '/small')).headers['x-cache'], 'HIT');
  assert.equal(f.origin.count('/big'), 2);
  assert.equal(f.origin.count('/small'), 1);
});

test('cache.redis: a max-age=1 object is not served fresh by B once it expired (RFC 9111 4.2)', async (t) => {
  const f = await fleet(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=1' });
    res.end('short');
  });
  await get(f.a, '/short');
  await shared(f, '/short');
  assert.ok((await f.r.pttl(`gatehouse:cu:http://${HOST}/short`)) <= 1000);
  await new Promise((r) => setTimeout(r, 1200));
  const late = await get(f.b, '/short');
  assert.equal(late.status, 200);
  assert.notEqual(late.headers['x-cache'], 'HIT');
  assert.equal(f.origin.count(), 2);
});

test('cache.redis: 100 concurrent cold misses make one origin request; 100 on B one Redis lookup and none', async (t) => {
  const f = await fleet(t, (_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end('collapsed');
    }, 50);
  });
  const onA = await Promise.all(Array.from({ length: 100 }, () => get(f.a, '/c')));
  assert.ok(onA.every((r) => r.status === 200 && r.text === 'collapsed'));
  assert.equal(f.origin.count(), 1);
  await shared(f, '/c');
  const onB = await Promise.all(Array.from({ length: 100 }, () => get(f.b, '/c')));
  assert.ok(onB.every((r) => r.status === 200 && r.text === 'collapsed' && r.headers['x-cache'] === 'HIT'));
  assert.equal(f.origin.count(), 1);
  assert.equal(f.b.gh.cache?.stats().shared?.hits, 1);
});

test('cache.redis: only-if-cached is satisfied by the shared tier; a Redis miss is still 504 (RFC 9111 5.2.1.7)', async (t) => {
  const f = await fleet(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end('oic');
  });
  await get(f.a, '/o');
  await shared(f, '/o');
  const hit = await get(f.b, '/o', { 'cache-control': 'only-if-cached' });
  assert.deepEqual([hit.status, hit.text, hit.headers['x-cache']], [200, 'oic', 'HIT']);
  assert.equal((await get(f.b, '/none', { 'cache-control': 'only-if-cached' })).status, 504);
  assert.equal(f.origin.count(), 1);
});

test('cache.redis: a purge through A\'s admin API (url, tag, prefix) removes the objects from Redis too', async (t) => {
  let v = 0;
  const f = await fleet(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', ...(req.url === '/t' ? { 'cache-tag': 'news' } : {}) });
    res.end(`${req.url} v${++v}`);
  });
  const paths = ['/u', '/t', '/img/1', '/img/2', '/keep'];
  for (const p of paths) await get(f.a, p);
  for (const p of paths) await shared(f, p);
  const purge = async (body: object): Promise<void> => {
    const r = await send(`${f.a.gh.adminUrl()}/api/cache/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, r.text);
  };
  const gone = (key: string): Promise<void> => waitFor(async () => (await f.r.exists(key)) === 0, 2000, `${key} to be purged`);
  await purge({ url: `http://${HOST}/u` });
  await gone(`gatehouse:cu:http://${HOST}/u`);
  await purge({ tag: 'news' });
  await gone('gatehouse:ct:news');
  await purge({ prefix: `http://${HOST}/img/` });
  await gone(`gatehouse:cu:http://${HOST}/img/1`);
  await gone(`gatehouse:cu:http://${HOST}/img/2`);
  // B had stored none of them: each now comes from the origin; what was not purged is still shared.
  const before = f.origin.count();
  for (const p of ['/u', '/t', '/img/1', '/img/2']) assert.equal((await get(f.b, p)).headers['x-cache'], 'MISS', p);
  assert.equal(f.origin.count(), before + 4);
  assert.equal((await get(f.b, '/keep')).headers['x-cache'], 'HIT');
});

test('cache.redis: a remote purge (another worker or instance made it) leaves the shared tier alone; a local one, soft too, purges it', async (t) => {
  const calls: CachePurge[] = [];
  const tier: SharedCacheTier = { maxObject: 1024, get: async () => ({}), put: () => true, purge: (req) => { calls.push(req); }, close: async () => {} };
  const store = await createCacheStore({ memory: 1024 ** 2, threshold: 1024 ** 2, log: pino({ level: 'silent' }) });
  const engine = createEngine(store, pino({ level: 'silent' }), { tier });
  t.after(() => engine.close());
  engine.purge({ url: 'http://a.test/x' }, { remote: true });
  assert.deepEqual(calls, []);
  engine.purge({ tag: 'k', soft: true });
  engine.invalidate('http://a.test/y');
  assert.deepEqual(calls, [{ tag: 'k', soft: true }, { url: 'http://a.test/y' }]);
});

test('cache.redis: with Redis killed both instances keep serving from the origin and their own cache, warned once', async (t) => {
  const f = await fleet(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`body ${req.url}`);
  });
  await get(f.a, '/warm');
  await shared(f, '/warm');
  await f.redis.kill();
  await waitFor(() => f.a.gh.cache !== undefined && f.r.status !== 'ready', 2000, 'the client to see Redis gone');
  const started = Date.now();
  for (const p of [f.a, f.b]) {
    for (let i = 0; i < 5; i++) {
      const r = await get(p, `/down${i}`);
      assert.deepEqual([r.status, r.text], [200, `body /down${i}`]);
      assert.equal((await get(p, `/down${i}`)).headers['x-cache'], 'HIT');
    }
  }
  assert.equal((await get(f.a, '/warm')).headers['x-cache'], 'HIT');
  assert.ok(Date.now() - started < 3000, 'requests did not wait for Redis');
  const warned = f.lines.filter((l) => l.includes('shared tier in Redis unavailable'));
  assert.ok(warned.length >= 1 && warned.length <= 2, `one warning per instance, got ${warned.length}`);
  const purged = f.a.gh.cache!.purge({ url: `http://${HOST}/warm` });
  assert.equal(purged, 1);
});

test('cache.redis: a config with cache.redis but no state is a precise config error', () => {
  assert.throws(() => parseConfig({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }],
    cache: { redis: { max_object: '64KiB' } },
  } as GatehouseConfigInput), (err: unknown) => err instanceof ConfigError && /cache\.redis needs state\.redis.* at cache\.redis/.test(err.message));
  assert.throws(() => parseConfig({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }],
    state: { redis: 'redis://127.0.0.1:6379' },
    cache: { redis: { max_object: '1GiB' } },
  } as GatehouseConfigInput), /at most 16MiB/);
});

test('cache.redis with workers: a second worker finds what the first stored; a purge through the primary\'s API purges Redis', async (t) => {
  const redis = await startRedis(t);
  let n = 0;
  const origin = await startOrigin(t, (_req, res) => {
    n++;
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`v${n}`);
  });
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(tempDir('cache-redis'), 'gatehouse.yaml');
  writeFileSync(file, `listeners: [{ name: public, address: "127.0.0.1:${port}" }]
admin: { address: "127.0.0.1:${adminPort}" }
workers: 2
reload: { watch: false }
shutdown: { timeout: 2s }
state: { redis: "redis://127.0.0.1:${redis.port}" }
cache: { redis: {} }
upstreams: { app: { servers: ["${origin.url}"] } }
routes: [{ match: { path: / }, cache: {}, proxy: { upstream: app } }]
`);
  const child = spawnCli(['run', '-c', file]);
  const done = collect(child);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 8000).unref())]);
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  await waitFor(() => /admin API on/.test(err) || child.exitCode !== null, 20_000, 'the workers to start');
  assert.equal(child.exitCode, null, err);
  const r = new Redis(redis.port, '127.0.0.1');
  t.after(() => r.disconnect());
  const url = `http://127.0.0.1:${port}/w`;
  // New connections alternate between the workers: the first fetches, the others find it in Redis or at home.
  const first = await send(url);
  await waitFor(async () => (await r.exists('gatehouse:cu:http://127.0.0.1/w')) === 1, 2000, 'the object in Redis');
  const next = await Promise.all([send(url), send(url), send(url), send(url)]);
  assert.deepEqual([first.text, ...next.map((x) => x.text)], ['v1', 'v1', 'v1', 'v1', 'v1']);
  assert.ok(next.every((x) => x.headers['x-cache'] === 'HIT'));
  assert.equal(n, 1, 'one origin request for the group');
  const purged = await send(`http://127.0.0.1:${adminPort}/api/cache/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'http://127.0.0.1/w' }) });
  assert.equal(purged.status, 200, purged.text);
  await waitFor(async () => (await r.exists('gatehouse:cu:http://127.0.0.1/w')) === 0, 2000, 'the object to leave Redis');
  assert.equal((await send(url)).text, 'v2');
});
