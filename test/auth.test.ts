import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { connect as h2connect } from 'node:http2';
import { test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { h2Request, send } from './helpers/client.js';
import { freePort, headOrigin, startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const SECRET = 'a-shared-secret-that-is-long-enough!';

async function echo(t: Parameters<typeof startOrigin>[0]) {
  return startOrigin(t, (req, res) => res.end(JSON.stringify({ user: req.headers['x-user-id'] ?? null, auth: req.headers.authorization ?? null, role: req.headers['x-role'] ?? null })));
}

test('jwt: HS256 with issuer, audience, expiry and required claims; claims forwarded; 401 with a Bearer challenge', async (t) => {
  const origin = await echo(t);
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{
      match: {},
      auth: { jwt: { secret: SECRET, issuer: 'https://id.example', audience: 'api', required_claims: ['sub'], forward_claims: { sub: 'X-User-Id' } } },
      proxy: { upstream: 'app' },
    }],
  });
  const key = new TextEncoder().encode(SECRET);
  const sign = (claims: Record<string, unknown>, exp = '5m') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setIssuer('https://id.example').setAudience('api').setExpirationTime(exp).sign(key);
  const good = await send(url, { headers: { authorization: `Bearer ${await sign({ sub: 'user-7' })}` } });
  assert.equal(good.status, 200);
  assert.equal((JSON.parse(good.text) as { user: string }).user, 'user-7');

  const none = await send(url);
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="gatehouse"');
  for (const bad of [
    await sign({ sub: 'u' }, '-1h'), // expired
    await sign({}), // no sub
    await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://id.example').setAudience('other').setExpirationTime('5m').sign(key),
    await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://id.example').setAudience('api').setExpirationTime('5m').sign(new TextEncoder().encode(`${SECRET}-wrong`)),
    'not.a.token',
  ]) {
    const r = await send(url, { headers: { authorization: `Bearer ${bad}` } });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="gatehouse", error="invalid_token"');
  }
  assert.equal(origin.requests.length, 1);
});

test('jwt: ES256 keys from a JWKS URL and EdDSA from a PEM public key', async (t) => {
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const jwks = await startOrigin(t, (_q, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ keys: [jwk] })); });
  const ed = generateKeyPairSync('ed25519');
  const origin = await echo(t);
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/es/' }, auth: { jwt: { jwks_url: `${jwks.url}/.well-known/jwks.json`, forward_claims: { sub: 'X-User-Id', role: 'X-Role' } } }, proxy: { upstream: 'app' } },
      { match: { path: '/ed/' }, auth: { jwt: { public_key: ed.publicKey.export({ type: 'spki', format: 'pem' }).toString(), algorithms: ['EdDSA'] } }, proxy: { upstream: 'app' } },
    ],
  });
  const esToken = await new SignJWT({ sub: 'es-user', role: 'admin' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime('5m').sign(es.privateKey);
  const r1 = await send(`${url}/es/x`, { headers: { authorization: `Bearer ${esToken}` } });
  assert.equal(r1.status, 200);
  assert.deepEqual(JSON.parse(r1.text), { user: 'es-user', auth: `Bearer ${esToken}`, role: 'admin' });
  const edToken = await new SignJWT({ sub: 'ed-user' }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime('5m').sign(ed.privateKey);
  assert.equal((await send(`${url}/ed/x`, { headers: { authorization: `Bearer ${edToken}` } })).status, 200);
  assert.equal((await send(`${url}/ed/x`, { headers: { authorization: `Bearer ${esToken}` } })).status, 401, 'a token for another key');
});

test('forward_auth: 2xx lets the request through with copied headers; other answers go back as they are; a dead service is 503', async (t) => {
  const authSeen: Record<string, unknown>[] = [];
  const authService = await startOrigin(t, (req, res) => {
    authSeen.push(req.headers);
    if (req.headers.authorization === 'Token good') {
      res.setHeader('x-user-id', 'u-42');
      res.setHeader('x-internal', 'not copied');
      return res.end();
    }
    res.writeHead(302, { location: 'https://login.example/?next=%2F', 'x-reason': 'login' });
    res.end('please log in');
  });
  const origin = await startOrigin(t, (req, res) => res.end(JSON.stringify({ user: req.headers['x-user-id'] ?? null, internal: req.headers['x-internal'] ?? null })));
  const dead = await freePort();
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/down/' }, auth: { forward_auth: { url: `http://127.0.0.1:${dead}/check`, timeout: '500ms' } }, proxy: { upstream: 'app' } },
      { match: {}, auth: { forward_auth: { url: `${authService.url}/check`, copy_headers: ['X-User-Id'] } }, proxy: { upstream: 'app' } },
    ],
  });
  const ok = await send(`${url}/orders?id=1`, { method: 'POST', body: 'secret body', headers: { authorization: 'Token good' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.text), { user: 'u-42', internal: null });
  assert.equal(authSeen[0]!['x-forwarded-method'], 'POST');
  assert.equal(authSeen[0]!['x-forwarded-uri'], '/orders?id=1');
  assert.equal(authSeen[0]!['content-length'], undefined, 'the body is not sent to the auth service');
  const denied = await send(`${url}/orders`);
  assert.equal(denied.status, 302);
  assert.equal(denied.headers.location, 'https://login.example/?next=%2F');
  assert.equal(denied.headers['x-reason'], 'login');
  assert.equal(denied.text, 'please log in');
  const down = await send(`${url}/down/x`);
  assert.equal(down.status, 503);
  assert.equal(origin.requests.length, 1);
});

test('forward_auth over HTTP/2: the auth service gets the client\'s fields, never its pseudo-headers (RFC 9113 8.3)', async (t) => {
  const authSeen: Record<string, unknown>[] = [];
  const authService = await startOrigin(t, (req, res) => {
    authSeen.push(req.headers);
    res.statusCode = req.headers.authorization === 'Token good' ? 204 : 401;
    res.end();
  });
  const origin = await startOrigin(t, (_req, res) => res.end('through'));
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, auth: { forward_auth: { url: `${authService.url}/check` } }, proxy: { upstream: 'app' } }],
  });
  const session = h2connect(gh.url('h2'));
  t.after(() => session.close());
  const ok = await h2Request(session, { ':path': '/orders?id=1', authorization: 'Token good', cookie: ['a=1', 'b=2'] });
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'through');
  const seen = authSeen[0]!;
  assert.deepEqual(Object.keys(seen).filter((k) => k.startsWith(':')), []);
  assert.equal(seen.cookie, 'a=1; b=2', 'RFC 9113 8.2.3: split Cookie fields go on as one');
  assert.equal(seen['x-forwarded-method'], 'GET');
  assert.equal(seen['x-forwarded-uri'], '/orders?id=1');
  assert.equal((await h2Request(session, { ':path': '/' })).status, 401);
});

test('rate limit keyed on a verified JWT claim', async (t) => {
  const origin = await echo(t);
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, auth: { jwt: { secret: SECRET } }, rate_limit: { key: 'jwt:sub', rate: '2/m', burst: 2 }, proxy: { upstream: 'app' } }],
  });
  const key = new TextEncoder().encode(SECRET);
  const token = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(key);
  const a = await token('a');
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await send(url, { headers: { authorization: `Bearer ${a}` } })).status);
  assert.deepEqual(statuses, [200, 200, 429]);
  assert.equal((await send(url, { headers: { authorization: `Bearer ${await token('b')}` } })).status, 200);
});

test('auth: the headers a route fills from verified credentials (forward_claims, copy_headers) are never the client\'s own', async (t) => {
  const authService = await startOrigin(t, (_req, res) => res.end()); // 2xx, without X-User-Id
  const origin = await echo(t);
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/jwt/' }, auth: { jwt: { secret: SECRET, forward_claims: { sub: 'X-User-Id', role: 'X-Role' } } }, proxy: { upstream: 'app' } },
      { match: { path: '/fwd/' }, auth: { forward_auth: { url: `${authService.url}/check`, copy_headers: ['X-User-Id', 'X-Role'] } }, proxy: { upstream: 'app' } },
    ],
  });
  const token = await new SignJWT({ sub: 'user-7' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
  const forged = { 'x-user-id': 'root', 'x-role': 'admin' };
  const viaJwt = JSON.parse((await send(`${url}/jwt/x`, { headers: { ...forged, authorization: `Bearer ${token}` } })).text) as Record<string, unknown>;
  assert.deepEqual([viaJwt.user, viaJwt.role], ['user-7', null], 'a claim the token lacks leaves its header out');
  const viaFwd = JSON.parse((await send(`${url}/fwd/x`, { headers: forged })).text) as Record<string, unknown>;
  assert.deepEqual([viaFwd.user, viaFwd.role], [null, null], 'headers the auth service did not send are left out');
});

for (const engine of ['node', 'native'] as const) {
  test(`jwt (${engine} engine): a forwarded claim holding CR LF splits nothing upstream (the request fails), after a client's own copy of the field is dropped`, async (t) => {
    const o = await headOrigin(t);
    const heads = o.heads;
    const { url } = await startProxy(t, {
      engine,
      upstreams: { app: { servers: [o.url] } },
      routes: [{ match: {}, auth: { jwt: { secret: SECRET, forward_claims: { sub: 'X-User-Id', role: 'X-Role' } } }, proxy: { upstream: 'app' } }],
    });
    const key = new TextEncoder().encode(SECRET);
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(key);
    // The client's own X-User-Id sits between other fields: it is dropped, and the claims go after the rest.
    const headers = { 'x-a': 'a', 'x-user-id': 'forged', 'x-b': 'b' };
    const good = await send(url, { headers: { ...headers, authorization: `Bearer ${await sign({ sub: 'user-7', role: 'admin' })}` } });
    assert.equal(good.status, 200);
    assert.match(heads[0]!, /\r\nx-a: a\r\nx-b: b\r\n/i);
    assert.match(heads[0]!, /\r\nX-User-Id: user-7\r\n/i);
    assert.ok(!heads[0]!.includes('forged'));
    for (const claims of [{ sub: 'u\r\nX-Injected: yes' }, { sub: 'u', role: 'r\nX-Injected: yes' }, { sub: 'u\u0000' }]) {
      const r = await send(url, { headers: { ...headers, authorization: `Bearer ${await sign(claims)}` } });
      assert.equal(r.status, 500, `status ${r.status} for ${JSON.stringify(claims)}`);
    }
    assert.equal(heads.length, 1, `a request with a bad claim reached the origin: ${JSON.stringify(heads.slice(1))}`);
  });
}
