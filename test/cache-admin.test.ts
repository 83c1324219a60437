/**
 * Purging and inspecting the shared cache: the admin API (`POST /api/cache/purge`, `GET /api/cache`), the
 * library (`gh.cache`) and the route-level purge method, over real sockets.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { PurgeError, type CacheStats } from '../src/index.js';
import { send, type Response } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { startProxy, type ProxyConfig, type StartedProxy } from './helpers/proxy.js';

const TOKEN = 'cache-admin-token-9d2e';
process.env.GATEHOUSE_CACHE_ADMIN_TOKEN = TOKEN;
const auth = { authorization: `Bearer ${TOKEN}` };
const admin = { address: '127.0.0.1:0', token_env: 'GATEHOUSE_CACHE_ADMIN_TOKEN' };

type Respond = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** Every path answers `PATH vN` with max-age=60 (and tags): /tagged-* with `Surrogate-Key: a b`, /c-* with `Cache-Tag: c`. */
const tagged: Respond = (req, res, n) => {
  const tags: Record<string, string> = req.url!.startsWith('/tagged') ? { 'surrogate-key': 'a b' } : req.url!.startsWith('/c-') ? { 'cache-tag': 'c' } : {};
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', ...tags });
  res.end(`${req.url} v${n}`);
};

interface Setup { gh: StartedProxy; api: string; hits: () => number }

async function setup(t: TestContext, respond: Respond = tagged, extra: Partial<ProxyConfig> = {}): Promise<Setup> {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => respond(req, res, ++n));
  const gh = await startProxy(t, {
    admin,
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: {}, proxy: { upstream: 'app' } }],
    ...extra,
  });
  return { gh, api: gh.gh.adminUrl()!, hits: () => n };
}

const json = (r: Response): Record<string, unknown> => JSON.parse(r.text) as Record<string, unknown>;
const purge = (api: string, body: unknown, headers: Record<string, string> = auth): Promise<Response> =>
  send(`${api}/api/cache/purge`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const xcache = async (url: string, headers: Record<string, string> = {}): Promise<string> =>
  String((await send(url, { headers })).headers['x-cache']);

/** Gets each path twice, so that each is stored and the second is a HIT. */
async function warm(gh: StartedProxy, paths: string[], headers: Record<string, string> = {}): Promise<void> {
  for (const p of paths) {
    await send(`${gh.url}${p}`, { headers });
    assert.equal(await xcache(`${gh.url}${p}`, headers), 'HIT', p);
  }
}

function assertPurged(r: Response, purged: number, soft = false): void {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(json(r), { purged, soft });
}

test('cache admin: POST /api/cache/purge {url} removes that object only; port and host case do not matter (RFC 9110 4.2.3)', async (t) => {
  const { gh, api, hits } = await setup(t);
  await warm(gh, ['/a?b=1', '/a?b=2', '/b']);
  assertPurged(await purge(api, { url: `http://127.0.0.1:${gh.port}/a?b=1` }), 1);
  assert.equal(await xcache(`${gh.url}/a?b=1`), 'MISS');
  assert.equal(await xcache(`${gh.url}/a?b=2`), 'HIT');
  assert.equal(await xcache(`${gh.url}/b`), 'HIT');
  assert.equal(hits(), 4);
  // Stored under the Host a client sent (lower-cased, no port); purged as a user types it.
  const host = { host: 'Example.COM:8080' };
  await warm(gh, ['/x'], host);
  assertPurged(await purge(api, { url: 'http://example.com:8080/x' }), 1);
  assert.equal(await xcache(`${gh.url}/x`, host), 'MISS');
  assertPurged(await purge(api, { url: 'HTTP://Example.Com./x' }), 1);
  // A path typed as text is percent-encoded as a client sends it; the fragment is not part of it.
  await warm(gh, ['/caf%C3%A9%20au%20lait']);
  assertPurged(await purge(api, { url: `http://127.0.0.1:${gh.port}/café au lait#menu` }), 1);
  // Nothing stored there: 0, not an error.
  assertPurged(await purge(api, { url: 'http://example.com/never' }), 0);
});

test('cache admin: POST /api/cache/purge {prefix} removes every URL under it; a host alone means the whole host', async (t) => {
  const { gh, api } = await setup(t);
  const other = { host: 'other.example' };
  await warm(gh, ['/img/1.png', '/img/2.png', '/imgx', '/other']);
  await warm(gh, ['/img/3.png'], other);
  assertPurged(await purge(api, { prefix: `http://127.0.0.1:${gh.port}/img/` }), 2);
  assert.equal(await xcache(`${gh.url}/img/1.png`), 'MISS');
  assert.equal(await xcache(`${gh.url}/img/2.png`), 'MISS');
  assert.equal(await xcache(`${gh.url}/imgx`), 'HIT');
  assert.equal(await xcache(`${gh.url}/img/3.png`, other), 'HIT');
  // 127.0.0.1 holds /img/1.png, /img/2.png (stored again above), /imgx and /other; other.example is kept.
  assertPurged(await purge(api, { prefix: `http://127.0.0.1:${gh.port}` }), 4);
  assert.equal(await xcache(`${gh.url}/other`), 'MISS');
  assert.equal(await xcache(`${gh.url}/img/3.png`, other), 'HIT');
});

test('cache admin: POST /api/cache/purge {tag} removes the objects with that Surrogate-Key or Cache-Tag', async (t) => {
  const { gh, api } = await setup(t);
  await warm(gh, ['/tagged-1', '/tagged-2', '/c-1', '/plain']);
  assertPurged(await purge(api, { tag: 'b' }), 2);
  assert.equal(await xcache(`${gh.url}/tagged-1`), 'MISS');
  assert.equal(await xcache(`${gh.url}/tagged-2`), 'MISS');
  assert.equal(await xcache(`${gh.url}/c-1`), 'HIT');
  assertPurged(await purge(api, { tag: 'c' }), 1);
  assert.equal(await xcache(`${gh.url}/c-1`), 'MISS');
  assert.equal(await xcache(`${gh.url}/plain`), 'HIT');
  // The tags of the stored-again objects are indexed again: `a` names them.
  assertPurged(await purge(api, { tag: 'a' }), 2);
  assertPurged(await purge(api, { tag: 'nothing-has-this' }), 0);
});

test('RFC 5861 3: a soft purge marks the object stale: served STALE while it is refreshed, then HIT with the new body', async (t) => {
  const { gh, api, hits } = await setup(t, (req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=60, stale-while-revalidate=30', 'surrogate-key': 'page' });
    res.end(`${req.url} v${n}`);
  });
  await warm(gh, ['/p']);
  assertPurged(await purge(api, { tag: 'page', soft: true }), 1, true);
  assert.equal((json(await send(`${api}/api/cache`, { headers: auth })) as unknown as CacheStats).soft_purged, 1);
  const stale = await send(`${gh.url}/p`);
  assert.equal(stale.headers['x-cache'], 'STALE');
  assert.equal(stale.text, '/p v1');
  await waitFor(async () => (await send(`${gh.url}/p`)).text === '/p v2', 5000, 'the background refresh');
  const fresh = await send(`${gh.url}/p`);
  assert.equal(fresh.headers['x-cache'], 'HIT');
  assert.equal(hits(), 2);
  // A hard purge after a soft one still removes it.
  assertPurged(await purge(api, { url: `http://127.0.0.1/p`, soft: false }), 1);
  assert.equal(await xcache(`${gh.url}/p`), 'MISS');
});

test('cache admin: a bad purge body is a 400 naming the problem; no token is a 401', async (t) => {
  const { gh, api } = await setup(t);
  await warm(gh, ['/kept']);
  const cases: [unknown, string, RegExp][] = [
    ['not json', 'GH_ADMIN_BAD_JSON', /not valid JSON/],
    ['', 'GH_ADMIN_BAD_JSON', /needs a JSON body/],
    [['http://127.0.0.1/kept'], 'GH_ADMIN_BAD_REQUEST', /JSON object/],
    [{}, 'GH_ADMIN_BAD_REQUEST', /exactly one of "url", "prefix" or "tag" \(got none\)/],
    [{ soft: true }, 'GH_ADMIN_BAD_REQUEST', /got none/],
    [{ url: 'http://127.0.0.1/kept', tag: 'a' }, 'GH_ADMIN_BAD_REQUEST', /got "url", "tag"/],
    [{ url: 'http://127.0.0.1/kept', urls: 'x' }, 'GH_ADMIN_BAD_REQUEST', /unknown field "urls"/],
    [{ url: 7 }, 'GH_ADMIN_BAD_REQUEST', /"url" must be a non-empty string/],
    [{ tag: '' }, 'GH_ADMIN_BAD_REQUEST', /"tag" must be a non-empty string/],
    [{ tag: 'a', soft: 'yes' }, 'GH_ADMIN_BAD_REQUEST', /"soft" must be true or false/],
    [{ url: '/kept' }, 'GH_ADMIN_BAD_REQUEST', /absolute http:\/\/ or https:\/\/ URL/],
    [{ prefix: 'ftp://127.0.0.1/' }, 'GH_ADMIN_BAD_REQUEST', /"prefix" must be an absolute/],
  ];
  for (const [body, code, message] of cases) {
    const r = await purge(api, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(json(r).code, code);
    assert.match(json(r).message as string, message);
  }
  for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
    assert.equal((await purge(api, { url: 'http://127.0.0.1/kept' }, headers)).status, 401);
    assert.equal((await send(`${api}/api/cache`, { headers })).status, 401);
  }
  assert.equal((await send(`${api}/api/cache/purge`, { headers: auth })).status, 405);
  assert.equal(await xcache(`${gh.url}/kept`), 'HIT');
});

test('cache admin: GET /api/cache shows sizes, bounds, objects, hit ratio and counters', async (t) => {
  const { gh, api } = await setup(t, tagged, { cache: { memory: '1MiB' } });
  await warm(gh, ['/one', '/tagged-two']); // 2 misses, 2 hits, 2 stored
  await send(`${gh.url}/one`); // a third hit
  const r = await send(`${api}/api/cache`, { headers: auth });
  assert.equal(r.status, 200);
  const s = json(r) as unknown as CacheStats;
  const bytes = '/one v1'.length + '/tagged-two v2'.length;
  assert.equal(s.enabled, true);
  assert.equal(s.objects, 2);
  assert.equal(s.bytes, bytes);
  assert.deepEqual(s.memory, { bytes, max_bytes: 1024 ** 2, objects: 2 });
  assert.equal(s.disk, null);
  assert.deepEqual(s.counters, { hits: 3, misses: 2, stale: 0, revalidated: 0, stored: 2, bypass: 0 });
  assert.equal(s.hit_ratio, 3 / 5);
  assert.deepEqual([s.urls, s.tags, s.soft_purged, s.inflight_fills, s.revalidating], [2, 2, 0, 0, 0]);
  assert.deepEqual(s, gh.gh.cache!.stats());
});

test('cache admin: without a cache GET /api/cache is {enabled: false} and a purge is 501 GH_ADMIN_NO_CACHE', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('x'));
  const gh = await startProxy(t, { admin, upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }] });
  const api = gh.gh.adminUrl()!;
  const r = await send(`${api}/api/cache`, { headers: auth });
  assert.equal(r.status, 200);
  assert.deepEqual(json(r), { enabled: false });
  const p = await purge(api, { url: 'http://127.0.0.1/' });
  assert.equal(p.status, 501);
  assert.equal(json(p).code, 'GH_ADMIN_NO_CACHE');
  assert.match(json(p).message as string, /no cache/);
  assert.equal(gh.gh.cache, undefined);
  // The document lists both endpoints.
  const doc = json(await send(`${api}/openapi.json`)) as { paths: Record<string, Record<string, unknown>> };
  assert.ok(doc.paths['/api/cache']?.get);
  assert.ok(doc.paths['/api/cache/purge']?.post);
});

test('cache admin: the library purges and reports through gh.cache; a bad request throws PurgeError', async (t) => {
  const { gh } = await setup(t);
  await warm(gh, ['/lib/1', '/lib/2', '/tagged-3']);
  const cache = gh.gh.cache!;
  assert.equal(cache.purge({ url: `http://LOCALHOST.localdomain.invalid/lib/1` }), 0);
  assert.equal(cache.purge({ url: `http://127.0.0.1:1/lib/1` }), 1);
  assert.equal(cache.purge({ prefix: 'http://127.0.0.1/lib/', soft: true }), 1);
  assert.equal(cache.purge({ tag: 'a' }), 1);
  assert.equal(cache.stats().objects, 1);
  assert.equal(cache.stats().soft_purged, 1);
  assert.throws(() => cache.purge({ url: 'http://127.0.0.1/', tag: 'a' }), PurgeError);
  assert.throws(() => cache.purge({}), /exactly one of/);
  assert.throws(() => cache.purge({ prefix: 'example.com/' }), PurgeError);
  await gh.gh.stop();
  assert.equal(gh.gh.cache, undefined);
});

test('cache admin: the route purge method purges the request URL from an allowed address; elsewhere it is 405', async (t) => {
  const { gh, api } = await setup(t, tagged, {
    routes: [
      { match: { path: '/open' }, cache: { purge: { allow: ['127.0.0.1'] } }, proxy: { upstream: 'app' } },
      { match: { path: '/closed' }, cache: { purge: { allow: ['10.0.0.1'] } }, proxy: { upstream: 'app' } },
    ],
  });
  await warm(gh, ['/open/a', '/open/b', '/closed/a']);
  const r = await send(`${gh.url}/open/a`, { method: 'PURGE' });
  assertPurged(r, 1);
  assert.equal(await xcache(`${gh.url}/open/a`), 'MISS');
  assert.equal(await xcache(`${gh.url}/open/b`), 'HIT');
  const soft = await send(`${gh.url}/open/b`, { method: 'PURGE', headers: { 'x-purge-soft': '1' } });
  assertPurged(soft, 1, true);
  const denied = await send(`${gh.url}/closed/a`, { method: 'PURGE' });
  assert.equal(denied.status, 405);
  assert.equal(await xcache(`${gh.url}/closed/a`), 'HIT');
  // The admin API reaches objects of every route.
  assertPurged(await purge(api, { prefix: 'http://127.0.0.1/closed/' }), 1);
  assert.equal(await xcache(`${gh.url}/closed/a`), 'MISS');
});
