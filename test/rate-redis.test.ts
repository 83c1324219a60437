/** Rate limits shared by several instances through Redis (`state.redis`), with a real redis-server. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { send } from './helpers/client.js';
import { startProxy, type StartedProxy, statuses } from './helpers/proxy.js';
import { startRedis } from './helpers/redis.js';
import { Redis } from 'ioredis';
import pino from 'pino';
import { redisStore } from '../src/protect/stores/redis.js';
import { startOrigin, waitFor } from './helpers/origin.js';

async function fleet(t: TestContext, redisPort: number, n: number): Promise<StartedProxy[]> {
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const config = {
    state: { redis: `redis://127.0.0.1:${redisPort}`, timeout: '200ms' },
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/limited/' }, rate_limit: { key: 'header:x-api-key', rate: '1/m', burst: 10 }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  };
  const out: StartedProxy[] = [];
  for (let i = 0; i < n; i++) out.push(await startProxy(t, config));
  // Each instance is counting in Redis once a warm-up decision shows up there (bounded wait, no fixed sleep).
  const probe = new Redis(redisPort, '127.0.0.1');
  t.after(() => probe.disconnect());
  for (const [i, p] of out.entries()) {
    for (let j = 0; ; j++) {
      const key = `warm-${i}-${j}`;
      await send(`${p.url}/limited/x`, { headers: { 'x-api-key': key } });
      if (await probe.exists(`gatehouse:r:routes[0]|h:${key}`)) break;
      if (j > 100) throw new Error('the instance never counted in Redis');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return out;
}

test('state.redis: two instances enforce one shared limit (burst 10 across both)', async (t) => {
  const redis = await startRedis(t);
  const [a, b] = await fleet(t, redis.port, 2);
  const got = await statuses([a!, b!], 'k1', 30);
  assert.equal(got.filter((s) => s === 200).length, 10, got.join(','));
  assert.equal(got.filter((s) => s === 429).length, 20);
  // Another key has its own budget.
  assert.equal((await statuses([b!], 'k2', 1))[0], 200);
});

test('state.redis: with Redis killed both instances keep serving, counting locally', async (t) => {
  const redis = await startRedis(t);
  const [a, b] = await fleet(t, redis.port, 2);
  assert.equal((await statuses([a!], 'k', 1))[0], 200);
  await redis.kill();
  const started = Date.now();
  const fromA = await statuses([a!], 'k3', 12);
  const fromB = await statuses([b!], 'k3', 12);
  // Locally each instance allows its own burst: the limit still holds per instance, and nothing fails.
  assert.equal(fromA.filter((s) => s === 200).length, 10, fromA.join(','));
  assert.equal(fromB.filter((s) => s === 200).length, 10, fromB.join(','));
  assert.ok(fromA.concat(fromB).every((s) => s === 200 || s === 429));
  assert.ok(Date.now() - started < 5000, 'decisions did not wait for Redis');
  assert.equal((await send(`${a!.url}/other`)).status, 200);
});

test('state.redis: an answer that came while the process was busy past the timeout still decides (no local decision for a stall of its own)', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.port, '127.0.0.1', { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  t.after(() => redis.disconnect());
  await waitFor(() => redis.status === 'ready', 5000, 'the client');
  const store = redisStore({ redis, prefix: 'gh-test:', timeoutMs: 50, maxKeys: 100, log: pino({ level: 'silent' }) });
  t.after(() => store.close());
  assert.equal((await store.take('k', 60_000, 1)).allowed, true);
  const pending = store.take('k', 60_000, 1);
  // Busy past the timeout while Redis answers: timers run before the loop reads the answer.
  for (const until = Date.now() + 300; Date.now() < until;);
  // Redis's decision (burst 1, taken); the local store, which never saw the key, would allow it.
  assert.equal((await pending).allowed, false);
});
