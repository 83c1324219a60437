import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryBudget } from '../src/upstream/retry-budget.js';
import { send } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';
import { startProxy } from './helpers/proxy.js';

test('retries: a POST is not retried once written; a GET is; a POST with Idempotency-Key is where the route opts in', async (t) => {
  const hits: string[] = [];
  const flaky = await startOrigin(t, (req, res) => {
    hits.push(`flaky ${req.method}`);
    req.socket.destroy(); // reset before any response byte
    void res;
  });
  const good = await startOrigin(t, (req, res) => {
    hits.push(`good ${req.method}`);
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => res.end(`ok ${body}`));
  });
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [flaky.url, good.url] } },
    routes: [
      { match: { path: '/keyed/' }, proxy: { upstream: 'app', retry_with_idempotency_key: true } },
      { match: {}, proxy: { upstream: 'app' } },
    ],
  });
  // Round robin: the first request of each pair goes to the flaky server.
  const get = await send(`${url}/x`);
  assert.equal(get.status, 200);
  assert.equal(get.text, 'ok ');
  const post = await send(`${url}/x`, { method: 'POST', body: 'payment' });
  assert.equal(post.status, 200, 'second request of the round goes to the good server');
  const post2 = await send(`${url}/x`, { method: 'POST', body: 'payment' });
  assert.equal(post2.status, 502, 'a POST that reached a server is not replayed');
  const keyed = await send(`${url}/keyed/x`, { method: 'POST', body: 'payment', headers: { 'idempotency-key': 'k-1' } });
  assert.equal(keyed.status, 200);
  assert.equal(keyed.text, 'ok payment', 'the buffered body was replayed whole');
});

test('retries: every attempt is in the access log line', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = tempDir('retry');
  const bad = await startOrigin(t, (_q, res) => { res.statusCode = 503; res.end('down'); });
  const good = await startOrigin(t, (_q, res) => res.end('fine'));
  const { gh, url } = await startProxy(t, {
    access_log: { path: join(dir, 'access.log') },
    upstreams: { app: { servers: [bad.url, good.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const r = await send(url);
  assert.equal(r.status, 200);
  assert.equal(r.text, 'fine', 'the 503 never reached the client');
  await gh.stop();
  const line = JSON.parse(readFileSync(join(dir, 'access.log'), 'utf8').trim()) as { attempts: { server: string; outcome: string; ms: number }[]; server: string };
  assert.deepEqual(line.attempts.map((a) => [a.server, a.outcome]), [[bad.authority, '503'], [good.authority, '200']]);
  assert.equal(line.server, good.authority);
});

test('retries: a 5xx is passed on when there is no other server to try', async (t) => {
  const bad = await startOrigin(t, (_q, res) => { res.statusCode = 503; res.end('maintenance'); });
  const { url } = await startProxy(t, { upstreams: { app: { servers: [bad.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  const r = await send(url);
  assert.equal(r.status, 503);
  assert.equal(r.text, 'maintenance');
});

test('retry budget: extra attempts at most 20% of requests over the window, with a floor', () => {
  const b = retryBudget({ percent: 20, windowMs: 10_000, minRetries: 3 });
  let granted = 0;
  for (let i = 0; i < 3; i++) if (b.tryRetry()) granted++;
  assert.equal(granted, 3, 'the floor allows a few retries with no traffic');
  assert.equal(b.tryRetry(), false);
  for (let i = 0; i < 100; i++) b.request();
  granted = 0;
  for (let i = 0; i < 50; i++) if (b.tryRetry()) granted++;
  assert.equal(granted, 17, '20 of 100 requests, 3 already spent');
});

test('circuit breaking: past max_requests, 503 at once', async (t) => {
  const slow = await startOrigin(t, (_q, res) => setTimeout(() => res.end('slow'), 300));
  const { url } = await startProxy(t, { upstreams: { app: { servers: [slow.url], max_requests: 2 } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  const first = [send(url), send(url)];
  await waitFor(() => slow.requests.length === 2);
  const started = Date.now();
  const third = await send(url);
  assert.equal(third.status, 503);
  assert.equal((JSON.parse(third.text) as { code: string }).code, 'GH_UPSTREAM_OVERLOADED');
  assert.equal(third.headers['retry-after'], '1');
  assert.ok(Date.now() - started < 150);
  for (const r of await Promise.all(first)) assert.equal(r.status, 200);
});

test('circuit breaking: past max_pending (requests queued behind max_connections), 503 at once', async (t) => {
  const slow = await startOrigin(t, (_q, res) => setTimeout(() => res.end('slow'), 300));
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [{ url: slow.url, max_connections: 1 }], max_pending: 1 } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const a = send(url);
  await waitFor(() => slow.requests.length === 1);
  const b = send(url); // queued
  await new Promise((r) => setTimeout(r, 30));
  const c = await send(url);
  assert.equal(c.status, 503);
  assert.equal((await a).status, 200);
  assert.equal((await b).status, 200);
});

test('mirroring: a copy goes to the mirror upstream; a slow or failing mirror never delays the real request', async (t) => {
  const mirrored: string[] = [];
  const main = await startOrigin(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => res.end(`main ${body}`));
  });
  const shadow = await startOrigin(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => { mirrored.push(`${req.method} ${req.url} ${body}`); setTimeout(() => res.end('ignored'), 1000); });
  });
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [main.url] }, shadow: { servers: [shadow.url] } },
    routes: [{ match: {}, mirror: { upstream: 'shadow', percent: 100 }, proxy: { upstream: 'app' } }],
  });
  const started = Date.now();
  const r = await send(`${url}/orders?x=1`, { method: 'POST', body: 'order-1' });
  assert.equal(r.text, 'main order-1');
  assert.ok(Date.now() - started < 500, 'the slow mirror did not delay the answer');
  await waitFor(() => mirrored.length === 1);
  assert.deepEqual(mirrored, ['POST /orders?x=1 order-1']);
  await shadow.close();
  const again = await send(`${url}/orders`);
  assert.equal(again.status, 200, 'a dead mirror does not fail the request');
});

test('status API: upstreams() shows each server, up or down, with its health', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const { gh } = await startProxy(t, {
    upstreams: { app: { servers: [a.url, { url: 'http://127.0.0.1:1', weight: 2, backup: true }], health: { active: { path: '/', interval: '100ms', timeout: '100ms', fall: 1 } } } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  await waitFor(() => gh.upstreams()[0]!.servers[1]!.up === false, 3000);
  const [app] = gh.upstreams();
  assert.equal(app!.name, 'app');
  assert.deepEqual(app!.servers.map((s) => [s.url, s.up, s.backup, s.weight]), [[a.url, true, false, 1], ['http://127.0.0.1:1', false, true, 2]]);
  assert.equal(app!.servers[1]!.health.active, false);
});
