/**
 * The admin API refuses what a browser sends for another site's page (Fetch Metadata `Sec-Fetch-Site`, `Origin`)
 * and, without a token, a `Host` that is not loopback (DNS rebinding): a page elsewhere cannot drain a server
 * through the user's browser, nor read the API through a name that now resolves to 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

async function tokenless(t: import('node:test').TestContext) {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const p = await startProxy(t, {
    admin: { address: '127.0.0.1:0' },
    upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  const admin = p.gh.adminUrl()!;
  const id = new URL(origin.url).host;
  const draining = async (): Promise<boolean> => {
    const list = JSON.parse((await send(`${admin}/api/upstreams`)).text) as { upstreams: { servers: { draining?: boolean; state?: string }[] }[] };
    const s = list.upstreams[0]!.servers[0]!;
    return s.draining === true || s.state === 'draining';
  };
  return { admin, id, draining };
}

test('admin: a cross-site page cannot make the browser drain a server (Sec-Fetch-Site, Origin): 403, nothing changes', async (t) => {
  const { admin, id, draining } = await tokenless(t);
  const drain = `${admin}/api/upstreams/app/servers/${id}/drain`;
  for (const headers of [
    { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
    { 'sec-fetch-site': 'same-site' },
    { origin: 'https://evil.example' },
    { origin: 'null' },
    { origin: `http://localhost:1${new URL(admin).port}` },
  ]) {
    const r = await send(drain, { method: 'POST', headers });
    assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.text}`);
    assert.equal((JSON.parse(r.text) as { code: string }).code, 'GH_ADMIN_FOREIGN_ORIGIN');
  }
  assert.equal(await draining(), false);
  // Its own page (same origin) and clients that are not browsers (no Origin, no Sec-Fetch-Site) are served.
  assert.equal((await send(drain, { method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: admin } })).status, 200);
  assert.equal(await draining(), true);
  assert.equal((await send(`${admin}/api/upstreams/app/servers/${id}/enable`, { method: 'POST' })).status, 200);
});

test('admin without a token: a Host that is not loopback (DNS rebinding) is refused; with a token it is the token that counts', async (t) => {
  const { admin } = await tokenless(t);
  const port = new URL(admin).port;
  for (const host of [`evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `10.0.0.1:${port}`]) {
    const r = await send(`${admin}/api/upstreams`, { headers: { host } });
    assert.equal(r.status, 403, `${host}: ${r.text}`);
    assert.doesNotMatch(r.text, /servers/);
  }
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
    assert.equal((await send(`${admin}/api/upstreams`, { headers: { host } })).status, 200, host);
  }
  process.env.GATEHOUSE_ORIGIN_TEST_TOKEN = 'tok-origin';
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const p = await startProxy(t, {
    admin: { address: '127.0.0.1:0', token_env: 'GATEHOUSE_ORIGIN_TEST_TOKEN' },
    upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  const r = await send(`${p.gh.adminUrl()!}/api/upstreams`, { headers: { host: 'admin.internal.example', authorization: 'Bearer tok-origin' } });
  assert.equal(r.status, 200, r.text);
});
