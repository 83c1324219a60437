/**
 * The dashboard (`GET /ui` on the admin listener) and its live feed (`GET /api/events`): in a real browser
 * (playwright-core driving Debian's chromium), against real origins and a proxy, and through the feed itself.
 * `UPDATE_SCREENSHOT=1` writes the browser test's screenshot to docs/dashboard.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { Agent } from 'node:http';
import { test, type TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { send } from './helpers/client.js';
import { startGroup } from './helpers/group.js';
import { startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { figuresBetween, quantile, type Series } from '../src/admin/ui/figures.js';
import type { Snapshot } from '../src/admin/ui/snapshot.js';

const TOKEN = 'dashboard-test-token-7c1e';
process.env.GATEHOUSE_DASHBOARD_TOKEN = TOKEN;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const DOCS = new URL('../docs/', import.meta.url);

async function launch(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  return browser;
}

/** An origin answering in 2-20 ms, a 503 on /api/fail, its health on /healthz. */
async function origin(t: TestContext, failIds: string[]): Promise<Origin> {
  return startOrigin(t, (req, res) => {
    if (req.url === '/healthz') return void res.end('ok');
    if (req.url === '/api/fail') {
      failIds.push(String(req.headers['x-request-id']));
      res.statusCode = 503;
      return void res.end('unavailable');
    }
    setTimeout(() => res.end('ok'), 2 + Math.floor(Math.random() * 18));
  });
}

interface Board { origins: Origin[]; url: string; admin: string; failIds: string[] }

async function startBoard(t: TestContext): Promise<Board> {
  const failIds: string[] = [];
  const origins = [await origin(t, failIds), await origin(t, failIds), await origin(t, failIds)];
  const { gh, url } = await startProxy(t, {
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_DASHBOARD_TOKEN' },
    upstreams: { app: { servers: origins.map((o) => o.url), health: { active: { path: '/healthz', interval: '200ms', timeout: '150ms', fall: 1, rise: 1 } } } },
    routes: [
      { name: 'api', match: { path: '/api/' }, proxy: { upstream: 'app' } },
      { name: 'site', match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
  return { origins, url, admin: gh.adminUrl()!, failIds };
}

/** Requests in the background (a 503 every twentieth round), bounded in time and count; stopped by the test's end. */
function load(t: TestContext, url: string): { stop(): Promise<void> } {
  let on = true;
  const agent = new Agent({ keepAlive: true, maxSockets: 3 });
  const deadline = Date.now() + 120_000;
  const run = (async () => {
    for (let i = 0; on && i < 2000 && Date.now() < deadline; i++) {
      const paths = ['/api/users', '/', '/api/orders', ...(i % 20 === 0 ? ['/api/fail'] : [])];
      await Promise.all(paths.map((p) => send(url + p, { agent, timeoutMs: 2000 }).catch(() => undefined)));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const stop = async (): Promise<void> => {
    on = false;
    await run;
    agent.destroy();
  };
  t.after(stop);
  return { stop };
}

/** The feed read with fetch, as the page reads it: snapshots in order, and whether the stream ended. */
async function feed(t: TestContext, url: string, headers: Record<string, string> = AUTH): Promise<{ status: number; next(): Promise<Snapshot>; ended: Promise<void>; close(): void }> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers, signal: ctrl.signal });
  const queue: Snapshot[] = [];
  let wake: (() => void) | undefined;
  const ended = (async () => {
    if (!res.body) return;
    let buf = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^event: snapshot\ndata: (.*)$/s.exec(block);
          if (data) queue.push(JSON.parse(data[1]!) as Snapshot);
          wake?.();
        }
      }
    } catch {
      // aborted
    }
  })();
  const close = (): void => ctrl.abort();
  t.after(close);
  return {
    status: res.status,
    ended,
    close,
    async next() {
      const deadline = Date.now() + 5000;
      while (!queue.length) {
        if (Date.now() > deadline) throw new Error('no snapshot within 5 s');
        await Promise.race([new Promise<void>((r) => { wake = r; }), new Promise((r) => setTimeout(r, 100))]);
      }
      return queue.shift()!;
    },
  };
}

test('dashboard: in a browser, a token form, three servers healthy, a killed origin turns unhealthy within 5 s, drain, enable and remove', async (t) => {
  const board = await startBoard(t);
  const traffic = load(t, board.url);
  const browser = await launch(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The 401s of the feed without a token and with the wrong one are expected; nothing else may fail.
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text()); });
  await page.goto(`${board.admin}/ui`);

  // No token yet: the form, and nothing of the proxy. A wrong token is refused and shows nothing either.
  await page.waitForSelector('#login-form', { state: 'visible' });
  await page.fill('#token', 'not-the-token');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error')!.textContent!.includes('not accepted'));
  assert.equal(await page.locator('[data-server]').count(), 0);
  assert.equal(await page.isVisible('#board'), false);

  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-server][data-health="healthy"]').length === 3, undefined, { timeout: 5000 });
  const ids = await page.locator('tr[data-server]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.server));
  assert.deepEqual(ids.sort(), board.origins.map((o) => o.authority).sort());

  // The token is kept for the session: a reload of the page asks for nothing.
  await page.reload();
  await page.waitForSelector('tr[data-server][data-health="healthy"]', { timeout: 5000 });
  assert.equal(await page.isVisible('#login'), false);

  const [dead, drained, removed] = board.origins as [Origin, Origin, Origin];
  const killedAt = Date.now();
  await dead.close();
  await page.waitForSelector(`tr[data-server="${dead.authority}"][data-health="unhealthy"]`, { timeout: 5000 });
  t.diagnostic(`unhealthy on the page ${Date.now() - killedAt} ms after the origin closed`);

  await page.click(`tr[data-server="${drained.authority}"] [data-action="drain"]`);
  await page.waitForSelector(`tr[data-server="${drained.authority}"][data-health="draining"]`, { timeout: 5000 });
  const listed = JSON.parse((await send(`${board.admin}/api/upstreams`, { headers: AUTH })).text) as { upstreams: { servers: { id: string; draining: boolean }[] }[] };
  assert.equal(listed.upstreams[0]!.servers.find((s) => s.id === drained.authority)?.draining, true);

  // Figures and recent errors (the 503s, by request id, and the dead origin's 502s) fill in.
  await waitFor(() => board.failIds.length > 0, 5000, 'a 503 from the origin');
  await page.waitForFunction((id) => [...document.querySelectorAll('#errors tbody tr')].some((r) => r.textContent!.includes(id)), board.failIds[0], { timeout: 5000 });
  await page.waitForFunction(() => /^\d/.test(document.querySelector('tr[data-route="api"] td:nth-child(3)')!.textContent!), undefined, { timeout: 5000 });
  await page.mouse.move(0, 0);
  const shot = await page.screenshot();
  assert.ok(shot.length > 10_000 && shot.subarray(1, 4).toString() === 'PNG');
  if (process.env.UPDATE_SCREENSHOT === '1') {
    // For the docs: a minute of history in the charts first.
    await page.waitForTimeout(60_000);
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: new URL('dashboard.png', DOCS).pathname });
  }

  await page.click(`tr[data-server="${drained.authority}"] [data-action="enable"]`);
  await page.waitForSelector(`tr[data-server="${drained.authority}"][data-health="healthy"]`, { timeout: 5000 });
  page.once('dialog', (d) => void d.accept());
  await page.click(`tr[data-server="${removed.authority}"] [data-action="remove"]`);
  await page.waitForSelector(`tr[data-server="${removed.authority}"]`, { state: 'detached', timeout: 5000 });
  await traffic.stop();
  assert.deepEqual(errors, []);
});

test('dashboard: /api/events needs the token; /ui with a wrong token is a 401 with no page; the page and its files carry a strict CSP and nosniff', async (t) => {
  const { admin } = await startBoard(t);
  for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }]) {
    const r = await send(`${admin}/api/events`, { headers });
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).code, 'GH_ADMIN_UNAUTHORIZED');
  }
  const wrong = await send(`${admin}/ui`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.status, 401);
  assert.doesNotMatch(wrong.text, /<html|127\.0\.0\.1/);
  for (const headers of [{}, AUTH]) {
    const page = await send(`${admin}/ui`, { headers });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self';.*frame-ancestors 'none'/);
    assert.doesNotMatch(page.text, /<script>|style=|127\.0\.0\.1/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
  }
  const js = await send(`${admin}/ui/app.js`);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  assert.doesNotMatch(js.text, /innerHTML|insertAdjacentHTML|document\.write/);
  assert.match(String((await send(`${admin}/ui/app.css`)).headers['content-type']), /^text\/css/);
  assert.equal((await send(`${admin}/ui`, { method: 'POST' })).status, 405);
});

test('dashboard: the feed sends a snapshot a second (routes, servers with health, p50/p99, errors by request id, the config), at most 16 streams, and ends when the admin API stops', async (t) => {
  const board = await startBoard(t);
  const first = await feed(t, `${board.admin}/api/events`);
  assert.equal(first.status, 200);
  const s0 = await first.next();
  assert.deepEqual(s0.upstreams[0]!.servers.map((s) => [s.id, s.health]).sort(), board.origins.map((o) => [o.authority, 'healthy']).sort());
  assert.deepEqual(s0.routes.map((r) => r.id), ['api', 'site']);
  assert.equal(s0.config.version, 1);
  assert.equal(s0.config.lastReload?.ok, true);
  for (let i = 0; i < 20; i++) await send(`${board.url}/api/x`);
  await send(`${board.url}/api/fail`);
  let s = await first.next();
  const deadline = Date.now() + 5000;
  while (!(s.routes[0]!.rps! > 0 && s.errors.length > 0) && Date.now() < deadline) s = await first.next();
  const api = s.routes[0]!;
  assert.ok(api.rps! > 0 && api.p50! > 0 && api.p99! >= api.p50!, JSON.stringify(api));
  assert.ok(api.errorRate! > 0 && api.errorRate! < 0.2, JSON.stringify(api));
  assert.deepEqual(s.errors.map((e) => [e.requestId, e.status, e.route, e.upstream]), [[board.failIds[0], 503, 'api', 'app']]);
  assert.ok(s.window > 0 && s.window <= 10);

  // HEAD answers the head and ends: it takes no stream slot (twenty of them, then fifteen streams still open).
  for (let i = 0; i < 20; i++) {
    const head = await send(`${board.admin}/api/events`, { method: 'HEAD', headers: AUTH, timeoutMs: 2000 });
    assert.equal(head.status, 200);
    assert.match(String(head.headers['content-type']), /^text\/event-stream/);
  }
  const more = [];
  for (let i = 1; i < 16; i++) more.push(await feed(t, `${board.admin}/api/events`));
  const refused = await send(`${board.admin}/api/events`, { headers: AUTH });
  assert.equal(refused.status, 503);
  assert.equal(JSON.parse(refused.text).code, 'GH_ADMIN_TOO_MANY_STREAMS');
  more.pop()!.close();
  await waitFor(async () => (await send(`${board.admin}/api/events`, { headers: AUTH, timeoutMs: 300 }).catch(() => ({ status: 200 }))).status === 200, 3000, 'a stream slot to free');
  for (const f of more) f.close();
  // A stop ends the stream (the reader sees its end, not a hang).
  const { gh } = await startProxy(t, { admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_DASHBOARD_TOKEN' }, upstreams: { app: { servers: [board.origins[0]!.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }] });
  const last = await feed(t, `${gh.adminUrl()!}/api/events`);
  await last.next();
  await gh.stop({ timeoutMs: 1000 });
  await Promise.race([last.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 3000))]);
});

test('dashboard: figures from histogram deltas, as Prometheus histogram_quantile', () => {
  const series = (count: number, errors: number, buckets: [number, number][]): Series => ({ count, errors, buckets: new Map(buckets) });
  // 100 requests: 50 under 10 ms, 40 more under 50 ms, 10 more under 100 ms.
  const now = series(200, 10, [[0.01, 100], [0.05, 180], [0.1, 200], [Infinity, 200]]);
  const before = series(100, 5, [[0.01, 50], [0.05, 90], [0.1, 100], [Infinity, 100]]);
  const f = figuresBetween(now, before, 10);
  assert.equal(f.rps, 10);
  assert.equal(f.errorRate, 0.05);
  assert.equal(f.p50, 10);
  assert.ok(Math.abs(f.p99! - 95) < 1e-9);
  // Nothing new: no latency to speak of; a series not there yet: 0 requests/s; a fall is a reset, counted from
  // zero as Prometheus's rate() does (the series counted 100 since it started again).
  assert.deepEqual(figuresBetween(before, before, 10), { rps: 0, errorRate: null, p50: null, p99: null });
  assert.deepEqual(figuresBetween(undefined, undefined, 1), { rps: 0, errorRate: null, p50: null, p99: null });
  const reset = figuresBetween(before, now, 10);
  assert.equal(reset.rps, 10);
  assert.equal(reset.errorRate, 0.05);
  assert.equal(reset.p50, 10);
  // Past the last finite bound: that bound.
  assert.equal(quantile(0.99, new Map([[0.1, 0], [Infinity, 5]])), 100);
  assert.equal(quantile(0.5, new Map()), null);
});

test('dashboard: workers: 2, the primary serves the page and a feed covering every worker', async (t) => {
  const failIds: string[] = [];
  const origins = [await origin(t, failIds), await origin(t, failIds), await origin(t, failIds)];
  const group = await startGroup(t, (port, adminPort) => `listeners:
  - { name: public, address: "127.0.0.1:${port}" }
admin: { address: "127.0.0.1:${adminPort}", token_env: GATEHOUSE_DASHBOARD_TOKEN }
access_log: { enabled: false }
workers: 2
reload: { watch: false }
upstreams:
  app:
    servers: [${origins.map((o) => o.url).join(', ')}]
routes:
  - { name: api, match: { path: /api/ }, proxy: { upstream: app } }
`, { GATEHOUSE_DASHBOARD_TOKEN: TOKEN });
  const events = await feed(t, `${group.admin}/api/events`);
  const s0 = await events.next();
  assert.deepEqual(s0.upstreams[0]!.servers.map((s) => s.health), ['healthy', 'healthy', 'healthy']);
  // Requests on fresh connections, dealt to both workers; then one drained for the whole group.
  for (let i = 0; i < 30; i++) await send(`${group.url}/api/x`);
  await send(`${group.url}/api/fail`);
  let s = await events.next();
  const deadline = Date.now() + 6000;
  while (!(s.routes[0]!.rps! > 0 && s.errors.length > 0) && Date.now() < deadline) s = await events.next();
  assert.ok(s.routes[0]!.rps! > 0 && s.routes[0]!.p99! > 0, JSON.stringify(s.routes));
  assert.deepEqual(s.errors.map((e) => e.requestId), [...new Set(failIds)]);
  const id = origins[1]!.authority;
  assert.equal((await send(`${group.admin}/api/upstreams/app/servers/${id}/drain`, { method: 'POST', headers: AUTH })).status, 200);
  await waitFor(async () => (await events.next()).upstreams[0]!.servers.find((x) => x.id === id)?.health === 'draining', 5000, 'the server to show draining');
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(`${group.admin}/ui`);
  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector(`tr[data-server="${id}"][data-health="draining"]`, { timeout: 5000 });
  assert.equal(await page.locator('tr[data-server][data-health="healthy"]').count(), 2);
});
