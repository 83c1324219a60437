/**
 * `GET /metrics` on the admin API (observe/metrics.ts): exact counts and labels for known traffic, the duration
 * histogram, server health, the token, and a group of workers whose figures add up across them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { groupConfig, startGroup } from './helpers/group.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { sampleKey as key, samples, scrape as scrapeWith } from './helpers/metrics.js';

const TOKEN = 'metrics-test-token';
process.env.GATEHOUSE_METRICS_TOKEN = TOKEN;
const AUTH = { authorization: `Bearer ${TOKEN}` };

const scrape = (admin: string): Promise<Map<string, number>> => scrapeWith(admin, AUTH);
const req = (route: string, upstream: string, method: string, cls: string): string =>
  key('gatehouse_http_requests_total', { route, upstream, method, status_class: cls });
const count = (route: string, upstream: string, cls: string): string =>
  key('gatehouse_http_request_duration_seconds_count', { route, upstream, status_class: cls });

test('metrics: requests by route, upstream, method and status class, exact; durations; server up then down; the token', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const { url, gh } = await startProxy(t, {
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_METRICS_TOKEN' },
    upstreams: { app: { servers: [origin.url], health: { active: { path: '/', interval: '100ms', timeout: '100ms', fall: 1, rise: 1 } } } },
    routes: [
      { name: 'api', match: { path: '/api/' }, proxy: { upstream: 'app' } },
      { name: 'gone', match: { path: '/gone' }, respond: { status: 404, body: 'gone' } },
      { match: { path: '/old' }, redirect: { to: '/new', status: 301 } },
    ],
  });
  const admin = gh.adminUrl()!;
  for (let i = 0; i < 3; i++) assert.equal((await send(`${url}/api/x?i=${i}`)).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await send(`${url}/gone`)).status, 404);
  assert.equal((await send(`${url}/api/y`, { method: 'POST', body: 'hi' })).status, 200);
  // A method outside the standard ones is counted as `other`: labels stay bounded whatever clients send.
  assert.equal((await send(`${url}/gone`, { method: 'PROPFIND' })).status, 404);
  assert.equal((await send(`${url}/old`)).status, 301);

  // Without the token, nothing: 401 as on /api/.
  const bare = await send(`${admin}/metrics`);
  assert.equal(bare.status, 401);
  assert.equal(JSON.parse(bare.text).code, 'GH_ADMIN_UNAUTHORIZED');

  const m = await scrape(admin);
  assert.deepEqual(samples(m, 'gatehouse_http_requests_total'), new Map([
    [req('api', 'app', 'GET', '2xx'), 3],
    [req('api', 'app', 'POST', '2xx'), 1],
    [req('gone', '', 'GET', '4xx'), 2],
    [req('gone', '', 'other', '4xx'), 1],
    [req('routes[2]', '', 'GET', '3xx'), 1],
  ]));
  assert.deepEqual(samples(m, 'gatehouse_http_request_duration_seconds_count'), new Map([
    [count('api', 'app', '2xx'), 4], [count('gone', '', '4xx'), 3], [count('routes[2]', '', '3xx'), 1],
  ]));
  assert.equal(m.get(key('gatehouse_http_request_duration_seconds_bucket', { route: 'api', upstream: 'app', status_class: '2xx', le: '+Inf' })), 4);
  assert.ok(m.get(key('gatehouse_http_request_duration_seconds_sum', { route: 'api', upstream: 'app', status_class: '2xx' }))! > 0);
  assert.equal(m.get(key('gatehouse_http_requests_in_flight', {})), 0);
  const up = key('gatehouse_upstream_server_up', { upstream: 'app', server: origin.authority });
  assert.equal(m.get(up), 1);

  // The origin goes away: the active check marks it down, and the gauge says 0.
  await origin.close();
  await waitFor(async () => (await scrape(admin)).get(up) === 0, 5000, 'server_up to turn 0');
});

test('metrics: workers: 2 — the primary sums every worker\'s counts, exactly', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const g = await startGroup(t, (p, a) => groupConfig(p, a, origin.url, 'GATEHOUSE_METRICS_TOKEN'), { GATEHOUSE_METRICS_TOKEN: TOKEN, NODE_CLUSTER_SCHED_POLICY: 'rr' });
  const port = new URL(g.url).port;
  const adminPort = new URL(g.admin).port;

  // One connection per request: node:cluster's round robin (rr) hands connections to the workers in turn. Each worker keeps its own
  // pool to the origin, so sequential requests arriving on two origin connections came through both workers.
  const N = 20;
  for (let i = 0; i < N; i++) assert.equal((await send(`http://127.0.0.1:${port}/x`)).status, 200);
  const originSockets = new Set(origin.requests.map((r) => `${r.socket.remoteAddress}:${r.socket.remotePort}`));
  assert.ok(originSockets.size >= 2, `the requests went through one worker only (${originSockets.size} origin connection)`);

  const m = await scrape(`http://127.0.0.1:${adminPort}`);
  assert.deepEqual(samples(m, 'gatehouse_http_requests_total'), new Map([[req('api', 'app', 'GET', '2xx'), N]]));
  assert.equal(m.get(count('api', 'app', '2xx')), N);
  // Up in every worker: min(1, 1) = 1, not 2.
  assert.equal(m.get(key('gatehouse_upstream_server_up', { upstream: 'app', server: origin.authority })), 1);
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('metrics: workers: 2 — the group\'s counters never fall: a worker killed (SIGKILL) or replaced (POST /api/restart) keeps its counts', async (t) => {
  const held: (() => void)[] = [];
  const origin = await startOrigin(t, (q, s) => { if (q.url === '/slow') held.push(() => s.end('slow')); else s.end('ok'); });
  const g = await startGroup(t, (p, a) => groupConfig(p, a, origin.url, 'GATEHOUSE_METRICS_TOKEN', '10s'), { GATEHOUSE_METRICS_TOKEN: TOKEN, NODE_CLUSTER_SCHED_POLICY: 'rr' });
  const attempts = key('gatehouse_upstream_request_duration_seconds_count', { upstream: 'app', server: origin.authority, status_class: '2xx' });
  const figures = (m: Map<string, number>): number[] => [m.get(req('api', 'app', 'GET', '2xx')) ?? 0, m.get(count('api', 'app', '2xx')) ?? 0, m.get(attempts) ?? 0];
  // One connection per request, dealt to the workers in turn (rr): both count some.
  const N = 20;
  for (let i = 0; i < N; i++) assert.equal((await send(`${g.url}/x`)).status, 200);
  assert.ok(new Set(origin.requests.map((r) => r.socket.remotePort)).size >= 2, 'the requests went through one worker only');
  assert.deepEqual(figures(await scrape(g.admin)), [N, N, N]);

  // Killed: its counts as last scraped stay in the sum (nothing came in since), its gauges do not.
  const victim = g.pids().get(1)!;
  process.kill(victim, 'SIGKILL');
  await waitFor(() => g.pids().get(1) !== victim, 20_000, 'worker 1 to be replaced');
  const killed = await scrape(g.admin);
  assert.deepEqual(figures(killed), [N, N, N]);
  assert.equal(killed.get(key('gatehouse_upstream_server_up', { upstream: 'app', server: origin.authority })), 1);
  assert.equal(killed.get(key('gatehouse_upstream_server_in_flight', { upstream: 'app', server: origin.authority })), 0);

  // Replaced by a rolling restart while a request is in flight: the old worker finishes it, then hands its
  // last counts to the primary as it leaves.
  const old = [...g.pids().values()];
  const slow = send(`${g.url}/slow`, { timeoutMs: 30_000 });
  await waitFor(() => held.length === 1, 5000, 'the slow request at the origin');
  const res = await send(`${g.admin}/api/restart`, { method: 'POST', headers: AUTH });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(figures(await scrape(g.admin)), [N, N, N]);
  held[0]!();
  assert.equal((await slow).text, 'slow');
  await waitFor(() => old.every((pid) => !isAlive(pid)), 20_000, 'the replaced workers to exit');
  assert.deepEqual(figures(await scrape(g.admin)), [N + 1, N + 1, N + 1]);

  // New traffic adds exactly.
  const M = 10;
  for (let i = 0; i < M; i++) assert.equal((await send(`${g.url}/x`)).status, 200);
  assert.deepEqual(figures(await scrape(g.admin)), [N + 1 + M, N + 1 + M, N + 1 + M]);
});
