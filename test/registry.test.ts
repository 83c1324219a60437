import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { RegistryError, type GatehouseConfigInput } from '../src/index.js';
import { send } from './helpers/client.js';
import { report, slowOn, startLoad } from './helpers/load.js';
import { freePort, startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/tmp.js';

type Upstream = NonNullable<GatehouseConfigInput['upstreams']>[string];

/** The full config a reload takes, on the listener the proxy was started with. */
function config(upstream: Upstream, extra: Partial<GatehouseConfigInput> = {}): GatehouseConfigInput {
  return {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], access_log: { enabled: false }, overload: false,
    upstreams: { app: upstream }, routes: [{ match: {}, proxy: { upstream: 'app' } }], ...extra,
  };
}

/** An origin answering its name, and `/slow` after `slowMs`. */
function named(t: TestContext, name: string, slowMs = 1500): Promise<Origin> {
  return startOrigin(t, (q, s) => {
    if (q.url === '/slow') setTimeout(() => s.end(name), slowMs);
    else s.end(name);
  });
}

/** Counts the connections an origin accepts from now on. */
function connections(o: Origin): () => number {
  let n = 0;
  o.server.on('connection', () => n++);
  return () => n;
}

test('registry: a reload that keeps a server keeps its passive ejection and its pool (no new connection)', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const bad = await startOrigin(t, (_q, s) => { s.statusCode = 500; s.end('bad'); });
  const upstream: Upstream = {
    servers: [a.url, b.url, bad.url], retries: 0,
    health: { passive: { failures: 2, ejection: '30s' } },
  };
  const { gh, url } = await startProxy(t, config(upstream));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 9; i++) await send(url, { agent });
  const badStatus = (): { up: boolean; health: { ejections: number } } => gh.upstreams()[0]!.servers.find((s) => s.url === bad.url)!;
  await waitFor(() => !badStatus().up, 3000, 'the failing server to be ejected');

  const newToA = connections(a);
  const newToB = connections(b);
  await gh.reload(config(upstream, { hide_headers: ['x-powered-by'], routes: [{ match: { path: '/other/' }, proxy: { upstream: 'app' } }, { match: {}, proxy: { upstream: 'app' } }] }));
  const after = [];
  for (let i = 0; i < 10; i++) after.push((await send(url, { agent })).text);
  assert.deepEqual(new Set(after), new Set(['a', 'b']), 'the ejected server gets nothing after the reload');
  assert.equal(badStatus().up, false);
  assert.equal(badStatus().health.ejections, 1);
  assert.equal(newToA() + newToB(), 0, 'kept servers are reached over the connections they had');
});

test('registry: a reload adding a server under load fails no request; the new server takes traffic', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const load = startLoad(url, { connections: 8, maxMs: 8000, maxRequests: 20_000 });
  await waitFor(() => load.result.total > 50, 3000, 'load to run');
  await gh.reload(config({ servers: [a.url, b.url] }));
  await waitFor(() => (load.result.byBody.get('b') ?? 0) > 0, 1000, 'the added server to get traffic within 1 s');
  await new Promise((r) => setTimeout(r, 1000));
  const r = await load.stop();
  report(t, r);
  assert.deepEqual(r.failures, []);
  assert.ok(r.byBody.get('a')! > 0 && r.byBody.get('b')! > 0);
});

test('registry: a reload removing a server under load fails no request; its in-flight slow request ends in 200', async (t) => {
  const a = await named(t, 'a', 10);
  const b = await named(t, 'b', 1500);
  const { gh, url } = await startProxy(t, config({ servers: [a.url, b.url] }));
  const load = startLoad(url, { connections: 8, maxMs: 8000, maxRequests: 20_000 });
  await waitFor(() => load.result.total > 50, 3000, 'load to run');
  const slow = await slowOn(url, b);
  await gh.reload(config({ servers: [a.url] }));
  assert.equal(gh.upstreams()[0]!.servers.find((s) => s.url === b.url)?.draining, true);
  await new Promise((r) => setTimeout(r, 100));
  const bSeen = b.requests.length;
  await new Promise((r) => setTimeout(r, 300));
  const r = await load.stop();
  report(t, r);
  const done = await Promise.all(slow);
  assert.ok(done.every((x) => x.status === 200));
  assert.ok(done.some((x) => x.text === 'b'), 'the removed server finished its slow request');
  assert.deepEqual(r.failures, []);
  assert.equal(b.requests.length, bSeen, 'the removed server got no new request');
  await waitFor(() => gh.upstreams()[0]!.servers.length === 1 && b.openSockets() === 0, 3000, 'b to be closed once idle');
});

test('registry: addServer, drainServer, enableServer, removeServer under load with no failed request', async (t) => {
  const a = await named(t, 'a', 10);
  const b = await named(t, 'b', 1200);
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const load = startLoad(url, { connections: 8, maxMs: 15_000, maxRequests: 50_000 });
  const count = (body: string): number => load.result.byBody.get(body) ?? 0;

  const added = gh.registry.addServer('app', { url: b.url, source: 'api' });
  assert.deepEqual([added.id, added.source, added.draining], [b.authority, 'api', false]);
  await waitFor(() => count('b') > 0, 1000, 'the added server to get traffic');

  // A slow request on b, then b is drained: it finishes, and b gets nothing new.
  const slow = await slowOn(url, b);
  const drained = gh.registry.drainServer('app', b.authority);
  assert.deepEqual([drained.draining, drained.idle], [true, false]);
  await new Promise((r) => setTimeout(r, 100));
  const bSeen = b.requests.length;
  assert.ok((await Promise.all(slow)).every((x) => x.status === 200));
  await waitFor(() => gh.registry.get('app')!.servers.find((s) => s.id === b.authority)!.idle, 2000, 'the drained server to be idle');
  assert.equal(b.requests.length, bSeen, 'a drained server gets no new request');

  gh.registry.enableServer('app', b.authority);
  const before = count('b');
  await waitFor(() => count('b') > before, 1000, 'the enabled server to get traffic again');

  await gh.registry.removeServer('app', b.authority);
  const bGone = b.requests.length;
  await new Promise((r) => setTimeout(r, 200));
  const r = await load.stop();
  report(t, r);
  assert.deepEqual(r.failures, []);
  assert.equal(b.requests.length, bGone);
  assert.deepEqual(gh.registry.list()[0]!.servers.map((s) => [s.id, s.source]), [[a.authority, 'file']]);
  assert.throws(() => gh.registry.drainServer('app', b.authority), (e: unknown) => e instanceof RegistryError && e.code === 'not_found');
  assert.throws(() => gh.registry.addServer('nope', { url: b.url, source: 'api' }), (e: unknown) => e instanceof RegistryError && e.code === 'not_found');
  assert.throws(() => gh.registry.addServer('app', { url: 'ftp://x', source: 'api' }), (e: unknown) => e instanceof RegistryError && e.code === 'invalid');
});

test('registry: an API server with a TTL leaves when it runs out; adding it again renews it', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const listed = (): boolean => gh.registry.list()[0]!.servers.some((s) => s.id === b.authority);
  const first = gh.registry.addServer('app', { url: b.url, ttl: 600, source: 'api' });
  assert.ok(first.expires_at! > Date.now());
  await new Promise((r) => setTimeout(r, 400));
  gh.registry.addServer('app', { url: b.url, ttl: 600, source: 'api' });
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(listed(), 'renewed: still there 800 ms after it was first added');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await send(url, { agent })).text);
  assert.deepEqual(bodies, new Set(['a', 'b']));
  await waitFor(() => !listed(), 2000, 'the TTL to run out');
  for (let i = 0; i < 4; i++) assert.equal((await send(url, { agent })).text, 'a');
});

test('registry: setDiscovered replaces one source\'s servers; a reload keeps servers from other sources', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const c = await named(t, 'c');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  assert.deepEqual(gh.registry.setDiscovered('app', 'dns', [{ url: b.url }, { url: c.url }]), { added: [b.authority, c.authority], kept: [], drained: [] });
  await gh.reload(config({ servers: [a.url], retries: 1 }));
  assert.deepEqual(gh.registry.list()[0]!.servers.map((s) => [s.id, s.source]), [[a.authority, 'file'], [b.authority, 'dns'], [c.authority, 'dns']]);
  assert.deepEqual(gh.registry.setDiscovered('app', 'dns', [{ url: c.url }, { url: a.url }]), { added: [], kept: [c.authority, a.authority], drained: [b.authority] });
  await waitFor(() => gh.registry.list()[0]!.servers.length === 2, 2000, 'b to leave');
  const bodies = new Set<string>();
  for (let i = 0; i < 6; i++) bodies.add((await send(url)).text);
  assert.deepEqual(bodies, new Set(['a', 'c']));
  // The file no longer names a: dns still does, so it stays.
  await gh.reload(config({ servers: [c.url] }));
  assert.deepEqual(gh.registry.list()[0]!.servers.map((s) => [s.id, s.sources]), [[c.authority, ['dns', 'file']], [a.authority, ['dns']]]);
});

test('registry: a reload opens added listeners, closes removed ones, and keeps the sockets of unchanged ones', async (t) => {
  const a = await named(t, 'a');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const ports = new Set<number>();
  agent.on('free', (s: import('node:net').Socket) => ports.add(s.localPort!));
  await send(url, { agent });
  const two = [{ name: 'public', address: '127.0.0.1:0' }, { name: 'second', address: '127.0.0.1:0' }];
  await gh.reload(config({ servers: [a.url] }, { listeners: two }));
  assert.equal((await send(gh.url('second'))).text, 'a');
  const second = gh.url('second');
  await send(url, { agent });
  await gh.reload(config({ servers: [a.url] }));
  await send(url, { agent });
  assert.equal(ports.size, 1, 'the client kept one connection to the unchanged listener across both reloads');
  assert.deepEqual(Object.keys(gh.addresses()), ['public']);
  await assert.rejects(send(second));
});

test('registry: a sticky cookie (no configured secret) still pins its client after a server is added and after a reload', async (t) => {
  const origins = await Promise.all(['a', 'b', 'c'].map((n) => named(t, n)));
  const upstream: Upstream = { sticky: { cookie: 'gh_srv' }, servers: origins.slice(0, 2).map((o) => o.url) };
  const { gh, url } = await startProxy(t, config(upstream));
  const first = await send(url);
  const cookie = String(first.headers['set-cookie']).split(';')[0]!;
  const pinned = async (): Promise<string[]> => Promise.all([0, 1, 2, 3].map(async () => (await send(url, { headers: { cookie } })).text));
  assert.deepEqual(await pinned(), [first.text, first.text, first.text, first.text]);
  gh.registry.addServer('app', { url: origins[2]!.url, source: 'api' });
  assert.deepEqual(await pinned(), [first.text, first.text, first.text, first.text]);
  await gh.reload(config({ ...upstream, retries: 1 }));
  assert.deepEqual(await pinned(), [first.text, first.text, first.text, first.text]);
});

test('registry: a server added live is probed by active checks; one that fails them takes no traffic', async (t) => {
  const a = await named(t, 'a');
  const dead = await named(t, 'dead');
  await dead.close();
  const { gh, url } = await startProxy(t, config({ servers: [a.url], health: { active: { path: '/', interval: '100ms', timeout: '100ms', fall: 1 } } }));
  gh.registry.addServer('app', { url: dead.url, source: 'api' });
  const status = (): { up: boolean; health: { active: boolean; lastCheck?: string } } => gh.registry.get('app')!.servers.find((s) => s.id === dead.authority)!;
  await waitFor(() => !status().health.active, 3000, 'the added server to fail its checks');
  assert.equal(status().up, false);
  for (let i = 0; i < 4; i++) assert.equal((await send(url)).text, 'a');
});

test('registry: discovery feeds the registry: a servers file that changes under load moves traffic with no failed request', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const file = join(tempDir('registry'), 'servers.json');
  writeFileSync(file, JSON.stringify([a.url]));
  const { gh, url } = await startProxy(t, config({ discovery: { file, debounce: '50ms' } } as Upstream));
  await waitFor(() => gh.registry.get('app')!.servers.length === 1, 3000, 'the file to be read');
  assert.deepEqual(gh.registry.get('app')!.servers.map((s) => [s.id, s.source]), [[a.authority, 'servers_file']]);
  const load = startLoad(url, { connections: 8, maxMs: 10_000, maxRequests: 30_000 });
  await waitFor(() => load.result.total > 50, 3000, 'load to run');
  writeFileSync(file, JSON.stringify([b.url]));
  await waitFor(() => (load.result.byBody.get('b') ?? 0) > 0, 3000, 'the new server to get traffic');
  await waitFor(() => gh.registry.get('app')!.servers.length === 1, 3000, 'a to leave');
  const aSeen = a.requests.length;
  await new Promise((r) => setTimeout(r, 300));
  const r = await load.stop();
  report(t, r);
  assert.deepEqual(r.failures, []);
  assert.equal(a.requests.length, aSeen, 'the server the file dropped gets no new request');
});

test('registry: a reload that changes connection settings replaces the pools under load with no failed request', async (t) => {
  const a = await named(t, 'a');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const load = startLoad(url, { connections: 4, maxMs: 8000, maxRequests: 20_000 });
  await waitFor(() => load.result.total > 50, 3000, 'load to run');
  const fresh = connections(a);
  await gh.reload(config({ servers: [a.url], timeouts: { response_headers: '30s' } }));
  await waitFor(() => fresh() > 0, 2000, 'a new pool to connect');
  await waitFor(() => gh.registry.get('app')!.servers.length === 1, 3000, 'the old pool to close');
  await new Promise((r) => setTimeout(r, 200));
  const r = await load.stop();
  report(t, r);
  assert.deepEqual(r.failures, []);
  assert.deepEqual(gh.registry.get('app')!.servers.map((s) => [s.id, s.draining]), [[a.authority, false]]);
});

test('registry: a listener a reload opens answers from the upstream that reload adds at once (no 503 while it is set up)', async (t) => {
  const a = await named(t, 'a');
  const fresh = await named(t, 'fresh');
  const { gh } = await startProxy(t, config({ servers: [a.url] }));
  const port = await freePort();
  // The first new listener binds while the others still do: a request to it may come before the reload ends.
  const added = [{ name: 'second', address: `127.0.0.1:${port}` }, ...Array.from({ length: 4 }, (_, i) => ({ name: `more${i}`, address: '127.0.0.1:0' }))];
  const next = config({ servers: [a.url] }, {
    listeners: [{ name: 'public', address: gh.config.listeners[0]!.address }, ...added],
    upstreams: { app: { servers: [a.url] }, fresh: { servers: [fresh.url] } },
    routes: [{ match: { listener: 'public' }, proxy: { upstream: 'app' } }, { match: {}, proxy: { upstream: 'fresh' } }],
  });
  // Requests to the new address from before its bind until after the reload (bounded: 2000 tries, 10 s).
  let reloaded = false;
  const answers: string[] = [];
  const client = (async () => {
    const until = Date.now() + 10_000;
    for (let i = 0; i < 2000 && Date.now() < until && !(reloaded && answers.length >= 5); i++) {
      try {
        const r = await send(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
        answers.push(`${r.status} ${r.text}`);
      } catch { /* not bound yet */ }
    }
  })();
  await gh.reload(next);
  reloaded = true;
  await client;
  assert.ok(answers.length >= 5);
  assert.deepEqual(answers.filter((x) => x !== '200 fresh'), [], 'every request to the new listener reached the new upstream');
});

test('registry: a reload that cannot bind its new listener leaves the upstreams as they were (the new one set up for it is taken back)', async (t) => {
  const a = await named(t, 'a');
  const fresh = await named(t, 'fresh');
  const { gh, url } = await startProxy(t, config({ servers: [a.url] }));
  const taken = await named(t, 'taken');
  const next = config({ servers: [a.url] }, {
    listeners: [{ name: 'public', address: gh.config.listeners[0]!.address }, { name: 'second', address: taken.authority }],
    upstreams: { app: { servers: [a.url] }, fresh: { servers: [fresh.url] } },
  });
  await assert.rejects(gh.reload(next));
  await waitFor(() => gh.upstreams().every((u) => u.name === 'app'), 5000, 'the new upstream to be taken back');
  assert.deepEqual(gh.upstreams().map((u) => [u.name, u.servers.map((s) => [s.id, s.draining])]), [['app', [[a.authority, false]]]]);
  assert.equal((await send(url)).text, 'a');
});
