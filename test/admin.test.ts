import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { planReload, startAdmin, adminSchema } from '../src/admin/index.js';
import { RegistryError, type AdminTarget, type ServerInfo, type UpstreamInfo, type UpstreamRegistry } from '../src/core/services.js';
import { createGatehouse, definePlugin, loadConfig, type Gatehouse } from '../src/index.js';
import { send, type Response } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 'test-token-4f1c2d';
process.env.GATEHOUSE_ADMIN_TOKEN = TOKEN;
const silent = pino({ level: 'silent' });
const auth = { authorization: `Bearer ${TOKEN}` };

function configText(servers: string[], extraRoute = ''): string {
  return `listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
  token_env: GATEHOUSE_ADMIN_TOKEN
  max_body: 1KiB
access_log: { enabled: false }
overload: false
upstreams:
  app:
    servers: [${servers.join(', ')}]
routes:${extraRoute}
  - match: { path: / }
    proxy: { upstream: app }
`;
}

interface Started { gh: Gatehouse; admin: string; file: string }

/** The contract's config (on 127.0.0.1:0) in a file, run as `gatehouse run -c FILE` would. */
async function startFromFile(t: TestContext, servers: string[]): Promise<Started> {
  const file = join(tempDir('admin'), 'gatehouse.yaml');
  writeFileSync(file, configText(servers));
  const gh = createGatehouse(await loadConfig(file), { configPath: file, logger: silent });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  return { gh, admin: gh.adminUrl()!, file };
}

const json = (r: Response): Record<string, unknown> => JSON.parse(r.text) as Record<string, unknown>;
const post = (url: string, body?: string, headers: Record<string, string> = auth): Promise<Response> =>
  send(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });

function assertError(r: Response, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  const body = json(r);
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  if (message) assert.match(body.message as string, message);
}

test('admin: /api/ needs the bearer token: 401 without it or with a wrong one, 200 with it', async (t) => {
  const o = await startOrigin(t, (_q, s) => s.end('a'));
  const { admin } = await startFromFile(t, [o.url]);
  assertError(await send(`${admin}/api/upstreams`), 401, 'GH_ADMIN_UNAUTHORIZED', /Bearer/);
  assertError(await send(`${admin}/api/upstreams`, { headers: { authorization: 'Bearer wrong' } }), 401, 'GH_ADMIN_UNAUTHORIZED');
  assertError(await send(`${admin}/api/upstreams`, { headers: { authorization: `Bearer ${TOKEN}x` } }), 401, 'GH_ADMIN_UNAUTHORIZED');
  assertError(await send(`${admin}/api/nothing`), 401, 'GH_ADMIN_UNAUTHORIZED');
  assert.equal((await send(`${admin}/api/upstreams`, { headers: auth })).status, 200);
});

test('admin: /healthz, /readyz and /openapi.json need no token; readyz is 503 once stopping', async (t) => {
  const slow = await startOrigin(t, (_q, s) => setTimeout(() => s.end('late'), 300));
  const { gh, admin } = await startFromFile(t, [slow.url]);
  assert.equal((await send(`${admin}/healthz`)).status, 200);
  const ready = await send(`${admin}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(json(ready), { ready: true });
  const doc = json(await send(`${admin}/openapi.json`));
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(Object.keys(doc.paths as object).sort(), [
    '/api/cache', '/api/cache/purge', '/api/config', '/api/events', '/api/reload', '/api/restart', '/api/routes', '/api/upstreams', '/api/upstreams/{name}/servers',
    '/api/upstreams/{name}/servers/{id}', '/api/upstreams/{name}/servers/{id}/drain', '/api/upstreams/{name}/servers/{id}/enable',
    '/healthz', '/metrics', '/openapi.json', '/readyz', '/ui', '/ui/app.css', '/ui/app.js',
  ]);
  // While in-flight requests finish, the proxy is not ready (an outer balancer stops sending).
  const pending = send(gh.url());
  await waitFor(() => slow.requests.length === 1, 5000, 'the request to reach the origin');
  const stopping = gh.stop({ timeoutMs: 2000 });
  const during = await send(`${admin}/readyz`);
  assert.equal(during.status, 503);
  assert.deepEqual(json(during), { ready: false });
  assert.equal((await pending).text, 'late');
  await stopping;
});

test('admin: GET /api/upstreams, /api/routes and /api/config show what is in force', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const { admin } = await startFromFile(t, [a.url]);
  const ups = json(await send(`${admin}/api/upstreams`, { headers: auth })).upstreams as UpstreamInfo[];
  assert.deepEqual(ups, [{
    name: 'app',
    servers: [{
      id: a.authority, url: a.url, weight: 1, backup: false, up: true, health: { active: true, ejectedUntil: 0, ejections: 0, consecutiveFailures: 0 },
      inflight: 0, latency_ms: 0, draining: false, idle: false, source: 'file', sources: ['file'],
    }],
  }]);
  const routes = json(await send(`${admin}/api/routes`, { headers: auth })).routes;
  assert.deepEqual(routes, [{ id: 'routes[0]', index: 0, match: { path: '/' }, action: 'proxy', upstream: 'app' }]);
  const cfg = json(await send(`${admin}/api/config`, { headers: auth }));
  assert.equal(cfg.version, 1);
  assert.match(cfg.hash as string, /^[0-9a-f]{16}$/);
  assert.deepEqual((cfg.config as { admin: unknown }).admin, { address: '127.0.0.1:0', token_env: 'GATEHOUSE_ADMIN_TOKEN', max_body: 1024 });
});

test('admin: GET /api/config never shows a secret', async (t) => {
  const secret = 'j'.repeat(40);
  const gh = createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_ADMIN_TOKEN' },
    routes: [{ match: { path: '/' }, auth: { jwt: { secret } }, respond: { status: 200 } }],
    // A Redis URL may carry a password (nothing listens on port 1: the proxy serves without Redis).
    state: { redis: 'redis://:redis-password-42@127.0.0.1:1/0' },
  }, { logger: silent });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  const r = await send(`${gh.adminUrl()!}/api/config`, { headers: auth });
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes(secret));
  assert.ok(!r.text.includes('redis-password-42'));
  assert.equal((json(r).config as { state: { redis: string } }).state.redis, '[redacted]');
  assert.equal((json(r).config as { routes: { auth: { jwt: { secret: string } } }[] }).routes[0]!.auth.jwt.secret, '[redacted]');
});

test('admin: POST /api/reload?plan=1 says what a reload would change and applies nothing; POST /api/reload applies it', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const b = await startOrigin(t, (_q, s) => s.end('b'));
  const { gh, admin, file } = await startFromFile(t, [a.url]);
  writeFileSync(file, configText([b.url], '\n  - name: ping\n    match: { path: /ping }\n    respond: { status: 200, body: pong }'));
  const planned = json(await post(`${admin}/api/reload?plan=1`));
  const plan = {
    // Unnamed routes are known by their index (routes[INDEX], as in logs): the one that moved is removed and added.
    routes: { added: ['ping', 'routes[1]'], changed: [], removed: ['routes[0]'] },
    upstreams: { added: [], changed: ['app'], removed: [] },
    drained: [{ upstream: 'app', id: a.authority, inflight: 0 }],
    added_servers: [{ upstream: 'app', id: b.authority }],
  };
  assert.deepEqual(planned, { applied: false, plan, version: 1 });
  assert.equal((await send(gh.url())).text, 'a', 'a plan changes nothing');
  assert.equal(json(await send(`${admin}/api/config`, { headers: auth })).version, 1);

  assert.deepEqual(json(await post(`${admin}/api/reload`)), { applied: true, plan, version: 2 });
  assert.equal((await send(gh.url())).text, 'b');
  assert.equal((await send(`${gh.url()}/ping`)).text, 'pong');
  assert.equal(json(await send(`${admin}/api/config`, { headers: auth })).version, 2);
  assert.deepEqual((json(await send(`${admin}/api/routes`, { headers: auth })).routes as { id: string }[]).map((r) => r.id), ['ping', 'routes[1]']);

  // Reloads run one at a time: the second one's plan is made against what the first left in force.
  const both = await Promise.all([post(`${admin}/api/reload`), post(`${admin}/api/reload`)]);
  assert.deepEqual(both.map((r) => json(r).version).sort(), [3, 4]);
  assert.ok(both.every((r) => (json(r).plan as { drained: unknown[] }).drained.length === 0));
});

test('admin: a reload of an invalid file is a 422 naming the problem, and nothing changes', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const { gh, admin, file } = await startFromFile(t, [a.url]);
  writeFileSync(file, configText([a.url]).replace('proxy: { upstream: app }', 'proxy: { upstream: nope }'));
  for (const url of [`${admin}/api/reload`, `${admin}/api/reload?plan=1`]) {
    const r = await post(url);
    assertError(r, 422, 'GH_ADMIN_CONFIG_INVALID', /unknown upstream "nope"/);
    assert.ok(Array.isArray(json(r).errors));
  }
  assert.equal((await send(gh.url())).text, 'a');
  assert.equal(json(await send(`${admin}/api/config`, { headers: auth })).version, 1);
});

test('admin: bad input is a JSON error and changes nothing', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const { admin } = await startFromFile(t, [a.url]);
  const servers = `${admin}/api/upstreams/app/servers`;
  assertError(await post(servers, '{"url": '), 400, 'GH_ADMIN_BAD_JSON', /not valid JSON/);
  assertError(await post(servers), 400, 'GH_ADMIN_BAD_JSON', /needs a JSON body/);
  assertError(await post(`${admin}/api/upstreams/nope/servers`, '{"url": "http://127.0.0.1:19002"}'), 404, 'GH_ADMIN_UNKNOWN_UPSTREAM', /no upstream "nope" \(defined: app\)/);
  assertError(await post(servers, '{"url": "ftp://x"}'), 400, 'GH_ADMIN_BAD_REQUEST', /"url" must be an http/);
  assertError(await post(servers, '{"url": "http://127.0.0.1:19002/path"}'), 400, 'GH_ADMIN_BAD_REQUEST', /no path/);
  assertError(await post(servers, '{"url": "http://127.0.0.1:19002", "ttl": "soon"}'), 400, 'GH_ADMIN_BAD_REQUEST', /"ttl"/);
  assertError(await post(servers, '{"url": "http://127.0.0.1:19002", "wieght": 2}'), 400, 'GH_ADMIN_BAD_REQUEST', /unknown field "wieght"/);
  assertError(await post(servers, '[1]'), 400, 'GH_ADMIN_BAD_REQUEST', /JSON object/);
  assertError(await post(servers, `{"url": "${a.url}"}`), 409, 'GH_ADMIN_SERVER_EXISTS', new RegExp(`already has server "${a.authority}"`));
  assertError(await post(servers, JSON.stringify({ url: 'http://127.0.0.1:19002', pad: 'x'.repeat(2000) })), 413, 'GH_ADMIN_BODY_TOO_LARGE', /1024 bytes/);
  const keepAlive = new Agent({ keepAlive: true });
  t.after(() => keepAlive.destroy());
  const notFound = await send(`${admin}/api/nothing`, { headers: auth, agent: keepAlive });
  assertError(notFound, 404, 'GH_ADMIN_NOT_FOUND', /openapi\.json/);
  assert.equal(notFound.headers.connection, 'keep-alive', 'an error after the whole request was read keeps the connection');
  assertError(await send(`${admin}/nothing`), 404, 'GH_ADMIN_NOT_FOUND');
  assertError(await post(`${admin}/api/upstreams/app/servers/127.0.0.1:1/drain`), 404, 'GH_ADMIN_UNKNOWN_SERVER', /no server "127.0.0.1:1"/);
  const wrong = await send(`${admin}/api/upstreams`, { method: 'DELETE', headers: auth });
  assertError(wrong, 405, 'GH_ADMIN_METHOD_NOT_ALLOWED');
  assert.equal(wrong.headers.allow, 'GET, HEAD');
  const reloadGet = await send(`${admin}/api/reload`, { headers: auth });
  assertError(reloadGet, 405, 'GH_ADMIN_METHOD_NOT_ALLOWED');
  assert.equal(reloadGet.headers.allow, 'POST');
  // The proxy's own registry takes the changes once the input is valid.
  const added = await post(servers, '{"url": "http://127.0.0.1:19002", "ttl": "10s"}');
  assert.equal(added.status, 201);
  assert.deepEqual([json(added).id, json(added).source, json(added).draining], ['127.0.0.1:19002', 'api', false]);
  const drained = await post(`${admin}/api/upstreams/app/servers/127.0.0.1:19002/drain`);
  assert.deepEqual([drained.status, json(drained).draining], [200, true]);
  const removed = await send(`${admin}/api/upstreams/app/servers/127.0.0.1:19002`, { method: 'DELETE', headers: auth });
  assert.deepEqual([removed.status, json(removed).id, json(removed).draining], [202, '127.0.0.1:19002', true]);
  const listed = async (): Promise<string[][]> =>
    (json(await send(`${admin}/api/upstreams`, { headers: auth })).upstreams as UpstreamInfo[])[0]!.servers.map((s) => [s.id, s.source]);
  await waitFor(async () => (await listed()).length === 1, 5000, 'the removed server to leave');
  assert.deepEqual(await listed(), [[a.authority, 'file']]);
});

test('admin: DELETE of a server answers 202 as soon as it drains, while a long response from it is still open; it leaves when that ends', async (t) => {
  let release: (() => void) | undefined;
  const a = await startOrigin(t, (q, s) => {
    if (q.url !== '/slow') return void s.end('a');
    s.writeHead(200, { 'content-type': 'text/plain' });
    s.write('first,');
    release = () => s.end('last');
  });
  const { gh, admin } = await startFromFile(t, [a.url]);
  const slow = send(`${gh.url()}/slow`);
  await waitFor(() => release !== undefined, 5000, 'the long response to begin');
  const url = `${admin}/api/upstreams/app/servers/${a.authority}`;
  const removed = await send(url, { method: 'DELETE', headers: auth });
  assert.equal(removed.status, 202);
  assert.deepEqual([json(removed).id, json(removed).draining, json(removed).inflight, json(removed).idle], [a.authority, true, 1, false]);
  const again = await send(url, { method: 'DELETE', headers: auth });
  assert.deepEqual([again.status, json(again).draining], [202, true], 'a repeat while it drains answers the same');
  const servers = async (): Promise<UpstreamInfo['servers']> => (json(await send(`${admin}/api/upstreams`, { headers: auth })).upstreams as UpstreamInfo[])[0]!.servers;
  assert.deepEqual((await servers()).map((s) => [s.id, s.draining, s.inflight, s.removing]), [[a.authority, true, 1, true]]);
  // The same URL may be added again while the removed one drains: a new server, taking traffic.
  assert.equal((await post(`${admin}/api/upstreams/app/servers`, `{"url": "${a.url}"}`)).status, 201);
  assert.deepEqual((await servers()).map((s) => [s.id, s.draining, s.removing]), [[a.authority, false, undefined], [a.authority, true, true]]);
  assert.equal((await send(gh.url())).text, 'a');
  release!();
  const r = await slow;
  assert.deepEqual([r.status, r.text], [200, 'first,last'], 'the open response finished whole');
  await waitFor(async () => (await servers()).length === 1, 5000, 'the removed server to leave once idle');
  assert.deepEqual((await servers()).map((s) => [s.id, s.draining, s.source]), [[a.authority, false, 'api']]);
  assert.equal((await send(url, { method: 'DELETE', headers: auth })).status, 202);
  await waitFor(async () => (await servers()).length === 0, 5000, 'the second one to leave');
  assertError(await send(url, { method: 'DELETE', headers: auth }), 404, 'GH_ADMIN_UNKNOWN_SERVER');
});

test('admin: a missing token variable is a config error naming it; a non-loopback address needs a token', async (t) => {
  const gh = createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], admin: { address: '127.0.0.1:0', token_env: 'GH_TEST_UNSET_TOKEN' },
  }, { logger: silent });
  await assert.rejects(gh.start(), /environment variable GH_TEST_UNSET_TOKEN .*is not set/);
  assert.throws(() => gh.url(), /not started/, 'nothing was bound');
  // A start that fails later (a plugin's create throws) closes the admin API again.
  const failing = createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_ADMIN_TOKEN' },
  }, { logger: silent, plugins: [definePlugin({ name: 'broken', create: () => { throw new Error('broken plugin'); } })] });
  await assert.rejects(failing.start(), /broken plugin/);
  assert.equal(failing.adminUrl(), undefined);
  // An address in use fails the start, naming the key.
  const first = await startFromFile(t, ['http://127.0.0.1:9']);
  const taken = createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], admin: { address: first.admin.slice('http://'.length), token_env: 'GATEHOUSE_ADMIN_TOKEN' },
  }, { logger: silent });
  await assert.rejects(taken.start(), /admin API: cannot listen on 127\.0\.0\.1:\d+ \(admin\.address\): listen EADDRINUSE/);
  const r = adminSchema.safeParse({ address: '0.0.0.0:19901' });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /non-loopback address needs token_env/);
  assert.equal(adminSchema.safeParse({ address: '127.0.0.1:19901' }).success, true);
  assert.equal(adminSchema.safeParse({ address: '[::1]:19901' }).success, true);
  assert.equal(adminSchema.safeParse({ address: ':19901', token_env: 'T' }).success, true);
});

/** A registry kept in memory, behind an AdminTarget: the server-changing endpoints against the contract. */
function memoryTarget(): AdminTarget {
  const servers: ServerInfo[] = [];
  const find = (id: string): ServerInfo => servers.find((s) => s.id === id)!;
  const registry: UpstreamRegistry = {
    list: () => [{ name: 'app', servers: servers.map((s) => ({ ...s })) }],
    get: (u) => registry.list().find((x) => x.name === u),
    setDiscovered: () => ({ added: [], kept: [], drained: [] }),
    addServer(_u, s) {
      const id = new URL(s.url).host;
      const old = servers.find((x) => x.id === id);
      if (old) return old;
      if (id === 'invalid:1') throw new RegistryError('refused by the registry', 'invalid');
      const made: ServerInfo = {
        id, url: s.url, weight: s.weight ?? 1, backup: false, up: true, health: { active: true, ejectedUntil: 0, ejections: 0, consecutiveFailures: 0 },
        inflight: 0, latency_ms: 0, draining: false, idle: false, source: s.source, sources: [s.source],
      };
      servers.push(made);
      return made;
    },
    drainServer: (_u, id) => Object.assign(find(id), { draining: true }),
    enableServer: (_u, id) => Object.assign(find(id), { draining: false }),
    removeServer: async (_u, id) => void servers.splice(servers.indexOf(find(id)), 1),
  };
  return {
    upstreams: () => registry.list(), routes: () => [], config: () => ({ version: 1, hash: '0', config: {} }),
    reload: () => Promise.reject(new Error('no')), ready: () => true, registry,
  };
}

test('admin: add, renew, drain, enable and remove a server through the registry', async (t) => {
  const server = await startAdmin({ address: '127.0.0.1:0', token_env: 'GATEHOUSE_ADMIN_TOKEN', max_body: 65536 }, memoryTarget(), { log: silent, version: '0' });
  t.after(() => server.close());
  const base = `${server.url}/api/upstreams/app/servers`;
  const added = await post(base, '{"url": "http://127.0.0.1:19002", "ttl": "10s"}');
  assert.equal(added.status, 201);
  assert.deepEqual(json(added), {
    id: '127.0.0.1:19002', url: 'http://127.0.0.1:19002', weight: 1, backup: false, up: true,
    health: { active: true, ejectedUntil: 0, ejections: 0, consecutiveFailures: 0 }, inflight: 0, latency_ms: 0, draining: false, idle: false, source: 'api', sources: ['api'],
  });
  assertError(await post(base, '{"url": "http://invalid:1"}'), 400, 'GH_ADMIN_BAD_REQUEST', /refused by the registry/);
  assert.equal((await post(base, '{"url": "http://127.0.0.1:19002", "ttl": "10s"}')).status, 200, 'with a TTL, repeating renews');
  assertError(await post(base, '{"url": "http://127.0.0.1:19002"}'), 409, 'GH_ADMIN_SERVER_EXISTS');
  assert.equal(json(await post(`${base}/127.0.0.1:19002/drain`)).draining, true);
  assert.equal(json(await post(`${base}/127.0.0.1:19002/enable`)).draining, false);
  const removed = await send(`${base}/127.0.0.1:19002`, { method: 'DELETE', headers: auth });
  assert.equal(removed.status, 202);
  assert.deepEqual([json(removed).id, json(removed).draining, json(removed).up], ['127.0.0.1:19002', true, false]);
  assert.deepEqual((json(await send(`${server.url}/api/upstreams`, { headers: auth })).upstreams as UpstreamInfo[])[0]!.servers, []);
  assertError(await send(`${base}/127.0.0.1:19002`, { method: 'DELETE', headers: auth }), 404, 'GH_ADMIN_UNKNOWN_SERVER');
});

test('admin: planReload diffs routes, upstreams and servers (a pure function)', () => {
  const before = {
    routes: [{ name: 'a', match: { path: '/a' } }, { match: { path: '/' } }],
    upstreams: { app: { servers: ['http://10.0.0.1:80', { url: 'http://10.0.0.2' }] }, old: { servers: ['https://10.0.0.9'] } },
  };
  const after = {
    routes: [{ name: 'a', match: { path: '/a/' } }, { match: { path: '/' } }, { name: 'b' }],
    upstreams: { app: { servers: ['http://10.0.0.1'] }, fresh: { servers: ['http://10.0.0.3:8080'] } },
  };
  assert.deepEqual(planReload(before, after, { inflight: (_u, id) => (id === '10.0.0.2:80' ? 3 : 0) }), {
    routes: { added: ['b'], changed: ['a'], removed: [] },
    upstreams: { added: ['fresh'], changed: ['app'], removed: ['old'] },
    drained: [{ upstream: 'app', id: '10.0.0.2:80', inflight: 3 }, { upstream: 'old', id: '10.0.0.9:443', inflight: 0 }],
    added_servers: [{ upstream: 'fresh', id: '10.0.0.3:8080' }],
  });
  assert.deepEqual(planReload(before, before).drained, []);
});

test('admin: gatehouse run -c FILE serves the admin API of the contract (on port 0), reloads through it and stops it', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const file = join(tempDir('admin-cli'), 'gatehouse.yaml');
  writeFileSync(file, configText([a.url]));
  const child = spawnCli(['run', '-c', file]);
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const done = collect(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  await waitFor(() => /admin API on http:\/\/[\d.]+:\d+/.test(stderr) && stderr.includes('gatehouse started'), 10_000, 'the admin API to start');
  const admin = /admin API on (http:\/\/[\d.]+:\d+)/.exec(stderr)![1]!;
  assert.equal((await send(`${admin}/readyz`)).status, 200);
  assert.equal((await send(`${admin}/api/routes`)).status, 401);
  writeFileSync(file, configText([a.url], '\n  - name: ping\n    match: { path: /ping }\n    respond: { status: 200, body: pong }'));
  const r = await post(`${admin}/api/reload`);
  assert.equal(r.status, 200, r.text);
  assert.equal(json(r).version, 2);
  child.kill('SIGTERM');
  const { code } = await done;
  assert.equal(code, 0);
});

test('admin: gatehouse run refuses to start when the token variable is unset, naming it', async (t) => {
  const file = join(tempDir('admin-cli'), 'gatehouse.yaml');
  writeFileSync(file, configText(['http://127.0.0.1:9']).replace('GATEHOUSE_ADMIN_TOKEN', 'GH_TEST_UNSET_ADMIN_TOKEN'));
  const child = spawnCli(['run', '-c', file]);
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const { code, stderr } = await collect(child);
  assert.equal(code, 1);
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /warning: environment variable GH_TEST_UNSET_ADMIN_TOKEN is not set here: the admin API will not start without its token at admin\.token_env/);
  assert.match(stderr, /environment variable GH_TEST_UNSET_ADMIN_TOKEN \(the admin API's token\) is not set or empty at admin\.token_env/);
});

test('admin: a server on its scheme\'s default port is `host:80` in the listing, the API and a reload plan alike: adding it again is a 409', async (t) => {
  const gh = createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_ADMIN_TOKEN' },
    upstreams: { app: { servers: ['http://127.0.0.2'] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  }, { logger: silent });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  const base = `${gh.adminUrl()!}/api/upstreams/app/servers`;
  const listed = (json(await send(`${gh.adminUrl()!}/api/upstreams`, { headers: auth })).upstreams as UpstreamInfo[])[0]!.servers;
  assert.deepEqual(listed.map((s) => s.id), ['127.0.0.2:80']);
  assertError(await post(base, '{"url": "http://127.0.0.2"}'), 409, 'GH_ADMIN_SERVER_EXISTS', /already has server "127\.0\.0\.2:80"/);
  assertError(await post(base, '{"url": "http://127.0.0.2:80"}'), 409, 'GH_ADMIN_SERVER_EXISTS');
  assert.equal(json(await post(`${base}/127.0.0.2:80/drain`)).draining, true);
});
