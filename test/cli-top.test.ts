/**
 * `gatehouse top`: a frame of live figures from a real proxy's admin API (`--once`), the token, an unreachable
 * admin API; and the pieces it reads with: the Prometheus text reader and the histogram quantile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePromText } from '../src/cli/prom-text.js';
import { figures, quantile } from '../src/cli/top-figures.js';
import { send } from './helpers/client.js';
import { collect, runCli, spawnCli } from './helpers/cli.js';
import { freePort, startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const TOKEN = 'top-test-token';
process.env.GATEHOUSE_TOP_TOKEN = TOKEN;

test('cli top --once: per route rps, errors and latency, per server state and in flight, from a running proxy', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const { gh, url } = await startProxy(t, {
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_TOP_TOKEN' },
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { name: 'api', match: { path: '/api/' }, proxy: { upstream: 'app' } },
      { name: 'gone', match: { path: '/gone' }, respond: { status: 503 } },
    ],
  });
  const admin = gh.adminUrl()!;
  for (let i = 0; i < 5; i++) await send(`${url}/api/x`);
  const child = collect(spawnCli(['top', '--once', '--admin', admin, '--interval', '500ms'], { env: { GATEHOUSE_ADMIN_TOKEN: TOKEN } }));
  // Traffic while it samples: bounded in count and time (the command takes two samples 500 ms apart).
  let done = false;
  void child.then(() => { done = true; });
  const until = Date.now() + 15_000;
  for (let i = 0; i < 2000 && !done && Date.now() < until; i++) {
    await send(`${url}/api/x`);
    await send(`${url}/gone`);
  }
  const r = await child;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, new RegExp(`^gatehouse top  ${admin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  \\d\\d:\\d\\d:\\d\\d  over \\d+\\.\\ds`)); // 0.5 s asked; more on a loaded machine
  assert.match(r.stdout, /^ROUTE +UPSTREAM +RPS +ERR% +P50 +P99$/m);
  assert.match(r.stdout, /^api +app +\d+\.\d +0\.0% +[\d.]+m?s +[\d.]+m?s$/m);
  assert.match(r.stdout, /^gone +- +\d+\.\d +100\.0% +[\d.]+m?s +[\d.]+m?s$/m);
  assert.match(r.stdout, /^UPSTREAM +SERVER +STATE +IN FLIGHT +LATENCY +RPS +P99$/m);
  assert.match(r.stdout, new RegExp(`^app +127\\.0\\.0\\.1:${origin.port} +up +\\d+ +\\d+ms +`, 'm'));
});

test('cli top: a refused token (401) and an unreachable admin API are one clear line and exit 1', async (t) => {
  const { gh } = await startProxy(t, { admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_TOP_TOKEN' } });
  const wrong = await runCli(['top', '--once', '--admin', gh.adminUrl()!, '--interval', '100ms'], { env: { GATEHOUSE_ADMIN_TOKEN: 'not-it' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^gatehouse: the admin API at http:\/\/127\.0\.0\.1:\d+ refused the token \(401\): GATEHOUSE_ADMIN_TOKEN does not hold the token the proxy was started with\n$/);
  const port = await freePort();
  const down = await runCli(['top', '--once', '--admin', `http://127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`^gatehouse: cannot reach the admin API at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  const usage = await runCli(['top', '--interval', 'soon']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--interval expects a duration/);
});

test('cli top: the Prometheus text reader and the histogram quantile', () => {
  const samples = parsePromText([
    '# HELP x_total Things', '# TYPE x_total counter',
    'x_total{route="a \\"b\\"",upstream=""} 3', 'x_total 1.5e2', 'h_bucket{le="+Inf"} 7', 'bad line {', 'g NaN',
  ].join('\n'));
  assert.deepEqual(samples.map((s) => [s.name, s.labels, s.value]), [
    ['x_total', { route: 'a "b"', upstream: '' }, 3], ['x_total', {}, 150], ['h_bucket', { le: '+Inf' }, 7], ['g', {}, NaN],
  ]);
  // 10 samples: 4 at or below 10 ms, 9 at or below 50 ms, 1 above 100 ms.
  const buckets: [number, number][] = [[0.01, 4], [0.05, 9], [0.1, 9], [Infinity, 10]];
  assert.equal(quantile(buckets, 0.5), 0.01 + 0.04 * (1 / 5));
  assert.equal(quantile(buckets, 0.99), 0.1); // in +Inf: the highest finite bound
  assert.equal(quantile([[0.01, 0], [Infinity, 0]], 0.5), undefined);
});

test('cli top: a counter lower than before is a reset, counted from zero as Prometheus\'s rate() does', () => {
  const sample = (value: number): { name: string; labels: Record<string, string>; value: number } =>
    ({ name: 'gatehouse_http_requests_total', labels: { route: 'api', upstream: 'app', method: 'GET', status_class: '2xx' }, value });
  const f = figures({ at: 0, samples: [sample(100)], upstreams: [] }, { at: 2000, samples: [sample(30)], upstreams: [] });
  assert.equal(f.routes[0]!.rps, 15);
  assert.equal(figures({ at: 0, samples: [sample(100)], upstreams: [] }, { at: 2000, samples: [sample(130)], upstreams: [] }).routes[0]!.rps, 15);
});
