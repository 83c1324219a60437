import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { startLoad } from './helpers/load.js';
import { freePort, waitFor } from './helpers/origin.js';
import { startOriginProcess } from './helpers/origin-process.js';
import { startProxy } from './helpers/proxy.js';

async function threeOrigins(t: Parameters<typeof startOriginProcess>[0]) {
  return Promise.all(['o1', 'o2', 'o3'].map(async (name) => startOriginProcess(t, await freePort(), name)));
}

const upstream = (urls: string[], extra: Record<string, unknown> = {}) => ({
  balance: 'round_robin' as const,
  retries: 2,
  health: {
    active: { path: '/healthz', interval: '1s', timeout: '500ms', rise: 2, fall: 2 },
    passive: { failures: 3, ejection: '10s' },
  },
  servers: urls,
  ...extra,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('failover: SIGKILL one of three origins under load: zero failed requests; restarted, it is back within two check intervals', { timeout: 60_000 }, async (t) => {
  const origins = await threeOrigins(t);
  const { gh, url } = await startProxy(t, { upstreams: { app: upstream(origins.map((o) => o.url)) }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  const load = startLoad(url, { connections: 20, maxMs: 20_000 });
  await waitFor(() => load.result.total > 700, 10_000, 'load to ramp up');
  origins[1]!.kill();
  await waitFor(() => load.result.total > 2200, 15_000, '2,000+ requests');
  const killedAt = Date.now();
  await waitFor(() => !gh.upstreams()[0]!.servers[1]!.up, 5000, 'the killed origin to be marked down');
  await origins[1]!.restart();
  const restartedAt = Date.now();
  await waitFor(() => load.result.log.some((l) => l.body === 'o2' && l.at > restartedAt), 2500, 'traffic back to the restarted origin');
  const r = await load.stop();
  assert.deepEqual(r.failures, [], `failed requests out of ${r.total}`);
  assert.ok(r.total >= 2000, `${r.total} requests`);
  t.diagnostic(`${r.total} requests, back ${Date.now() - restartedAt} ms after restart, down ${restartedAt - killedAt} ms`);
});

test('failover: an origin that starts answering 500 is ejected, and no 500 reaches a client', { timeout: 60_000 }, async (t) => {
  const origins = await threeOrigins(t);
  const { gh, url } = await startProxy(t, { upstreams: { app: upstream(origins.map((o) => o.url)) }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  const load = startLoad(url, { connections: 20, maxMs: 20_000 });
  await waitFor(() => load.result.total > 500, 10_000);
  await origins[2]!.mode('500');
  await waitFor(() => !gh.upstreams()[0]!.servers[2]!.up, 5000, 'the failing origin to be ejected');
  await waitFor(() => load.result.total > 2200, 15_000);
  const r = await load.stop();
  assert.deepEqual(r.failures, []);
  const health = gh.upstreams()[0]!.servers[2]!.health;
  assert.ok(health.ejections >= 1 || !health.active);
});

test('failover: an origin that hangs times out, requests go elsewhere, and it is taken down', { timeout: 60_000 }, async (t) => {
  const origins = await threeOrigins(t);
  const { gh, url } = await startProxy(t, {
    upstreams: { app: upstream(origins.map((o) => o.url), { timeouts: { response_headers: '700ms' } }) },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const load = startLoad(url, { connections: 20, maxMs: 25_000 });
  await waitFor(() => load.result.total > 500, 10_000);
  await origins[0]!.mode('hang');
  await waitFor(() => !gh.upstreams()[0]!.servers[0]!.up, 5000, 'the hung origin to be taken down');
  await waitFor(() => load.result.total > 2200, 20_000);
  const r = await load.stop();
  assert.deepEqual(r.failures, []);
});

test('every server down: 503 with Retry-After at once, without waiting on connect timeouts', async (t) => {
  const [p1, p2] = [await freePort(), await freePort()];
  const { gh, url } = await startProxy(t, {
    upstreams: { app: upstream([`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`], { health: { active: { path: '/', interval: '100ms', timeout: '100ms', fall: 1, rise: 1 } } }) },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  await waitFor(() => gh.upstreams()[0]!.servers.every((s) => !s.up), 3000, 'both servers down');
  const started = Date.now();
  const r = await send(url);
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal((JSON.parse(r.text) as { code: string }).code, 'GH_UPSTREAM_UNAVAILABLE');
  assert.ok(Date.now() - started < 200);
});

test('backup servers take traffic only when every primary is down', async (t) => {
  const origins = await threeOrigins(t);
  const { gh, url } = await startProxy(t, {
    upstreams: { app: upstream([], { servers: [origins[0]!.url, origins[1]!.url, { url: origins[2]!.url, backup: true }], health: { active: { path: '/', interval: '200ms', timeout: '200ms', fall: 1, rise: 1 } } }) },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const bodies = async (n: number) => { const s = new Set<string>(); for (let i = 0; i < n; i++) s.add((await send(url)).text); return s; };
  assert.deepEqual([...(await bodies(10))].sort(), ['o1', 'o2']);
  origins[0]!.kill();
  origins[1]!.kill();
  await waitFor(() => !gh.upstreams()[0]!.servers[0]!.up && !gh.upstreams()[0]!.servers[1]!.up, 3000);
  assert.deepEqual([...(await bodies(5))], ['o3']);
  await origins[0]!.restart();
  await waitFor(() => gh.upstreams()[0]!.servers[0]!.up, 3000);
  await sleep(50);
  assert.deepEqual([...(await bodies(5))], ['o1']);
});
