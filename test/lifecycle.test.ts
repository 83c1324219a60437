import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { ConfigError, createGatehouse } from '../src/index.js';
import { send } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';
import { startProxy } from './helpers/proxy.js';

test('reload swaps routes and upstreams with no failed request; a bad config keeps the old one', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const b = await startOrigin(t, (_q, s) => setTimeout(() => s.end('b'), 5));
  const { gh, url } = await startProxy(t, { upstreams: { app: { servers: [a.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  assert.equal((await send(url)).text, 'a');

  let stop = false;
  const failures: string[] = [];
  const seen = new Set<string>();
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await send(url);
        if (r.status !== 200) failures.push(`${r.status}`);
        seen.add(r.text);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  await gh.reload({ listeners: gh.config.listeners.map((l) => ({ name: l.name, address: l.address })), access_log: { enabled: false }, upstreams: { app: { servers: [b.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  await waitFor(() => seen.has('b'), 3000, 'the new upstream to answer');
  await assert.rejects(
    gh.reload({ listeners: [{ name: 'public', address: '127.0.0.1:0' }], routes: [{ match: {}, proxy: { upstream: 'missing' } }] } as never),
    (err: unknown) => err instanceof ConfigError,
  );
  await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await loop;
  assert.deepEqual(failures, []);
  assert.equal((await send(url)).text, 'b', 'the bad config was not applied');
});

test('access log: one JSON line per request with the documented fields, to a file', async (t) => {
  const dir = tempDir('log');
  const file = join(dir, 'access.log');
  const o = await startOrigin(t, (_q, s) => s.end('hello'));
  const gh = createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }],
    access_log: { path: file },
    upstreams: { app: { servers: [o.url] } },
    routes: [{ name: 'api', match: { path: '/api/' }, proxy: { upstream: 'app' } }],
  }, { logger: pino({ level: 'silent' }) });
  await gh.start();
  await send(`${gh.url()}/api/x?secret=1`, { method: 'POST', body: 'abc', headers: { 'x-request-id': 'req-1', host: 'shop.test' } });
  await send(`${gh.url()}/nope`);
  await gh.stop();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  const [first, second] = lines;
  assert.match(String(first!.time), /^\d{4}-\d\d-\d\dT/);
  assert.equal(first!.reqId, 'req-1');
  assert.equal(first!.client, '127.0.0.1');
  assert.equal(first!.method, 'POST');
  assert.equal(first!.host, 'shop.test');
  assert.equal(first!.path, '/api/x');
  assert.equal(first!.status, 200);
  assert.equal(first!.bytes_in, 3);
  assert.equal(first!.bytes_out, 5);
  assert.equal(first!.route, 'api');
  assert.equal(first!.upstream, 'app');
  assert.equal(first!.server, o.authority);
  assert.equal(typeof first!.duration_ms, 'number');
  assert.equal(typeof first!.upstream_ms, 'number');
  assert.equal(second!.status, 404);
  assert.equal(second!.error, 'GH_ROUTE_NOT_FOUND');
});

test('stop: in-flight requests finish, new connections are refused', async (t) => {
  const o = await startOrigin(t, (_q, s) => setTimeout(() => s.end('done'), 300));
  const { gh, url } = await startProxy(t, { upstreams: { app: { servers: [o.url] } }, routes: [{ match: {}, proxy: { upstream: 'app' } }] });
  const inflight = send(url);
  await waitFor(() => o.requests.length === 1);
  const stopped = gh.stop({ timeoutMs: 5000 });
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.text, 'done');
  await stopped;
  await assert.rejects(send(url), /ECONNREFUSED/);
});
