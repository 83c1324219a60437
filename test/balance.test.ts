import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roundRobin } from '../src/balance/index.js';
import type { Peer } from '../src/index.js';
import { effectiveWeight } from '../src/core/services.js';
import { send } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const peer = (id: string, weight = 1, extra: Partial<Peer> = {}): Peer => ({
  id, url: `http://${id}`, origin: `http://${id}`, authority: id, weight, backup: false, slowStartMs: 0, maxConnections: 0,
  inflight: 0, up: true, upSince: 0, ewmaMs: 0, ...extra,
});

test('balance: smooth weighted round robin spreads picks (3:1 gives a,a,b,a — no bursts)', () => {
  const [a, b] = [peer('a', 3), peer('b', 1)];
  const rr = roundRobin([a, b]);
  const picks = Array.from({ length: 8 }, () => rr.pick()!.id);
  assert.deepEqual(picks, ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
  const five = roundRobin([peer('x', 5), peer('y', 1), peer('z', 1)]);
  assert.deepEqual(Array.from({ length: 7 }, () => five.pick()!.id), ['x', 'x', 'y', 'x', 'z', 'x', 'x']);
});

test('balance: excluded peers are skipped, and none left gives undefined', () => {
  const [a, b] = [peer('a'), peer('b')];
  const rr = roundRobin([a, b]);
  assert.equal(rr.pick(new Set([a]))?.id, 'b');
  assert.equal(rr.pick(new Set([a]))?.id, 'b');
  assert.equal(rr.pick(new Set([a, b])), undefined);
});

test('balance: weights hold over real requests', async (t) => {
  const a = await startOrigin(t, (_q, s) => s.end('a'));
  const b = await startOrigin(t, (_q, s) => s.end('b'));
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [{ url: a.url, weight: 3 }, b.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const seen: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 40; i++) seen[(await send(url)).text]! += 1;
  assert.deepEqual(seen, { a: 30, b: 10 });
});

test('balance: weighted distribution within 5% of the weights over 10,000 requests', async (t) => {
  const { Agent } = await import('node:http');
  const origins = await Promise.all(['a', 'b', 'c'].map((n) => startOrigin(t, (_q, s) => s.end(n))));
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [{ url: origins[0]!.url, weight: 5 }, { url: origins[1]!.url, weight: 3 }, { url: origins[2]!.url, weight: 2 }] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 20 });
  t.after(() => agent.destroy());
  const seen: Record<string, number> = { a: 0, b: 0, c: 0 };
  let left = 10_000;
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (left-- > 0) seen[(await send(url, { agent })).text]! += 1;
  }));
  for (const [k, w] of [['a', 0.5], ['b', 0.3], ['c', 0.2]] as const) {
    assert.ok(Math.abs(seen[k]! / 10_000 - w) <= w * 0.05, `${k}: ${seen[k]} of 10000 for weight share ${w}`);
  }
});

test('balance: least_request prefers the server with fewer requests in flight, ties at random', async () => {
  const { leastRequest } = await import('../src/balance/index.js');
  const [a, b, c] = [peer('a'), peer('b'), peer('c')];
  const lr = leastRequest([a, b, c]);
  a.inflight = 3; b.inflight = 1; c.inflight = 2;
  assert.equal(lr.pick()!.id, 'b');
  b.inflight = 3; c.inflight = 3;
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 3000; i++) counts[lr.pick()!.id]! += 1;
  for (const n of Object.values(counts)) assert.ok(n > 800, JSON.stringify(counts));
});

test('balance: p2c sends a server with 10x latency less than a third of its even share', async (t) => {
  const { Agent } = await import('node:http');
  const fast = await Promise.all(['f1', 'f2'].map((n) => startOrigin(t, (_q, s) => setTimeout(() => s.end(n), 3))));
  const slow = await startOrigin(t, (_q, s) => setTimeout(() => s.end('slow'), 30));
  const { url } = await startProxy(t, {
    upstreams: { app: { balance: 'p2c', servers: [fast[0]!.url, fast[1]!.url, slow.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 10 });
  t.after(() => agent.destroy());
  const seen: Record<string, number> = { f1: 0, f2: 0, slow: 0 };
  let left = 900;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (left-- > 0) seen[(await send(url, { agent })).text]! += 1;
  }));
  assert.ok(seen.slow! < (900 / 3) / 3, `slow server got ${seen.slow} of 900 (even share 300)`);
});

test('balance: consistent hashing moves under 1.5/N of the keys when a server is added or removed', async () => {
  const { consistentHash, roundRobin: rr } = await import('../src/balance/index.js');
  const five = ['s1', 's2', 's3', 's4', 's5'].map((n) => peer(n));
  const six = [...five, peer('s6')];
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
  const before = consistentHash(five, rr(five));
  const after = consistentHash(six, rr(six));
  const moved = keys.filter((k) => before.pick(undefined, k)!.id !== after.pick(undefined, k)!.id).length / keys.length;
  assert.ok(moved < 1.5 / 6, `added one of 6: moved ${moved}`);
  const four = five.slice(0, 4);
  const removed = consistentHash(four, rr(four));
  const moved2 = keys.filter((k) => before.pick(undefined, k)!.id !== removed.pick(undefined, k)!.id).length / keys.length;
  assert.ok(moved2 < 1.5 / 5, `removed one of 5: moved ${moved2}`);
  // A down server's keys go elsewhere, and come back when it recovers.
  const k = keys.find((x) => before.pick(undefined, x)!.id === 's3')!;
  five[2]!.up = false;
  assert.notEqual(before.pick(undefined, k)!.id, 's3');
  five[2]!.up = true;
  assert.equal(before.pick(undefined, k)!.id, 's3');
});

test('balance: hash on a header pins each key to one server over real requests', async (t) => {
  const origins = await Promise.all(['a', 'b', 'c'].map((n) => startOrigin(t, (_q, s) => s.end(n))));
  const { url } = await startProxy(t, {
    upstreams: { sticky: { balance: 'hash', hash: { key: 'header:x-user' }, servers: origins.map((o) => o.url) } },
    routes: [{ match: { path: '/h/' }, rewrite: { strip_prefix: '/h' }, proxy: { upstream: 'sticky' } }],
  });
  const servers = new Set<string>();
  for (let u = 0; u < 12; u++) {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await send(`${url}/h/x`, { headers: { 'x-user': `user-${u}` } })).text);
    assert.equal(seen.size, 1, `user-${u} went to ${[...seen]}`);
    servers.add([...seen][0]!);
  }
  assert.ok(servers.size >= 2, 'keys spread over the servers');
});

test('balance: a sticky cookie pins a client; when its server is down, another one and a new cookie', async (t) => {
  const origins = await Promise.all(['a', 'b'].map((n) => startOrigin(t, (_q, s) => s.end(n))));
  const { gh, url } = await startProxy(t, {
    upstreams: { app: { sticky: { cookie: 'gh_srv', secret: 'a-test-secret-of-16+' }, servers: origins.map((o) => o.url), health: { passive: { failures: 1, ejection: '30s', max_ejected_percent: 100 } } } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const first = await send(url);
  const cookie = String(first.headers['set-cookie']).split(';')[0]!;
  assert.match(String(first.headers['set-cookie']), /^gh_srv=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Lax$/);
  for (let i = 0; i < 5; i++) {
    const r = await send(url, { headers: { cookie } });
    assert.equal(r.text, first.text);
    assert.equal(r.headers['set-cookie'], undefined, 'no new cookie while the server is up');
  }
  const forged = await send(url, { headers: { cookie: `${cookie.split('.')[0]}.forged` } });
  assert.match(String(forged.headers['set-cookie']), /^gh_srv=/, 'a forged cookie is ignored');
  await origins[first.text === 'a' ? 0 : 1]!.close();
  const moved = await send(url, { headers: { cookie } });
  assert.equal(moved.status, 200);
  assert.notEqual(moved.text, first.text);
  assert.match(String(moved.headers['set-cookie']), /^gh_srv=/);
  assert.equal(gh.upstreams()[0]!.servers.filter((s) => s.up).length, 1);
});

test('balance: slow start ramps a recovered server up linearly', () => {
  const p = peer('a', 10, { slowStartMs: 1000, upSince: performance.now() - 250 });
  const w = effectiveWeight(p, performance.now());
  assert.ok(w > 2 && w < 3.5, `weight ${w} a quarter of the way in`);
  assert.equal(effectiveWeight(p, performance.now() + 2000), 10);
});
