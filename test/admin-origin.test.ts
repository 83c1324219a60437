/**
 * The admin API refuses what a browser sends for another site's page (Fetch Metadata `Sec-Fetch-Site`, `Origin`)
 * and, without a token, a `Host` that is not loopback (DNS rebinding): a page elsewhere cannot drain a server
 * through the user's browser, nor read the API through a name that now resolves to 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
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

test('admin.allowed_origins: a page of a listed origin may call the API from a browser (the dashboard behind a proxy that changes Host); others still 403', async (t) => {
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const p = await startProxy(t, {
    admin: { address: '127.0.0.1:0', allowed_origins: ['https://Admin.Example.com'] },
    upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  const admin = p.gh.adminUrl()!;
  const id = new URL(origin.url).host;
  const drain = `${admin}/api/upstreams/app/servers/${id}/drain`;
  const listed = await send(drain, { method: 'POST', headers: { origin: 'https://admin.example.com', 'sec-fetch-site': 'cross-site' } });
  assert.equal(listed.status, 200, listed.text);
  for (const o of ['https://admin.example.com.evil.example', 'http://admin.example.com', 'https://evil.example']) {
    assert.equal((await send(drain, { method: 'POST', headers: { origin: o } })).status, 403, o);
  }
  // The Host rule without a token still holds for a listed origin (DNS rebinding through a listed page's origin).
  assert.equal((await send(`${admin}/api/upstreams`, { headers: { origin: 'https://admin.example.com', host: 'evil.example' } })).status, 403);
});

test('admin.allowed_origins: an entry with a path or without a scheme is a config error naming the file, line and key', async () => {
  const file = join(tempDir('admin-origin'), 'gatehouse.yaml');
  writeFileSync(file, 'admin:\n  address: 127.0.0.1:9901\n  allowed_origins: [admin.example.com/ui]\nroutes: [{ match: { path: / }, respond: { status: 200 } }]\n');
  const r = await runCli(['validate', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /gatehouse\.yaml: /);
  assert.match(r.stderr, /at admin\.allowed_origins\[0\] \(line 3, col \d+\)/);
  assert.match(r.stderr, /an origin: scheme:\/\/host\[:port\]/);
});
