import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import type { Peer } from '../src/index.js';
import { createHealth } from '../src/health/index.js';
import { freePort, startOrigin, waitFor } from './helpers/origin.js';

const silent = pino({ level: 'silent' });
const peer = (url: string, i = 0): Peer => {
  const u = new URL(url);
  return { id: `app[${i}]`, url, origin: u.origin, authority: u.host, weight: 1, backup: false, slowStartMs: 0, maxConnections: 0, inflight: 0, up: true, upSince: 0, ewmaMs: 0 };
};

test('passive: consecutive failures eject a server; the ejection doubles on repeat; at most max_ejected_percent at once', async () => {
  const peers = [peer('http://a:1', 0), peer('http://b:1', 1), peer('http://c:1', 2), peer('http://d:1', 3)];
  const h = createHealth('app', peers, { passive: { failures: 2, ejection: 100, max_ejected_percent: 50 } }, silent);
  h.observe(peers[0]!, 'failure');
  assert.equal(peers[0]!.up, true);
  h.observe(peers[0]!, 'ok');
  h.observe(peers[0]!, 'failure');
  assert.equal(peers[0]!.up, true, 'a success resets the count');
  h.observe(peers[0]!, 'failure');
  assert.equal(peers[0]!.up, false);
  const first = h.status(peers[0]!).ejectedUntil - performance.now();
  assert.ok(first > 50 && first <= 100);
  for (const p of [peers[1]!, peers[2]!]) { h.observe(p, 'failure'); h.observe(p, 'failure'); }
  assert.deepEqual(peers.map((p) => p.up), [false, false, true, true], 'a third ejection would pass 50%');
  await waitFor(() => peers[0]!.up, 1000, 'the ejection to end');
  h.observe(peers[0]!, 'failure');
  h.observe(peers[0]!, 'failure');
  const second = h.status(peers[0]!).ejectedUntil - performance.now();
  assert.ok(second > 150 && second <= 200, `second ejection ${second} ms`);
  assert.equal(h.status(peers[0]!).ejections, 2);
  await h.close();
});

test('active: http checks honour status range and body; tcp checks connect; an active pass ends an ejection', async (t) => {
  let status = 200;
  const o = await startOrigin(t, (req, res) => { res.statusCode = status; res.end(req.url === '/healthz' ? 'all good' : 'x'); });
  const p = peer(o.url);
  const h = createHealth('app', [p], {
    active: { type: 'http', path: '/healthz', method: 'GET', expect_status: '200-299', expect_body: 'good', interval: 50, timeout: 200, rise: 1, fall: 1 },
    passive: { failures: 1, ejection: 60_000, max_ejected_percent: 100 },
  }, silent);
  h.start();
  t.after(() => h.close());
  h.observe(p, 'failure');
  assert.equal(p.up, false, 'ejected for a minute');
  await waitFor(() => p.up, 2000, 'an active pass to end the ejection');
  status = 503;
  await waitFor(() => !p.up, 2000, 'a failing check to take it down');
  assert.equal(h.status(p).lastCheck, 'status 503');
  status = 200;
  await waitFor(() => p.up, 2000);
  assert.equal(o.requests.every((r) => r.headers['user-agent'] === 'gatehouse-health-check'), true);

  const tcp = createServer((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.after(() => tcp.close());
  const port = (tcp.address() as { port: number }).port;
  const dead = await freePort();
  const [live, gone] = [peer(`http://127.0.0.1:${port}`, 0), peer(`http://127.0.0.1:${dead}`, 1)];
  const ht = createHealth('tcp', [live, gone], {
    active: { type: 'tcp', path: '/', method: 'GET', expect_status: '200-399', interval: 50, timeout: 200, rise: 1, fall: 1 },
  }, silent);
  ht.start();
  t.after(() => ht.close());
  await waitFor(() => !gone.up, 2000, 'the closed port to be down');
  assert.equal(live.up, true);
});
