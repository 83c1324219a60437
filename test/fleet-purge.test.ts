/** Cache purges shared by the instances of a fleet (`state.redis`), with a real redis-server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { startRedis } from './helpers/redis.js';

test('state.redis: a purge on one instance (admin API, PURGE method, an unsafe request) purges the others within 1 s', async (t) => {
  const redis = await startRedis(t);
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    if (req.method === 'POST') return res.end('posted');
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`v${n}`);
  });
  const config = {
    admin: { address: '127.0.0.1:0' }, state: { redis: `redis://127.0.0.1:${redis.port}` },
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: { purge: { allow: ['127.0.0.1'] } }, proxy: { upstream: 'app' } }],
  };
  const a = await startProxy(t, config);
  const b = await startProxy(t, config);
  // Both instances are stored under one Host, so one purge URL names the object on both.
  const get = async (url: string): Promise<string> => String((await send(`${url}/x`, { headers: { host: 'shop.test' } })).headers['x-cache']);
  const warm = async (): Promise<void> => {
    await get(a.url);
    await get(b.url);
    assert.equal(await get(a.url), 'HIT');
    assert.equal(await get(b.url), 'HIT');
  };
  const purgedOnB = (): Promise<void> => waitFor(async () => (await get(b.url)) === 'MISS', 1000, 'B to lose the object');
  await warm();
  const res = await send(`${a.gh.adminUrl()}/api/cache/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'http://shop.test/x' }) });
  assert.equal(res.status, 200, res.text);
  await purgedOnB();
  await warm();
  assert.equal((await send(`${a.url}/x`, { method: 'PURGE', headers: { host: 'shop.test' } })).status, 200);
  await purgedOnB();
  await warm();
  assert.equal((await send(`${a.url}/x`, { method: 'POST', headers: { host: 'shop.test' }, body: 'x' })).status, 200);
  await purgedOnB();
});
