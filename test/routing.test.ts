import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawRequest, send } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const reply = (body: string) => ({ respond: { body } });

test('routing: the contract config answers respond, redirect and rewritten proxy routes', async (t) => {
  const a = await startOrigin(t, (req, res) => res.end(`A ${req.url}`));
  const b = await startOrigin(t, (req, res) => res.end(`B ${req.url}`));
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [a.url, b.url] } },
    routes: [
      { match: { host: 'hello.test' }, respond: { status: 200, body: 'hello from gatehouse\n' } },
      { match: { path: '/api/' }, rewrite: { strip_prefix: '/api' }, proxy: { upstream: 'app' } },
      { match: { path: '/old' }, redirect: { to: '/new', status: 301 } },
    ],
  });
  const hello = await send(`${url}/anything`, { headers: { host: 'hello.test' } });
  assert.equal(hello.status, 200);
  assert.equal(hello.text, 'hello from gatehouse\n');
  assert.match(String(hello.headers['content-type']), /^text\/plain/);

  const r1 = await send(`${url}/api/users?id=7`);
  const r2 = await send(`${url}/api/users?id=7`);
  assert.deepEqual([r1.text, r2.text].sort(), ['A /users?id=7', 'B /users?id=7']);

  const old = await send(`${url}/old`);
  assert.equal(old.status, 301);
  assert.equal(old.headers.location, '/new');

  const none = await send(`${url}/nothing-here`);
  assert.equal(none.status, 404);
  const body = JSON.parse(none.text) as Record<string, unknown>;
  assert.equal(body.code, 'GH_ROUTE_NOT_FOUND');
  assert.equal(body.requestId, none.headers['x-request-id']);
});

test('routing: the most specific host wins, then the longest prefix; ties go by order', async (t) => {
  const { url } = await startProxy(t, {
    routes: [
      { match: { path: '/' }, ...reply('any-root') },
      { match: { path: '/a/' }, ...reply('any-a') },
      { match: { path: '/a/b' }, ...reply('any-ab') },
      { match: { path: '/a/b' }, ...reply('any-ab-second') },
      { match: { host: '*.example.com' }, ...reply('wild') },
      { match: { host: '*.b.example.com', path: '/x' }, ...reply('wild-deeper') },
      { match: { host: 'api.example.com' }, ...reply('exact-host') },
      { match: { host: 'api.example.com', path: '/a/' }, ...reply('exact-host-a') },
    ],
  });
  const get = async (path: string, host = 'other.test'): Promise<string> => (await send(url + path, { headers: { host } })).text;
  assert.equal(await get('/'), 'any-root');
  assert.equal(await get('/zzz'), 'any-root');
  assert.equal(await get('/a/x'), 'any-a');
  assert.equal(await get('/a/b'), 'any-ab');
  assert.equal(await get('/a/b/c'), 'any-ab');
  assert.equal(await get('/a/bc'), 'any-a', 'a prefix matches whole segments only');
  assert.equal((await send(`${url}/a?q`, { headers: { host: 'other.test' } })).headers.location, '/a/?q', '/a for a /a/ route: 301 to /a/, as nginx');
  assert.equal(await get('/a/x', 'API.Example.COM:8080'), 'exact-host-a', 'host is case-insensitive, port ignored');
  assert.equal(await get('/zzz', 'api.example.com'), 'exact-host');
  assert.equal(await get('/a/x', 'www.example.com'), 'wild');
  assert.equal(await get('/x', 'q.b.example.com'), 'wild-deeper');
  assert.equal(await get('/y', 'q.b.example.com'), 'wild', 'falls through to a less specific host');
  assert.equal(await get('/', 'example.com'), 'any-root', '*.example.com does not match example.com');
});

test('routing: exact path beats regex, regex beats prefix; method and header conditions', async (t) => {
  const { url } = await startProxy(t, {
    routes: [
      { match: { path: '/users/' }, ...reply('prefix') },
      { match: { path_regex: '^/users/\\d+$' }, ...reply('regex') },
      { match: { path_exact: '/users/42' }, ...reply('exact') },
      { match: { path: '/m/', method: ['POST', 'put'] }, ...reply('write') },
      { match: { path: '/m/' }, ...reply('read') },
      { match: { path: '/h/', headers: { 'x-env': 'staging' } }, ...reply('staging') },
      { match: { path: '/h/', headers: { 'x-env': { regex: '^prod' } } }, ...reply('prod') },
      { match: { path: '/h/', headers: { 'x-beta': { present: true } } }, ...reply('beta') },
      { match: { path: '/h/' }, ...reply('no-header') },
    ],
  });
  assert.equal((await send(`${url}/users/42`)).text, 'exact');
  assert.equal((await send(`${url}/users/7`)).text, 'regex');
  assert.equal((await send(`${url}/users/x`)).text, 'prefix');
  assert.equal((await send(`${url}/m/1`, { method: 'POST' })).text, 'write');
  assert.equal((await send(`${url}/m/1`, { method: 'PUT' })).text, 'write');
  assert.equal((await send(`${url}/m/1`)).text, 'read');
  assert.equal((await send(`${url}/h/`, { headers: { 'x-env': 'staging' } })).text, 'staging');
  assert.equal((await send(`${url}/h/`, { headers: { 'x-env': 'production' } })).text, 'prod');
  assert.equal((await send(`${url}/h/`, { headers: { 'x-beta': '1' } })).text, 'beta');
  assert.equal((await send(`${url}/h/`)).text, 'no-header');
});

test('routing: rewrites (strip, add, replace prefix, regex with captures) keep the query', async (t) => {
  const o = await startOrigin(t, (req, res) => res.end(req.url));
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [o.url] } },
    routes: [
      { match: { path: '/strip' }, rewrite: { strip_prefix: '/strip' }, proxy: { upstream: 'app' } },
      { match: { path: '/both/' }, rewrite: { strip_prefix: '/both/', add_prefix: '/v2' }, proxy: { upstream: 'app' } },
      { match: { path: '/old-api/' }, rewrite: { replace_prefix: { from: '/old-api/', to: '/new-api/' } }, proxy: { upstream: 'app' } },
      { match: { path_regex: '^/u/(\\d+)/(\\w+)$' }, rewrite: { regex: { pattern: '^/u/(\\d+)/(\\w+)$', replacement: '/users/$1?tab=$2' } }, proxy: { upstream: 'app' } },
    ],
  });
  assert.equal((await send(`${url}/strip/a/b?x=1`)).text, '/a/b?x=1');
  assert.equal((await send(`${url}/strip`)).text, '/');
  assert.equal((await send(`${url}/both/items?q`)).text, '/v2/items?q');
  assert.equal((await send(`${url}/old-api/x`)).text, '/new-api/x');
  assert.equal((await send(`${url}/u/12/posts`)).text, '/users/12?tab=posts');
});

test('routing: request and response header set/add/remove; redirect keeps the query when asked', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    res.setHeader('x-internal', 'secret');
    res.setHeader('x-kept', 'yes');
    res.end(JSON.stringify({ tenant: req.headers['x-tenant'], debug: req.headers['x-debug'] ?? null, tags: req.headers['x-tag'] }));
  });
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: [o.url] } },
    routes: [
      { match: { path: '/go' }, redirect: { to: 'https://example.com/landing', status: 308, keep_query: true } },
      {
        match: { path: '/' },
        headers: {
          request: { set: { 'x-tenant': 'acme' }, add: { 'x-tag': 'proxy' }, remove: ['x-debug'] },
          response: { set: { 'x-frame-options': 'DENY' }, remove: ['x-internal'] },
        },
        proxy: { upstream: 'app' },
      },
    ],
  });
  const r = await send(`${url}/`, { headers: { 'x-tenant': 'evil', 'x-debug': '1', 'x-tag': 'client' } });
  assert.deepEqual(JSON.parse(r.text), { tenant: 'acme', debug: null, tags: 'client, proxy' });
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['x-internal'], undefined);
  assert.equal(r.headers['x-kept'], 'yes');
  const go = await send(`${url}/go?a=1&b=2`);
  assert.equal(go.status, 308);
  assert.equal(go.headers.location, 'https://example.com/landing?a=1&b=2');
});

test('routing: routes can be limited to a listener', async (t) => {
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'one', address: '127.0.0.1:0' }, { name: 'two', address: '127.0.0.1:0' }],
    routes: [
      { match: { listener: 'one' }, ...reply('from one') },
      { match: { listener: ['two'] }, ...reply('from two') },
    ],
  });
  assert.equal((await send(gh.url('one'))).text, 'from one');
  assert.equal((await send(gh.url('two'))).text, 'from two');
});

test('routing: paths are normalised before matching and forwarding, so encodings and dot segments cannot dodge a route', async (t) => {
  const seen: string[] = [];
  const origin = await startOrigin(t, (req, res) => { seen.push(req.url!); res.end('origin'); });
  const { port } = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/admin/' }, access: { deny: ['127.0.0.1/32', '::1/128'] }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
  for (const p of ['/admin/x', '/%61dmin/x', '/%61%64%6D%69%6E/x', '//admin/x', '/./admin/x', '/admin/./x', '///admin//x']) {
    const out = await rawRequest(port, `GET ${p} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 403 /, p);
  }
  assert.equal(seen.length, 0);
  // What is forwarded is the normal form; %2F stays data where no backend reading it as `/` would be served by
  // another route (docs/routing.md); the query is untouched.
  for (const [p, want] of [['/a/%7Euser/./b//c?x=%61', '/a/~user/b/c?x=%61'], ['/files/a%2fb', '/files/a%2Fb'], ['/.well-known/x', '/.well-known/x']]) {
    const out = await rawRequest(port, `GET ${p} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 200 /, p);
    assert.equal(seen.pop(), want);
  }
  const fragment = await rawRequest(port, 'GET /x?q=1#frag HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(fragment, /^HTTP\/1\.1 200 /);
  assert.equal(seen.pop(), '/x?q=1', 'a fragment is not forwarded');
  const traversal = await rawRequest(port, 'GET /x/%2e%2e/admin/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(traversal, /^HTTP\/1\.1 400 /, 'an encoded .. is still refused');
  const slash = await rawRequest(port, 'GET /admin%2fx HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(slash, /^HTTP\/1\.1 400 /, '/admin%2fx would be /admin/x to most backends: refused');
});
