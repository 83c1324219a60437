/**
 * A fleet on one Redis (`state.redis` + `admin`): registry changes made through one instance's admin API reach
 * every other instance (pub/sub) and instances started later (the state in Redis), with a real redis-server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { send, type Response } from './helpers/client.js';
import { freePort, startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { startProxy, type StartedProxy } from './helpers/proxy.js';
import { startRedis } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

interface Instance extends StartedProxy { admin: string; lines: string[]; logged(msg: string): Record<string, unknown>[] }

async function instance(t: TestContext, redisPort: number, base: Origin, extra: { state_file?: string } = {}): Promise<Instance> {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(s); } });
  const p = await startProxy(t, {
    admin: { address: '127.0.0.1:0', ...extra },
    state: { redis: `redis://127.0.0.1:${redisPort}`, timeout: '200ms' },
    upstreams: { app: { servers: [base.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  }, { logger });
  const logged = (msg: string): Record<string, unknown>[] =>
    lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.msg === msg);
  return { ...p, admin: p.gh.adminUrl()!, lines, logged };
}

const call = (method: string, url: string, body?: unknown): Promise<Response> =>
  send(url, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const servers = (p: StartedProxy): string[] => p.gh.upstreams().find((u) => u.name === 'app')!.servers.filter((s) => !s.removing).map((s) => s.id);
const serverOn = (p: StartedProxy, id: string): ReturnType<StartedProxy['gh']['upstreams']>[number]['servers'][number] | undefined =>
  p.gh.upstreams().find((u) => u.name === 'app')!.servers.find((s) => s.id === id && !s.removing);

/** Bodies of `n` requests to a proxy (round robin over app's servers). */
async function bodies(p: StartedProxy, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await send(p.url)).text);
  return out;
}

async function fleet(t: TestContext, n: number): Promise<{ redisPort: number; base: Origin; extra: Origin; nodes: Instance[] }> {
  const redis = await startRedis(t);
  const base = await startOrigin(t, (_q, s) => s.end('base'));
  const extra = await startOrigin(t, (_q, s) => s.end('extra'));
  const nodes: Instance[] = [];
  for (let i = 0; i < n; i++) nodes.push(await instance(t, redis.port, base));
  return { redisPort: redis.port, base, extra, nodes };
}

test('fleet: a server registered through A gets traffic from B within 1 s (pub/sub)', async (t) => {
  const { extra, nodes: [a, b] } = await fleet(t, 2);
  assert.deepEqual(await bodies(b!, 2), ['base', 'base']);
  const r = await call('POST', `${a!.admin}/api/upstreams/app/servers`, { url: extra.url });
  assert.equal(r.status, 201, r.text);
  const added = Date.now();
  await waitFor(async () => (await send(b!.url)).text === 'extra', 1000, 'B to send traffic to the new server');
  const ms = Date.now() - added;
  t.diagnostic(`propagation A → B (admin 201 → first response from the new server through B): ${ms} ms`);
  assert.ok(ms < 1000, `${ms} ms`);
  assert.equal(serverOn(b!, extra.authority)?.source, 'api');
});

test('fleet: drain, enable and DELETE through A reach B', async (t) => {
  const { base, extra, nodes: [a, b] } = await fleet(t, 2);
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers`, { url: extra.url })).status, 201);
  await waitFor(() => serverOn(b!, extra.authority) !== undefined, 2000, 'B to get the server');

  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers/${extra.authority}/drain`)).status, 200);
  await waitFor(() => serverOn(b!, extra.authority)?.draining === true, 2000, 'B to drain it');
  assert.deepEqual(new Set(await bodies(b!, 6)), new Set(['base']));

  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers/${extra.authority}/enable`)).status, 200);
  await waitFor(async () => (await send(b!.url)).text === 'extra', 2000, 'B to use it again');

  // A server from the file (not added through the API) is drained and removed the same way.
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers/${base.authority}/drain`)).status, 200);
  await waitFor(() => serverOn(b!, base.authority)?.draining === true, 2000, 'B to drain the file server');

  assert.equal((await call('DELETE', `${a!.admin}/api/upstreams/app/servers/${extra.authority}`)).status, 202);
  await waitFor(() => !servers(b!).includes(extra.authority), 2000, 'B to remove it');
  assert.equal((await call('DELETE', `${a!.admin}/api/upstreams/app/servers/${base.authority}`)).status, 202);
  await waitFor(() => servers(b!).length === 0, 2000, 'B to remove the file server');
  assert.equal((await send(b!.url)).status, 503);
});

test('fleet: a TTL registration not renewed leaves B too; renewals through A keep it on B', async (t) => {
  const { redisPort, base, extra, nodes: [a, b] } = await fleet(t, 2);
  const register = (): Promise<Response> => call('POST', `${a!.admin}/api/upstreams/app/servers`, { url: extra.url, ttl: '700ms' });
  assert.equal((await register()).status, 201);
  const first = Date.now();
  await waitFor(() => serverOn(b!, extra.authority) !== undefined, 1000, 'B to get the server');
  const expiry = serverOn(b!, extra.authority)!.expires_at!;
  assert.ok(Math.abs(expiry - serverOn(a!, extra.authority)!.expires_at!) < 50, 'the same absolute expiry on both');
  // Renewed every 250 ms for 1.5 s (twice the TTL): still on B.
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 250));
    assert.equal((await register()).status, 200);
  }
  await waitFor(() => (serverOn(b!, extra.authority)?.expires_at ?? 0) > first + 1500, 1000, 'B to see the renewal');
  assert.ok(serverOn(b!, extra.authority), 'kept on B by renewals through A');
  // No more renewals: it leaves both.
  await waitFor(() => !servers(b!).includes(extra.authority) && !servers(a!).includes(extra.authority), 3000, 'the registration to expire');
  // An instance started now does not get it: the expired entry is pruned when the state is read.
  const c = await instance(t, redisPort, base);
  assert.deepEqual(servers(c), [base.authority]);
  const probe = new Redis(redisPort, '127.0.0.1');
  t.after(() => probe.disconnect());
  assert.equal(await probe.hexists('gatehouse:registry', `app/${extra.authority}`), 0);
});

test('fleet: an instance started after the registration gets the server at start (rebuilt from Redis)', async (t) => {
  const { redisPort, base, extra, nodes: [a] } = await fleet(t, 1);
  const other = await startOrigin(t, (_q, s) => s.end('other'));
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers`, { url: extra.url, weight: 3 })).status, 201);
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers`, { url: other.url, ttl: '1m' })).status, 201);
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers/${base.authority}/drain`)).status, 200);
  const probe = new Redis(redisPort, '127.0.0.1');
  t.after(() => probe.disconnect());
  await waitFor(async () => (await probe.hlen('gatehouse:registry')) === 3, 2000, 'the state in Redis');
  const dir = tempDir('fleet');
  const c = await instance(t, redisPort, base, { state_file: join(dir, 'state.json') });
  // Right after start(), before any request.
  assert.deepEqual(servers(c).sort(), [base.authority, extra.authority, other.authority].sort());
  assert.equal(serverOn(c, extra.authority)!.weight, 3);
  assert.ok(Math.abs(serverOn(c, other.authority)!.expires_at! - serverOn(a!, other.authority)!.expires_at!) < 50);
  assert.equal(serverOn(c, base.authority)!.draining, true);
  // Changes from Redis go through the API overlay: C's state file keeps them.
  await waitFor(() => {
    try { return Object.keys((JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { upstreams: { app: { added: object } } }).upstreams.app.added).length === 2; } catch { return false; }
  }, 2000, 'the state file');
});

test('fleet: with Redis killed both keep serving and A\'s API works; Redis back on its port → B gets the change', async (t) => {
  const redis = await startRedis(t);
  const base = await startOrigin(t, (_q, s) => s.end('base'));
  const extra = await startOrigin(t, (_q, s) => s.end('extra'));
  const other = await startOrigin(t, (_q, s) => s.end('other'));
  const a = await instance(t, redis.port, base);
  const b = await instance(t, redis.port, base);
  const beforeKill = a.lines.length;
  await redis.kill();
  assert.equal((await send(a.url)).status, 200);
  assert.equal((await send(b.url)).status, 200);
  const r1 = await call('POST', `${a.admin}/api/upstreams/app/servers`, { url: extra.url });
  assert.equal(r1.status, 201, r1.text);
  assert.equal((await call('POST', `${a.admin}/api/upstreams/app/servers`, { url: other.url })).status, 201);
  // Applied on A at once; B knows nothing yet.
  assert.deepEqual(new Set(await bodies(a, 3)), new Set(['base', 'extra', 'other']));
  assert.deepEqual(servers(b), [base.authority]);
  assert.deepEqual(await bodies(b, 2), ['base', 'base']);
  await startRedis(t, { port: redis.port });
  const back = Date.now();
  await waitFor(() => servers(b).length === 3, 8000, 'B to get the changes made during the outage');
  t.diagnostic(`converged ${Date.now() - back} ms after Redis came back`);
  // One warning per outage (two changes were made during this one), one line when Redis answers again: the two
  // alternate. (On a loaded machine a command over the 200 ms timeout is an outage of its own, before or after.)
  const DOWN = 'fleet: Redis unavailable; registry changes apply on this instance only and are pushed when it answers again';
  const UP = 'fleet: Redis answers again; queued registry changes pushed and the shared state applied';
  const states = (from = 0): string[] => a.lines.slice(from).map((l) => (JSON.parse(l) as { msg: string }).msg).filter((m) => m === DOWN || m === UP);
  await waitFor(() => states(beforeKill).at(-1) === UP, 2000, 'the recovery line');
  assert.ok(states(beforeKill).includes(DOWN), 'the outage was told');
  const all = states();
  for (let i = 1; i < all.length; i++) assert.notEqual(all[i], all[i - 1], `one line per outage and per recovery: ${all.join(' | ')}`);
  // The restarted Redis holds the changes again: an instance started now gets them.
  const c = await instance(t, redis.port, base);
  assert.equal(servers(c).length, 3);
});

test('fleet: no echo: each change is published once and applied once per other instance, never by its author', async (t) => {
  const { redisPort, extra, nodes: [a, b] } = await fleet(t, 2);
  const listener = new Redis(redisPort, '127.0.0.1');
  t.after(() => listener.disconnect());
  const messages: string[] = [];
  listener.on('message', (_ch: string, m: string) => messages.push(m));
  await listener.subscribe('gatehouse:registry');
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers`, { url: extra.url })).status, 201);
  await waitFor(() => serverOn(b!, extra.authority) !== undefined, 2000, 'B to get the server');
  assert.equal((await call('POST', `${a!.admin}/api/upstreams/app/servers/${extra.authority}/drain`)).status, 200);
  await waitFor(() => serverOn(b!, extra.authority)?.draining === true, 2000, 'B to drain it');
  // A change through B travels back to A: once it is there, A has also received its own earlier messages.
  assert.equal((await call('POST', `${b!.admin}/api/upstreams/app/servers/${extra.authority}/enable`)).status, 200);
  await waitFor(() => serverOn(a!, extra.authority)?.draining === false, 2000, 'A to enable it');
  await waitFor(() => messages.length >= 3, 2000, 'three messages');
  assert.deepEqual(messages.map((m) => (JSON.parse(m) as { change: { op: string } }).change.op), ['add', 'drain', 'enable']);
  const applied = (i: Instance): string[] => i.logged('fleet: registry change from Redis applied').map((o) => o.op as string);
  assert.deepEqual(applied(b!), ['add', 'drain']);
  assert.deepEqual(applied(a!), ['enable']);
});

test('fleet: a change for an upstream or server an instance does not have is skipped (debug), not thrown', async (t) => {
  const { redisPort, nodes: [a] } = await fleet(t, 1);
  const pub = new Redis(redisPort, '127.0.0.1');
  t.after(() => pub.disconnect());
  const msg = (change: object): string => JSON.stringify({ from: 'someone-else', change });
  await pub.publish('gatehouse:registry', msg({ op: 'drain', upstream: 'nope', id: '127.0.0.1:1' }));
  await pub.publish('gatehouse:registry', msg({ op: 'remove', upstream: 'app', id: '127.0.0.1:1' }));
  await pub.publish('gatehouse:registry', 'not json');
  await pub.publish('gatehouse:registry', msg({ op: 'add', upstream: 'app', url: 'http://127.0.0.1:1', expires_at: Date.now() - 1 }));
  await waitFor(() => a!.lines.filter((l) => l.includes('fleet: registry change skipped')).length === 4, 2000, 'four skips');
  assert.equal(servers(a!).length, 1);
  assert.equal((await send(a!.url)).status, 200);
});

test('fleet: an instance started while Redis is down starts at once, and pushes its API changes when Redis comes', async (t) => {
  const port = await freePort();
  const base = await startOrigin(t, (_q, s) => s.end('base'));
  const extra = await startOrigin(t, (_q, s) => s.end('extra'));
  const started = Date.now();
  const a = await instance(t, port, base);
  assert.ok(Date.now() - started < 1500, `start took ${Date.now() - started} ms`);
  assert.equal((await call('POST', `${a.admin}/api/upstreams/app/servers`, { url: extra.url })).status, 201);
  await startRedis(t, { port });
  const probe = new Redis(port, '127.0.0.1');
  t.after(() => probe.disconnect());
  await waitFor(async () => (await probe.hexists('gatehouse:registry', `app/${extra.authority}`)) === 1, 8000, 'the change in Redis');
});
