/**
 * `GET /metrics` beyond requests (observe/): known traffic and exact counts of every figure it moves — attempts per
 * server, retries, body bytes, refusals by reason, connections, config reloads (and `last_reload` in
 * `GET /api/config`) — then the refusals made outside the pipeline (connection caps, node:http's 431 and 408),
 * TLS handshakes and certificate expiry, and a group of workers whose figures are merged.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import { createGatehouse, loadConfig } from '../src/index.js';
import { aggregateMetrics, groupMetrics, type MetricsJson } from '../src/observe/index.js';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { rawRequest, send } from './helpers/client.js';
import { groupConfig, startGroup } from './helpers/group.js';
import { parseMetrics, sampleKey as key, samples, scrape } from './helpers/metrics.js';
import { freePort, startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 'metrics-more-token';
process.env.GATEHOUSE_METRICS_MORE_TOKEN = TOKEN;
const AUTH = { authorization: `Bearer ${TOKEN}` };

const REASONS = ['rate_limited', 'connection_limit', 'overloaded', 'upstream_overflow', 'body_too_large', 'headers_too_large',
  'uri_too_long', 'ip_denied', 'auth_failed', 'request_rules', 'client_timeout', 'bad_request'];

/** Every refusal reason at 0 but the ones given. */
function rejections(counts: Record<string, number>): Map<string, number> {
  return new Map(REASONS.map((reason) => [key('gatehouse_rejections_total', { reason }), counts[reason] ?? 0]));
}

/** A proxy started from a config file (so that `POST /api/reload` reads it again). */
async function startFromFile(t: TestContext, text: string): Promise<{ url: string; admin: string; file: string }> {
  const file = join(tempDir('metrics'), 'gatehouse.yaml');
  writeFileSync(file, text);
  const gh = createGatehouse(await loadConfig(file), { configPath: file, logger: pino({ level: 'silent' }) });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  return { url: gh.url(), admin: gh.adminUrl()!, file };
}

test('metrics: known traffic, exact counts: attempts per server, retries, bytes, refusals by reason, connections, reloads', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const [deadA, deadB] = [await freePort(), await freePort()];
  const { url, admin, file } = await startFromFile(t, `listeners: [{ name: public, address: "127.0.0.1:0" }]
admin: { address: "127.0.0.1:0", token_env: GATEHOUSE_METRICS_MORE_TOKEN }
access_log: { enabled: false }
overload: false
reload: { watch: false }
upstreams:
  app: { servers: ["${origin.url}"] }
  dead: { servers: ["http://127.0.0.1:${deadA}", "http://127.0.0.1:${deadB}"], health: { passive: { failures: 1 } } }
routes:
  - { name: api, match: { path: /api/ }, proxy: { upstream: app } }
  - { name: gone, match: { path: /gone }, respond: { status: 404, body: gone } }
  - { name: down, match: { path: /down }, proxy: { upstream: dead } }
  - { name: limited, match: { path: /limited }, rate_limit: { rate: 1/m }, respond: { status: 200, body: ok } }
  - { name: upload, match: { path: /upload }, limits: { body_size: 10 }, proxy: { upstream: app } }
`);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await send(`${url}/api/x`)).status);
  statuses.push((await send(`${url}/api/echo`, { method: 'POST', body: 'hello' })).status);
  for (let i = 0; i < 2; i++) statuses.push((await send(`${url}/gone`)).status);
  statuses.push((await send(`${url}/down`)).status);
  for (let i = 0; i < 3; i++) statuses.push((await send(`${url}/limited`)).status);
  statuses.push((await send(`${url}/upload`, { method: 'POST', body: 'x'.repeat(100) })).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 404, 404, 502, 200, 429, 429, 413]);

  // One reload that applies, one whose file is invalid.
  assert.equal((await send(`${admin}/api/reload`, { method: 'POST', headers: AUTH })).status, 200);
  writeFileSync(file, `${readFileSync(file, 'utf8')}\nroutes_typo: 1\n`);
  assert.equal((await send(`${admin}/api/reload`, { method: 'POST', headers: AUTH })).status, 422);

  const m = await scrape(admin, AUTH);
  const req = (route: string, upstream: string, method: string, cls: string): string =>
    key('gatehouse_http_requests_total', { route, upstream, method, status_class: cls });
  assert.deepEqual(samples(m, 'gatehouse_http_requests_total'), new Map([
    [req('api', 'app', 'GET', '2xx'), 3], [req('api', 'app', 'POST', '2xx'), 1], [req('gone', '', 'GET', '4xx'), 2],
    [req('down', 'dead', 'GET', '5xx'), 1], [req('limited', '', 'GET', '2xx'), 1], [req('limited', '', 'GET', '4xx'), 2],
    [req('upload', 'app', 'POST', '4xx'), 1],
  ]));
  // One observation per attempt: 4 answered by the origin; the failed request tried both dead servers (one retry).
  const attempts = (upstream: string, server: string, cls: string): string =>
    key('gatehouse_upstream_request_duration_seconds_count', { upstream, server, status_class: cls });
  assert.deepEqual(samples(m, 'gatehouse_upstream_request_duration_seconds_count'), new Map([
    [attempts('app', origin.authority, '2xx'), 4],
    [attempts('dead', `127.0.0.1:${deadA}`, 'error'), 1],
    [attempts('dead', `127.0.0.1:${deadB}`, 'error'), 1],
  ]));
  assert.equal(m.get(key('gatehouse_upstream_request_duration_seconds_bucket', { upstream: 'app', server: origin.authority, status_class: '2xx', le: '+Inf' })), 4);
  assert.deepEqual(samples(m, 'gatehouse_upstream_retries_total'), new Map([[key('gatehouse_upstream_retries_total', { upstream: 'dead' }), 1]]));
  assert.deepEqual(samples(m, 'gatehouse_upstream_retry_budget_exhausted_total'), new Map());
  // Body bytes: "hello" in; "ok" out for each of the 4 proxied answers.
  assert.equal(m.get(key('gatehouse_http_request_bytes_total', { route: 'api', upstream: 'app' })), 5);
  assert.equal(m.get(key('gatehouse_http_response_bytes_total', { route: 'api', upstream: 'app' })), 8);
  assert.equal(m.get(key('gatehouse_http_response_bytes_total', { route: 'gone', upstream: '' })), 8);
  assert.deepEqual(samples(m, 'gatehouse_rejections_total'), rejections({ rate_limited: 2, body_too_large: 1 }));
  // Every request came on a connection of its own.
  assert.deepEqual(samples(m, 'gatehouse_connections_total'), new Map([[key('gatehouse_connections_total', { listener: 'public' }), 11]]));
  assert.ok(m.has(key('gatehouse_connections_open', { listener: 'public' })));
  for (const [name, v] of [['gatehouse_upstream_server_in_flight', 0], ['gatehouse_upstream_server_circuit_open', 0], ['gatehouse_upstream_server_ejections_total', 0]] as const) {
    assert.equal(m.get(key(name, { upstream: 'app', server: origin.authority })), v, name);
  }
  // Passive health ejected the first dead server tried (one failure each; at most half of them ejected at once).
  const dead = (name: string): number[] => [deadA, deadB].map((p) => m.get(key(name, { upstream: 'dead', server: `127.0.0.1:${p}` }))!).sort();
  assert.deepEqual(dead('gatehouse_upstream_server_circuit_open'), [0, 1]);
  assert.deepEqual(dead('gatehouse_upstream_server_ejections_total'), [0, 1]);
  assert.deepEqual(dead('gatehouse_upstream_server_up'), [0, 1]);
  assert.deepEqual(samples(m, 'gatehouse_config_reloads_total'), new Map([
    [key('gatehouse_config_reloads_total', { result: 'success' }), 1], [key('gatehouse_config_reloads_total', { result: 'failure' }), 1],
  ]));
  assert.equal(m.get(key('gatehouse_config_version')), 2);
  assert.equal(m.get(key('gatehouse_config_last_reload_successful')), 0);
  const since = m.get(key('gatehouse_config_last_reload_success_timestamp_seconds'))!;
  assert.ok(Math.abs(since - Date.now() / 1000) < 60, String(since));
  assert.deepEqual(samples(m, 'gatehouse_tls_handshakes_total'), new Map([
    [key('gatehouse_tls_handshakes_total', { result: 'ok' }), 0], [key('gatehouse_tls_handshakes_total', { result: 'failed' }), 0],
  ]));

  // The last reload, for a dashboard: GET /api/config `last_reload`.
  const cfg = JSON.parse((await send(`${admin}/api/config`, { headers: AUTH })).text) as { version: number; last_reload: { at: string; result: string; error: string; version: number } };
  assert.equal(cfg.version, 2);
  assert.equal(cfg.last_reload.result, 'failure');
  assert.equal(cfg.last_reload.version, 2);
  assert.match(cfg.last_reload.error, /routes_typo/);
  assert.ok(Math.abs(Date.parse(cfg.last_reload.at) - Date.now()) < 60_000, cfg.last_reload.at);
});

test('metrics: refusals outside the pipeline — connection cap, 431 from the parser (RFC 6585 5), 408 head timeout (RFC 9110 15.5.9)', async (t) => {
  const { url, gh } = await startProxy(t, {
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_METRICS_MORE_TOKEN' },
    limits: { connections_per_client: 1, header_size: 1024, header_timeout: '1s' },
    routes: [{ match: { path: '/' }, respond: { status: 200 } }],
  });
  const admin = gh.adminUrl()!;
  const port = Number(new URL(url).port);
  const open = async (): Promise<number | undefined> => (await scrape(admin, AUTH)).get(key('gatehouse_connections_open', { listener: 'public' }));

  // A second connection from the same address is closed at once.
  const first = connect(port, '127.0.0.1');
  await waitFor(async () => (await open()) === 1, 5000, 'the first connection to be open');
  const second = connect(port, '127.0.0.1');
  second.on('error', () => undefined);
  await new Promise((r) => second.once('close', r));
  first.destroy();
  await waitFor(async () => (await open()) === 0, 5000, 'the connections to close');

  // One connection at a time (the cap): each closes on the proxy's side before the next one opens.
  const big = await rawRequest(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2048)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n$/);
  await waitFor(async () => (await open()) === 0, 5000, 'the connection to close');
  // A head that never ends: 408 once header_timeout has passed (checked every second).
  const slow = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n', 5000);
  assert.match(slow, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  await waitFor(async () => (await open()) === 0, 5000, 'the connection to close');
  const bad = await rawRequest(port, 'NOT HTTP\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400 Bad Request\r\n/);

  const m = await scrape(admin, AUTH);
  assert.deepEqual(samples(m, 'gatehouse_rejections_total'), rejections({ connection_limit: 1, headers_too_large: 1, client_timeout: 1, bad_request: 1 }));
  // Every connection accepted counts, the one closed by the cap too.
  assert.equal(m.get(key('gatehouse_connections_total', { listener: 'public' })), 5);
});

test('metrics: TLS handshakes by result and each certificate host\'s notAfter', async (t) => {
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'a.test', ['a.test', 'www.a.test']);
  const { url, gh } = await startProxy(t, {
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_METRICS_MORE_TOKEN' },
    listeners: [{ name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    routes: [{ match: { path: '/' }, respond: { status: 200 } }],
  });
  const port = Number(new URL(url).port);
  await new Promise<void>((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'a.test', ca: ca.certPem }, () => { s.end(); resolve(); });
    s.on('error', reject);
  });
  // Plain HTTP to a TLS port: no handshake.
  await rawRequest(port, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const admin = gh.adminUrl()!;
  const handshakes = (result: string): string => key('gatehouse_tls_handshakes_total', { result });
  await waitFor(async () => {
    const m = await scrape(admin, AUTH);
    return m.get(handshakes('ok')) === 1 && m.get(handshakes('failed')) === 1;
  }, 5000, 'one handshake of each kind');
  const m = await scrape(admin, AUTH);
  const notAfter = Date.parse(new X509Certificate(leaf.certPem).validTo) / 1000;
  assert.deepEqual(samples(m, 'gatehouse_tls_certificate_expiry_seconds'), new Map([
    [key('gatehouse_tls_certificate_expiry_seconds', { host: 'a.test' }), notAfter],
    [key('gatehouse_tls_certificate_expiry_seconds', { host: 'www.a.test' }), notAfter],
  ]));
  assert.equal(m.get(key('gatehouse_connections_total', { listener: 'secure' })), 2);
});

test('metrics: workers: 2 — attempts, bytes and connections summed over the workers; the primary\'s reloads once', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const g = await startGroup(t, (p, a) => groupConfig(p, a, origin.url, 'GATEHOUSE_METRICS_MORE_TOKEN'), { GATEHOUSE_METRICS_MORE_TOKEN: TOKEN });
  // One connection per request: node:cluster deals them to the workers in turn; two origin connections show that
  // both workers served some.
  const N = 20;
  for (let i = 0; i < N; i++) assert.equal((await send(`${g.url}/x`)).status, 200);
  assert.ok(new Set(origin.requests.map((r) => r.socket.remotePort)).size >= 2, 'the requests went through one worker only');
  assert.equal((await send(`${g.admin}/api/reload`, { method: 'POST', headers: AUTH })).status, 200);
  writeFileSync(g.file, `${readFileSync(g.file, 'utf8')}\nroutes_typo: 1\n`);
  assert.equal((await send(`${g.admin}/api/reload`, { method: 'POST', headers: AUTH })).status, 422);

  const m = await scrape(g.admin, AUTH);
  assert.equal(m.get(key('gatehouse_upstream_request_duration_seconds_count', { upstream: 'app', server: origin.authority, status_class: '2xx' })), N);
  assert.equal(m.get(key('gatehouse_http_response_bytes_total', { route: 'api', upstream: 'app' })), 2 * N);
  assert.equal(m.get(key('gatehouse_connections_total', { listener: 'public' })), N);
  assert.deepEqual(samples(m, 'gatehouse_rejections_total'), rejections({}));
  // Reloads are the primary's, counted once (not once per worker).
  assert.deepEqual(samples(m, 'gatehouse_config_reloads_total'), new Map([
    [key('gatehouse_config_reloads_total', { result: 'success' }), 1], [key('gatehouse_config_reloads_total', { result: 'failure' }), 1],
  ]));
  assert.equal(m.get(key('gatehouse_config_version')), 2);
  assert.equal(m.get(key('gatehouse_config_last_reload_successful')), 0);
  // Gauges merged as each says: in flight summed, up the minimum.
  assert.equal(m.get(key('gatehouse_upstream_server_in_flight', { upstream: 'app', server: origin.authority })), 0);
  assert.equal(m.get(key('gatehouse_upstream_server_up', { upstream: 'app', server: origin.authority })), 1);
  const cfg = JSON.parse((await send(`${g.admin}/api/config`, { headers: AUTH })).text) as { last_reload: { result: string; version: number } };
  assert.deepEqual([cfg.last_reload.result, cfg.last_reload.version], ['failure', 2]);
});

/** One worker's figures as it sends them: a counter, a histogram and a gauge per server, two gauges. */
function workerFigures(requests: number, inflight: number, server = 'a:1'): MetricsJson {
  const s = { upstream: 'u', server };
  const name = 'gatehouse_upstream_request_duration_seconds';
  return [
    { name: 'gatehouse_http_requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ labels: { route: 'r' }, value: requests }] },
    { name, help: 'h', type: 'histogram', aggregator: 'sum', values: [
      { metricName: `${name}_bucket`, labels: { ...s, le: 0.1 }, value: requests }, { metricName: `${name}_bucket`, labels: { ...s, le: '+Inf' }, value: requests },
      { metricName: `${name}_sum`, labels: s, value: requests / 100 }, { metricName: `${name}_count`, labels: s, value: requests },
    ] },
    { name: 'gatehouse_http_requests_in_flight', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value: inflight }] },
    { name: 'gatehouse_upstream_server_up', help: 'h', type: 'gauge', aggregator: 'min', values: [{ labels: s, value: 1 }] },
  ] as unknown as MetricsJson;
}

test('metrics: a group keeps the counts of the workers gone in one sum — counters and histograms, never gauges; the newest figures win; a removed server\'s series end', async () => {
  let clock = 0;
  const g = groupMetrics({ now: () => clock });
  const read = async (): Promise<Map<string, number>> => parseMetrics((await aggregateMetrics(g.lists())).text);
  const count = (server = 'a:1'): string => key('gatehouse_upstream_request_duration_seconds_count', { upstream: 'u', server });
  const total = key('gatehouse_http_requests_total', { route: 'r' });
  g.seen(1, workerFigures(10, 2), 1);
  g.seen(2, workerFigures(5, 1), 2);
  // An older answer (two reads crossing) never replaces a newer one.
  g.seen(1, workerFigures(8, 0), 0);
  let m = await read();
  assert.deepEqual([m.get(total), m.get(count()), m.get(key('gatehouse_http_requests_in_flight'))], [15, 15, 3]);
  g.left(1);
  m = await read();
  assert.deepEqual([m.get(total), m.get(count()), m.get(key('gatehouse_http_requests_in_flight'))], [15, 15, 1]);
  assert.equal(m.get(key('gatehouse_upstream_server_up', { upstream: 'u', server: 'a:1' })), 1);
  // A hundred workers come and go: one sum, not one list each.
  for (let w = 3; w < 103; w++) { g.seen(w, workerFigures(1, 0), w); g.left(w); }
  assert.equal(g.lists().length, 2);
  assert.equal((await read()).get(total), 115);
  // A stopping worker's last figures (order Infinity) win over any answer still on its way; one never read adds nothing.
  g.seen(2, workerFigures(9, 0), Infinity);
  g.seen(2, workerFigures(7, 0), 500);
  g.left(2);
  g.left(999);
  m = await read();
  assert.deepEqual([m.get(total), m.get(count())], [119, 119]);
  // The server leaves every live worker's list: its departed series stay for a while (a new worker may not have
  // found it yet), then end; the route's counts stay.
  g.seen(200, workerFigures(0, 0, 'b:1'), 600);
  assert.equal((await read()).get(count()), 119);
  clock += 5 * 60_000;
  m = await read();
  assert.deepEqual([m.get(total), m.get(count()), m.get(count('b:1'))], [119, undefined, 0]);
});
