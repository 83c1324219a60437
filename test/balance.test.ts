import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roundRobin } from '../src/balance/index.js';
import type { Peer } from '../src/index.js';
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
