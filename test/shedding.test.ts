import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawRequest, send } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

test('request rules: path traversal after decoding, NUL bytes, bad encoding and oversized cookies get 400; the backend sees nothing', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const { port, url } = await startProxy(t, { upstreams: { app: { servers: [origin.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  for (const target of ['/static/%2e%2e/admin', '/static/..%2fadmin', '/a/%2E%2E%2F%2E%2E/etc/passwd', '/a/..%5cwin.ini', '/file%00.png', '/q?x=%00', '/bad%zz']) {
    const out = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 400/, target);
    assert.match(out, /GH_REQUEST_BLOCKED/, target);
  }
  assert.equal((await send(url, { headers: { cookie: `a=${'x'.repeat(9000)}` } })).status, 400);
  assert.equal(origin.requests.length, 0);
  assert.equal((await send(`${url}/dots..in..names/file..txt`)).status, 200, 'dots inside a segment are fine');
});

test('request rules: deny and allow by method, path, query, header and user agent (403)', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const { url } = await startProxy(t, {
    request_rules: { deny: [{ user_agent: 'sqlmap|nikto' }, { method: ['TRACE'] }, { query: 'union.+select' }, { path: '^/wp-admin' }, { headers: { 'x-debug': '.' } }] },
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/api/' }, request_rules: { allow: [{ method: ['GET', 'HEAD'] }] }, proxy: { upstream: 'app' } },
      { match: {}, proxy: { upstream: 'app' } },
    ],
  });
  assert.equal((await send(url, { headers: { 'user-agent': 'sqlmap/1.7' } })).status, 403);
  assert.equal((await send(url, { method: 'TRACE' })).status, 403);
  assert.equal((await send(`${url}/?id=1+union+all+select+1`)).status, 403);
  assert.equal((await send(`${url}/wp-admin/x.php`)).status, 403);
  assert.equal((await send(url, { headers: { 'x-debug': '1' } })).status, 403);
  assert.equal((await send(`${url}/api/x`, { method: 'DELETE' })).status, 403);
  assert.equal((await send(`${url}/api/x`)).status, 200);
  assert.equal((await send(url)).status, 200);
  assert.equal(origin.requests.length, 2);
});

/** Keeps this process's event loop (the proxy runs in it) lagging as CPU-bound overload would, for `ms`. */
async function lag(ms: number, blockMs = 200): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const until = Date.now() + blockMs;
    while (Date.now() < until) { /* busy */ }
    await new Promise((r) => setTimeout(r, 1));
  }
}

test('load shedding: one slow tick or GC-sized pause never sheds; lag sustained over the window does (503), then service resumes', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  // Thresholds well above what a loaded test machine shows, so only the test's own blocking sheds.
  const { url } = await startProxy(t, { overload: { event_loop_delay: '120ms' }, upstreams: { app: { servers: [origin.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  assert.equal((await send(url)).status, 200);
  // One 300 ms block (the default window is 2 s): a busy moment, not overload.
  await lag(300, 300);
  await new Promise((r) => setTimeout(r, 300)); // the overdue sampling timer runs and sees the lag
  assert.equal((await send(url)).status, 200);
  // Lagging for longer than the window: shed. The requests go while the loop still lags (between its blocks), so
  // a loaded machine that is slow to serve them after the lag cannot let the shedding lapse first.
  const lagging = lag(5000);
  await new Promise((r) => setTimeout(r, 2400));
  let shed = await send(url);
  if (shed.status !== 503) shed = await send(url);
  await lagging;
  assert.equal(shed.status, 503);
  assert.equal((JSON.parse(shed.text) as { code: string }).code, 'GH_OVERLOADED');
  assert.equal(shed.headers['retry-after'], '1');
  await waitFor(async () => (await send(url)).status === 200, 6000, 'service to resume');
});

test('load shedding: window 0 reacts to one sample past the threshold', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const { url } = await startProxy(t, { overload: { event_loop_delay: '120ms', window: '0s' }, upstreams: { app: { servers: [origin.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  assert.equal((await send(url)).status, 200);
  await lag(400, 400);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await send(url)).status, 503);
  await waitFor(async () => (await send(url)).status === 200, 6000, 'service to resume');
});

test('concurrency: past max in flight and a full queue, 503 with Retry-After; queued requests run when a slot frees', async (t) => {
  const origin = await startOrigin(t, (_q, s) => setTimeout(() => s.end('ok'), 200));
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, concurrency: { max: 2, queue: 1, queue_timeout: '2s' }, proxy: { upstream: 'app' } }],
  });
  const running = [send(url), send(url)];
  await waitFor(() => origin.requests.length === 2);
  const queued = send(url);
  await new Promise((r) => setTimeout(r, 20));
  const rejected = await send(url);
  assert.equal(rejected.status, 503);
  assert.equal(rejected.headers['retry-after'], '1');
  for (const r of await Promise.all([...running, queued])) assert.equal(r.status, 200);
});
