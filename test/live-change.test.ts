import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { GatehouseConfigInput, ServerInfo } from '../src/index.js';
import { send, type Response } from './helpers/client.js';
import { startDnsServer } from './helpers/dns-server.js';
import { report, slowOn, startLoad, type Load } from './helpers/load.js';
import { startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

type Upstream = NonNullable<GatehouseConfigInput['upstreams']>[string];

const TOKEN = 'live-change-token-7d1e';
process.env.GATEHOUSE_LIVE_TOKEN = TOKEN;
const auth = { authorization: `Bearer ${TOKEN}` };

/** The proxy in front of one upstream `app`, with the admin API on 127.0.0.1:0. */
function config(upstream: Upstream): GatehouseConfigInput {
  return {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], access_log: { enabled: false }, overload: false,
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_LIVE_TOKEN' },
    upstreams: { app: upstream }, routes: [{ match: {}, proxy: { upstream: 'app' } }],
  };
}

/** An origin answering its name, and `/slow` after `slowMs`. */
function named(t: TestContext, name: string, opts: { host?: string; port?: number; slowMs?: number } = {}): Promise<Origin> {
  return startOrigin(t, (q, s) => {
    if (q.url === '/slow') setTimeout(() => s.end(name), opts.slowMs ?? 1200);
    else s.end(name);
  }, opts);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Once `gone` has left the pool: it gets no new request for the rest of the load, and no request failed. */
async function endGone(t: TestContext, load: Load, gone: Origin, message: string): Promise<void> {
  await sleep(100);
  const seen = gone.requests.length;
  await sleep(400);
  const r = await load.stop();
  report(t, r);
  assert.deepEqual(r.failures, []);
  assert.equal(gone.requests.length, seen, message);
}

test('live change: a DNS answer change under load fails no request; the new server gets traffic within 1 s, the removed one finishes its in-flight request', async (t) => {
  const dns = await startDnsServer(t);
  const a = await named(t, 'a', { slowMs: 1500 });
  const b = await named(t, 'b', { host: '127.0.0.2', port: a.port }); // A records carry no port: same port, another address
  dns.set('app.internal', [{ type: 'A', address: '127.0.0.1', ttl: 0 }]);
  const discovery = { dns: 'app.internal', port: a.port, resolver: dns.address, min_ttl: '100ms', max_ttl: '1s', timeout: '300ms' };
  const { gh, url } = await startProxy(t, config({ discovery } as Upstream));
  const ids = (): string[] => gh.registry.get('app')!.servers.map((s) => s.id);
  await waitFor(() => ids().length === 1, 3000, 'the first answer');
  const load = startLoad(url, { connections: 8, maxMs: 10_000, maxRequests: 30_000 });
  const count = (body: string): number => load.result.byBody.get(body) ?? 0;
  await waitFor(() => load.result.total > 50, 3000, 'load to run');
  await sleep(500);

  const slow = await slowOn(url, a);
  dns.set('app.internal', [{ type: 'A', address: '127.0.0.2', ttl: 0 }]);
  await waitFor(() => ids().includes(b.authority), 2000, 'the changed answer to be picked up');
  await waitFor(() => count('b') > 0, 1000, 'the new server to get traffic within 1 s');
  await waitFor(() => !ids().includes(a.authority) || gh.registry.get('app')!.servers.find((s) => s.id === a.authority)!.draining, 1000, 'a to drain');
  const aSeen = a.requests.length;
  await sleep(1000);
  const r = await load.stop();
  report(t, r);
  const done = await Promise.all(slow);
  assert.deepEqual(r.failures, []);
  assert.ok(done.every((x) => x.status === 200));
  assert.ok(done.some((x) => x.text === 'a'), 'the removed server finished its in-flight request');
  assert.equal(a.requests.length, aSeen, 'the removed server got no new request');
  await waitFor(() => ids().length === 1 && ids()[0] === b.authority, 3000, 'a to leave once idle');
});

test('live change: an API server with a TTL under load: renewed it stays past its first TTL, then leaves when the TTL runs out; no request fails', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const servers = `${gh.adminUrl()!}/api/upstreams/app/servers`;
  const add = (): Promise<Response> => send(servers, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url: b.url, ttl: '2s' }) });
  const listed = (): boolean => gh.registry.get('app')!.servers.some((s) => s.id === b.authority);
  const load = startLoad(url, { connections: 8, maxMs: 12_000, maxRequests: 40_000 });
  const count = (body: string): number => load.result.byBody.get(body) ?? 0;
  await waitFor(() => load.result.total > 50, 3000, 'load to run');

  const first = await add();
  assert.equal(first.status, 201, first.text);
  const firstExpiry = (JSON.parse(first.text) as ServerInfo).expires_at!;
  await waitFor(() => count('b') > 0, 1000, 'the added server to get traffic within 1 s');
  await sleep(1000);
  const renewed = await add();
  assert.equal(renewed.status, 200, renewed.text);
  const expiry = (JSON.parse(renewed.text) as ServerInfo).expires_at!;
  assert.ok(expiry > firstExpiry, 'the renewal moved the expiry');

  // Past the first expiry: still listed, still served.
  await sleep(firstExpiry + 300 - Date.now());
  assert.ok(listed(), 'renewed: not gone at its first expiry');
  const bPast = count('b');
  await waitFor(() => count('b') > bPast, 1000, 'the renewed server to keep getting traffic');

  // It leaves when the renewed TTL runs out, not before.
  await waitFor(() => !listed(), expiry - Date.now() + 2000, 'the renewed TTL to run out');
  const leftAt = Date.now();
  assert.ok(leftAt >= expiry, `left ${expiry - leftAt} ms before its expiry`);
  await endGone(t, load, b, 'an expired server gets no new request');
  assert.ok(count('a') > 0);
});

test('live change: add, drain, enable and delete a server through the admin API over HTTP under load; no request fails', async (t) => {
  const a = await named(t, 'a', { slowMs: 10 });
  const b = await named(t, 'b', { slowMs: 1200 });
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const api = `${gh.adminUrl()!}/api/upstreams/app/servers`;
  const call = (method: string, path: string, body?: string): Promise<Response> =>
    send(`${api}${path}`, { method, headers: { ...auth, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
  const info = async (): Promise<ServerInfo | undefined> =>
    (JSON.parse((await send(`${gh.adminUrl()!}/api/upstreams`, { headers: auth })).text) as { upstreams: { servers: ServerInfo[] }[] }).upstreams[0]!.servers.find((s) => s.id === b.authority);
  const load = startLoad(url, { connections: 8, maxMs: 12_000, maxRequests: 40_000 });
  const count = (body: string): number => load.result.byBody.get(body) ?? 0;
  await waitFor(() => load.result.total > 50, 3000, 'load to run');

  const added = await call('POST', '', JSON.stringify({ url: b.url }));
  assert.equal(added.status, 201, added.text);
  await waitFor(() => count('b') > 0, 1000, 'the added server to get traffic within 1 s');

  const slow = await slowOn(url, b);
  const drained = await call('POST', `/${b.authority}/drain`);
  assert.deepEqual([drained.status, (JSON.parse(drained.text) as ServerInfo).draining], [200, true]);
  await sleep(100);
  const bSeen = b.requests.length;
  assert.ok((await Promise.all(slow)).every((x) => x.status === 200), 'in-flight requests on the drained server finish');
  await waitFor(async () => (await info())?.idle === true, 2000, 'the drained server to be idle');
  assert.equal(b.requests.length, bSeen, 'a drained server gets no new request');

  const enabled = await call('POST', `/${b.authority}/enable`);
  assert.deepEqual([enabled.status, (JSON.parse(enabled.text) as ServerInfo).draining], [200, false]);
  const before = count('b');
  await waitFor(() => count('b') > before, 1000, 'the enabled server to get traffic again within 1 s');

  const deleted = await call('DELETE', `/${b.authority}`);
  // Answered once draining has begun; the server leaves when its slow requests have ended.
  assert.equal(deleted.status, 202, deleted.text);
  assert.deepEqual([JSON.parse(deleted.text).draining, JSON.parse(deleted.text).removing], [true, true]);
  await waitFor(async () => (await info()) === undefined, 5000, 'the deleted server to leave once idle');
  await endGone(t, load, b, 'a deleted server gets no new request');
  assert.ok(count('a') > 0);
});
