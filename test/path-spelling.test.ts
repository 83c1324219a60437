import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { posix } from 'node:path';
import { test } from 'node:test';
import { hashPassword } from '../src/protect/index.js';
import { h2Request, rawRequest } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

/** How common backends turn a request target into a resource (each returns the resource path, or null: refused). */
const safeDecode = (p: string): string | null => { try { return decodeURIComponent(p); } catch { return null; } };
const norm = (p: string | null): string | null => (p === null ? null : posix.normalize(p.replace(/\/{2,}/g, '/')));
const STYLES: Record<string, (target: string) => string | null> = {
  raw: (t) => t,
  // Python http.server, most frameworks: unquote, then normpath.
  decode: (t) => norm(safeDecode(t)),
  // Decoded twice.
  double: (t) => { const once = safeDecode(t); return norm(once === null ? null : safeDecode(once)); },
  // IIS / WHATWG URL: backslash is a separator.
  backslash: (t) => norm(safeDecode(t)?.replace(/\\/g, '/') ?? null),
  // Naive: the whole target decoded, then split at `?` or `#`, then `;params` dropped.
  naive: (t) => norm(safeDecode(t)?.split(/[?#]/)[0]!.replace(/;[^/]*/g, '') ?? null),
  // Tomcat / Spring / Jetty: ;params dropped from each segment, then decoded.
  tomcat: (t) => norm(safeDecode(t.replace(/;[^/]*/g, ''))),
  // Windows / case-insensitive file systems: decoded, backslash, case, Unicode compatibility, trailing dots/spaces.
  windows: (t) => norm(safeDecode(t)?.replace(/\\/g, '/').normalize('NFKC').toLowerCase().replace(/[\u0000-\u001f]/g, '').replace(/[. ]+(?=\/|$)/g, '').replace(/::\$[^/]*/g, '') ?? null),
  // Java equalsIgnoreCase / Python upper(): case folded through upper case (`ı` and `İ` are `I`).
  upper: (t) => norm(safeDecode(t)?.toUpperCase().toLowerCase() ?? null),
  // NFKC-normalising apps (fullwidth letters, `‥`), then the path resolved.
  nfkc: (t) => norm(safeDecode(t)?.normalize('NFKC').replace(/[\u200b\u00ad]/g, '') ?? null),
  // Code that strips control characters (urlsplit drops tabs and newlines), then resolves.
  trim: (t) => norm(safeDecode(t)?.replace(/[\u0000-\u001f\u007f]/g, '') ?? null),
};
const isAdmin = (p: string | null): boolean => p !== null && (p === '/admin' || p.startsWith('/admin/') || p.startsWith('/admin?'));

const CORPUS = [
  '/admin/index.html', '/admin%2Findex.html', '/admin%2findex.html', '/%2Fadmin/index.html', '/%2fadmin%2findex.html',
  '/admin%5Cindex.html', '/admin%5cindex.html', '/admin\\index.html', '/\\admin\\index.html', '/%61dmin/index.html', '/%61%64%6d%69%6e/index.html',
  '/ADMIN/index.html', '/Admin/index.html', '/aDmIn%2Findex.html', '/admin./index.html', '/admin%20/index.html', '/admin%2e/index.html',
  '/admin%09/index.html', '/admin%00/index.html', '/admin%0a/index.html', '/admin%0d%0a/index.html', '/admin%7f/index.html',
  '/admin;x/index.html', '/admin;/index.html', '/;/admin/index.html', '/public/..;/admin/index.html', '/admin;jsessionid=1/index.html',
  '/admin%3Bx/index.html', '/admin%252Findex.html', '/%2561dmin/index.html', '/public/%252E%252E/admin/index.html', '/public/%252e%252e%252fadmin/index.html',
  '/public/..%2Fadmin/index.html', '/public/%2E%2E/admin/index.html', '/public/%2e%2e%2fadmin/index.html', '/public/../admin/index.html',
  '/public/..\\admin/index.html', '/./admin/index.html', '//admin/index.html', '/admin//index.html', '/public/.%2E/admin/index.html',
  '/%EF%BC%8Fadmin/index.html', '/%EF%BD%81dmin/index.html', '/admin%C0%AFindex.html', '/%u0061dmin/index.html', '/admin%/index.html',
  '/admin', '/admin?x=1', '/Admin', '/admin%3F/index.html', '/admin%23/index.html', '/admin#/index.html',
  '/adm%C4%B1n/x', '/adm%C4%B0n/x', '/public/%E2%80%A5/admin/x', '/public/%EF%BC%8E%EF%BC%8E/admin/x', '/admin::$index_allocation/x',
  '/admin%E2%80%8B/x', '/admin%C2%AD/x', '/public/..%3B/admin/x', '/admin%3Bx/y', '/admin%25252Fx', '/public/%25252E%25252E/admin/x',
  '/public/..%09/admin/x', '/admin%2F', '/admin%3F', '/ADMIN', '/admin/', '/Admin/', '/admin.', '/admin%20',
  '/public/x', '/files/a%2Fb', '/index.html', '/files/%25AB.txt',
];

/** Every `paths` setting: each must keep the corpus out, not only the default. */
const MODES: Record<string, string>[] = [
  {},
  ...['decode', 'redirect', 'reject'].flatMap((a): Record<string, string>[] => [{ escaped_slashes: a }, { double_encoding: a }, { path_params: a }]),
  { control_chars: 'keep' },
  { escaped_slashes: 'decode', double_encoding: 'decode', path_params: 'decode', control_chars: 'keep' },
];

async function spellingProxy(t: Parameters<typeof startProxy>[0], paths?: Record<string, string>) {
  const origin = await startOrigin(t, (req, res) => res.end(req.url));
  const hash = await hashPassword('s3cret', 10);
  const proxy = await startProxy(t, {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'h2c', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    ...(paths ? { paths } : {}),
    routes: [
      { match: { path: '/admin/' }, auth: { basic: { users: { alice: hash } } }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
  return { origin, proxy };
}

function parse(raw: string): { status: number; headers: string } {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
  return { status: m ? Number(m[1]) : 0, headers: raw.slice(0, raw.indexOf('\r\n\r\n')) };
}

async function attack(t: Parameters<typeof startProxy>[0], paths: Record<string, string>) {
  const { origin, proxy } = await spellingProxy(t, paths);
  const session = h2connect(proxy.gh.url('h2c'));
  t.after(() => session.close());
  const bypasses: string[] = [];
  const outcome: Record<string, number> = {};
  for (const spelling of CORPUS) {
    for (const via of ['h1', 'h2'] as const) {
      const before = origin.requests.length;
      let status: number;
      let location: string | undefined;
      if (via === 'h1') {
        const res = parse(await rawRequest(proxy.port, `GET ${spelling} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`));
        status = res.status;
        location = /\r\nlocation: ([^\r]*)/i.exec(res.headers)?.[1];
      } else {
        if (/[\u0000-\u0020#]/.test(spelling)) continue;
        const res = await h2Request(session, { ':path': spelling, ':authority': 'example.test' });
        status = res.status;
        location = res.headers.location as string | undefined;
      }
      outcome[`${via} ${spelling}`] = status;
      const forwarded = origin.requests.slice(before).map((r) => r.url!);
      if (status === 200) assert.equal(forwarded.length, 1, `${spelling}: 200 means forwarded`);
      else assert.deepEqual(forwarded, [], `${spelling}: a ${status} never reaches a backend`);
      if (location !== undefined) assert.match(location, /^\/(?![/\\])/, `${spelling}: a redirect stays on this site`);
      for (const target of forwarded) {
        const path = target.split('?')[0]!;
        for (const [style, read] of Object.entries(STYLES)) if (isAdmin(read(path))) bypasses.push(`${via} ${spelling} → ${target} read by ${style}`);
      }
    }
  }
  if (process.env.SHOW_OUTCOME) console.log(outcome);
  assert.deepEqual(bypasses, [], `paths: ${JSON.stringify(paths)}`);
  return outcome;
}

test('paths: no spelling of an auth-protected route reaches it past its rules, under ten backend decoding styles (HTTP/1.1 and HTTP/2)', async (t) => {
  const outcome = await attack(t, {});
  // What a user sees for the plain and the usual cases.
  assert.equal(outcome['h1 /admin/index.html'], 401);
  assert.equal(outcome['h1 /admin%2Findex.html'], 400);
  assert.equal(outcome['h1 /%2Fadmin/index.html'], 400);
  assert.equal(outcome['h1 /%61dmin/index.html'], 401);
  assert.equal(outcome['h1 /admin;x/index.html'], 400);
  assert.equal(outcome['h1 /ADMIN/index.html'], 400);
  assert.equal(outcome['h1 /admin'], 301);
  assert.equal(outcome['h1 /admin%3F/index.html'], 400);
  assert.equal(outcome['h1 /public/x'], 200);
  assert.equal(outcome['h1 /files/a%2Fb'], 200, 'an encoded slash that changes no route is forwarded as sent');
  assert.equal(outcome['h1 /files/%25AB.txt'], 200, 'a literal %AB is no malformed escape');
  assert.equal(outcome['h2 /admin%2Findex.html'], 400);
});

test('paths: every `paths` setting keeps the corpus out, not only the default', async (t) => {
  for (const mode of MODES.slice(1)) await attack(t, mode);
});

test('paths: a route key with capitals, an exact route and a GET-only route hold for the other spellings too', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(req.url));
  const hash = await hashPassword('s3cret', 10);
  const auth = { basic: { users: { alice: hash } } };
  const proxy = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/Admin/' }, auth, proxy: { upstream: 'app' } },
      { match: { path_exact: '/login' }, auth, proxy: { upstream: 'app' } },
      { match: { path: '/reports/', method: 'GET' }, auth, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
  const status = async (method: string, p: string): Promise<number> => parse(await rawRequest(proxy.port, `${method} ${p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`)).status;
  assert.equal(await status('GET', '/Admin/x'), 401);
  assert.equal(await status('GET', '/admin/x'), 400, 'IIS and Express read /admin/x as /Admin/x');
  assert.equal(await status('GET', '/login'), 401);
  assert.equal(await status('GET', '/login/'), 401, 'Express serves /login/ from its /login handler');
  assert.equal(await status('GET', '/reports/q1'), 401);
  assert.equal(await status('HEAD', '/reports/q1'), 401, 'GET implies HEAD');
  assert.equal(origin.requests.length, 0);
});

test('paths: `/admin` for a `/admin/` route is a 301 to `/admin/` (308 for other methods), query kept; an exact route wins', async (t) => {
  const { proxy } = await spellingProxy(t);
  const get = parse(await rawRequest(proxy.port, 'GET /admin?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'));
  assert.equal(get.status, 301);
  assert.match(get.headers, /\r\nlocation: \/admin\/\?x=1/i);
  const post = parse(await rawRequest(proxy.port, 'POST /admin HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  assert.equal(post.status, 308);
  const exact = await startProxy(t, {
    routes: [
      { match: { path_exact: '/admin' }, respond: { body: 'exact' } },
      { match: { path: '/admin/' }, respond: { body: 'dir' } },
    ],
  });
  assert.match(await rawRequest(exact.port, 'GET /admin HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200[^]*exact$/);
});

test('paths: each class\'s action is configurable: reject, redirect, decode, keep', async (t) => {
  const { origin, proxy } = await spellingProxy(t, { escaped_slashes: 'decode', path_params: 'redirect', double_encoding: 'reject' });
  // decode: routed and forwarded as `/admin/index.html`, so the admin route's rules apply.
  assert.equal(parse(await rawRequest(proxy.port, 'GET /admin%2Findex.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')).status, 401);
  const before = origin.requests.length;
  const ok = await rawRequest(proxy.port, 'GET /files/a%2Fb HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200[^]*\/files\/a\/b$/);
  assert.equal(origin.requests.length, before + 1);
  // redirect: to the spelling without parameters.
  const r = parse(await rawRequest(proxy.port, 'GET /admin;x/index.html?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'));
  assert.equal(r.status, 301);
  assert.match(r.headers, /\r\nlocation: \/admin\/index\.html\?q/i);
  // reject: any escape of an escape.
  assert.equal(parse(await rawRequest(proxy.port, 'GET /files/100%2541 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')).status, 400);
  assert.equal(origin.requests.length, before + 1);
});

test('paths: a request_rules deny rule holds for other spellings of the path (case, ;params, decoded twice)', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(req.url));
  const proxy = await startProxy(t, {
    request_rules: { deny: [{ path: '^/wp-admin' }, { path: '^/secret$' }] },
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  for (const p of ['/wp-admin/x', '/WP-Admin/x', '/wp-admin;x/y', '/wp-admin%3Bx/y', '/wp%252Dadmin/x', '/wp-admin./x', '/%EF%BD%97p-admin/x', '/WP%252Dadmin/x', '/wp-adm%C4%B1n/x']) {
    const status = parse(await rawRequest(proxy.port, `GET ${p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`)).status;
    assert.ok(status === 403 || status === 400, `${p}: ${status}`);
  }
  for (const p of ['/secret', '/secret%3F', '/secret%23x']) {
    assert.equal(parse(await rawRequest(proxy.port, `GET ${p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`)).status, 403, p);
  }
  assert.equal(origin.requests.length, 0);
  assert.equal(parse(await rawRequest(proxy.port, 'GET /blog/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')).status, 200);
});

test('hosts: a Host with an empty label (a..b, a leading dot, two trailing dots) is a 400, so a host route cannot be dodged', async (t) => {
  const proxy = await startProxy(t, {
    routes: [{ match: { host: 'admin.example.test' }, respond: { status: 401, body: 'auth' } }, { match: {}, respond: { body: 'open' } }],
  });
  const status = async (host: string): Promise<number> => parse(await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).status;
  assert.equal(await status('admin.example.test'), 401);
  assert.equal(await status('ADMIN.example.test.'), 401, 'case and one trailing dot: the same name');
  assert.equal(await status('admin.example.test:8080'), 401);
  for (const h of ['admin.example.test..', 'admin..example.test', '.admin.example.test']) assert.equal(await status(h), 400, h);
  assert.equal(await status('www.example.test'), 200);
});
