import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect as h2connect, type OutgoingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { h2Request, send } from './helpers/client.js';
import { logMessages, runCli } from './helpers/cli.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';
import { startProxy } from './helpers/proxy.js';

function peerCert(port: number, servername: string | undefined, ca: string, extra: Record<string, unknown> = {}): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), ca, ...extra }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve(c);
    });
    s.on('error', reject);
  });
}

function httpsGet(url: string, opts: Record<string, unknown>): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent: false, ...opts }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function tlsProxy(t: Parameters<typeof startOrigin>[0], tlsExtra: Record<string, unknown> = {}) {
  const ca = makeCa();
  const a = makeLeaf(ca, 'a.test', ['a.test', 'www.a.test'], { file: 'a' });
  const b = makeLeaf(ca, 'b.test', ['b.test', '*.w.test'], { file: 'b' });
  const origin = await startOrigin(t, (req, res) => res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'], subject: req.headers['x-client-cert-subject'] ?? null, via: req.headers.via })));
  const proxy = await startProxy(t, {
    listeners: [
      { name: 'plain', address: '127.0.0.1:0', redirect_https: true },
      { name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }, { cert: b.cert, key: b.key }], hsts: '365d', ...tlsExtra } },
    ],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const port = Number(new URL(proxy.gh.url('secure')).port);
  return { ca, a, b, origin, proxy, port };
}

test('TLS: SNI picks the certificate by the names in its SAN list, wildcards included; the first is the default', async (t) => {
  const { ca, port } = await tlsProxy(t);
  assert.equal((await peerCert(port, 'a.test', ca.certPem)).subject.CN, 'a.test');
  assert.equal((await peerCert(port, 'www.a.test', ca.certPem)).subject.CN, 'a.test');
  assert.equal((await peerCert(port, 'b.test', ca.certPem)).subject.CN, 'b.test');
  assert.equal((await peerCert(port, 'x.w.test', ca.certPem)).subject.CN, 'b.test', 'wildcard *.w.test');
  assert.equal((await peerCert(port, 'deep.x.w.test', ca.certPem, { checkServerIdentity: () => undefined })).subject.CN, 'a.test', 'a wildcard covers one label only');
  assert.equal((await peerCert(port, undefined, ca.certPem, { checkServerIdentity: () => undefined })).subject.CN, 'a.test', 'no SNI: the default');
});

test('TLS: certificates of mixed key types (ECDSA first, RSA second) are each served for their own names; no SNI gets the first', async (t) => {
  const ca = makeCa();
  const ec = makeLeaf(ca, 'ec.test', ['ec.test'], { file: 'ec' });
  const rsa = makeLeaf(ca, 'rsa.test', ['rsa.test'], { file: 'rsa', rsa: true });
  const proxy = await startProxy(t, {
    listeners: [{ name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: ec.cert, key: ec.key }, { cert: rsa.cert, key: rsa.key }] } }],
    routes: [{ match: {}, respond: { body: 'ok' } }],
  });
  const port = Number(new URL(proxy.gh.url('secure')).port);
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    // A client that accepts both key types (as every browser does) still gets the certificate for its name.
    assert.equal((await peerCert(port, 'rsa.test', ca.certPem, { maxVersion })).subject.CN, 'rsa.test', maxVersion);
    assert.equal((await peerCert(port, 'ec.test', ca.certPem, { maxVersion })).subject.CN, 'ec.test', maxVersion);
    assert.equal((await peerCert(port, undefined, ca.certPem, { maxVersion, checkServerIdentity: () => undefined })).subject.CN, 'ec.test', `no SNI, ${maxVersion}`);
  }
  const r = await httpsGet(`https://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'rsa.test' });
  assert.equal(r.status, 200);
});

test('TLS: 1.0 and 1.1 are refused; 1.2 and 1.3 accepted', async (t) => {
  const { ca, port } = await tlsProxy(t);
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    await assert.rejects(peerCert(port, 'a.test', ca.certPem, { minVersion: v, maxVersion: v }), /protocol|version|alert|disabled|unsupported/i, v);
  }
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    assert.equal((await peerCert(port, 'a.test', ca.certPem, { minVersion: v, maxVersion: v })).subject.CN, 'a.test');
  }
});

test('HTTP/2 and HTTP/1.1 clients reach the same route; HSTS on TLS responses; redirect_https on the plain listener', async (t) => {
  const { ca, port, proxy } = await tlsProxy(t);
  const h1 = await httpsGet(`https://127.0.0.1:${port}/x`, { ca: ca.certPem, servername: 'a.test', headers: { host: 'a.test' } });
  assert.equal(h1.status, 200);
  assert.equal((JSON.parse(h1.text) as { proto: string }).proto, 'https');
  assert.equal(h1.headers['strict-transport-security'], 'max-age=31536000');

  const session = h2connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'a.test' });
  t.after(() => session.close());
  const h2 = await h2Request(session, { ':path': '/x', ':authority': 'a.test' });
  assert.equal(h2.status, 200);
  assert.equal((JSON.parse(h2.text) as { proto: string; via: string }).proto, 'https');
  assert.equal((JSON.parse(h2.text) as { via: string }).via, '2 gatehouse');
  assert.equal(h2.headers['strict-transport-security'], 'max-age=31536000');

  const plain = proxy.gh.url('plain');
  const get = await send(`${plain}/path?q=1`, { headers: { host: 'shop.test' } });
  assert.equal(get.status, 301);
  assert.equal(get.headers.location, `https://shop.test:${port}/path?q=1`);
  assert.equal(get.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
  const post = await send(`${plain}/form`, { method: 'POST', body: 'x', headers: { host: 'shop.test' } });
  assert.equal(post.status, 308);
});

test('mTLS: a required client certificate is checked against the CA; its subject can be forwarded', async (t) => {
  const clientCa = makeCa('Client CA');
  const good = makeLeaf(clientCa, 'client-1', [], { client: true });
  const other = makeCa('Other CA');
  const bad = makeLeaf(other, 'intruder', [], { client: true });
  const { ca, port } = await tlsProxy(t, { client_auth: { ca: clientCa.cert, required: true, forward_headers: true } });
  const ok = await httpsGet(`https://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'a.test', cert: good.certPem, key: good.keyPem });
  assert.equal(ok.status, 200);
  assert.equal((JSON.parse(ok.text) as { subject: string }).subject, 'CN=client-1');
  await assert.rejects(httpsGet(`https://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'a.test' }), /certificate|handshake|alert|reset|socket hang up/i);
  await assert.rejects(httpsGet(`https://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'a.test', cert: bad.certPem, key: bad.keyPem }), /certificate|alert|unknown ca|reset|socket hang up/i);
});

test('TLS: a renewed pair serves new handshakes without a restart; a broken pair is refused and the old one stays', async (t) => {
  const { ca, a, port } = await tlsProxy(t);
  const first = await peerCert(port, 'a.test', ca.certPem);
  const renewed = makeLeaf(ca, 'a.test', ['a.test', 'www.a.test'], { file: 'a-renewed' });
  copyFileSync(renewed.key, a.key);
  copyFileSync(renewed.cert, a.cert);
  await waitFor(async () => (await peerCert(port, 'a.test', ca.certPem)).serialNumber !== first.serialNumber, 8000, 'the renewed certificate');
  const current = await peerCert(port, 'a.test', ca.certPem);
  writeFileSync(a.cert, 'not a certificate');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal((await peerCert(port, 'a.test', ca.certPem)).serialNumber, current.serialNumber);
});

test('cli: missing certificate and key files are one clear message (of the process log), at their keys, and exit 1', async () => {
  const dir = tempDir('tls');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, 'listeners: [{ name: s, address: "127.0.0.1:0", tls: { certificates: [{ cert: certs/a.pem, key: certs/a-key.pem }] } }]\n');
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 1);
  assert.deepEqual(logMessages(r.stderr), [[
    `${file}: cannot read certificate file ${join(dir, 'certs/a.pem')}: file not found at listeners[0].tls.certificates[0].cert (line 1, col 78)`,
    `${file}: cannot read key file ${join(dir, 'certs/a-key.pem')}: file not found at listeners[0].tls.certificates[0].key (line 1, col 96)`,
    '2 errors in config',
  ].join('\n')]);
});

test('upstream TLS: verified against a CA by default; a wrong CA is a 502; insecure_skip_verify opts out; h2 upstream', async (t) => {
  const { createServer: createHttpsServer } = await import('node:https');
  const { createSecureServer } = await import('node:http2');
  const ca = makeCa('Upstream CA');
  const leaf = makeLeaf(ca, 'backend.internal', ['backend.internal']);
  const h1 = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    res.setHeader('x-sni', String((req.socket as import('node:tls').TLSSocket).servername));
    res.end(`h1 ${req.httpVersion}`);
  });
  let h1Handshakes = 0;
  h1.on('secureConnection', () => { h1Handshakes++; });
  const h2 = createSecureServer({ cert: leaf.certPem, key: leaf.keyPem, allowHTTP1: false }, (req, res) => res.end(`h2 ${req.httpVersion}`));
  const sessions = new Set<{ destroy(): void }>();
  h2.on('session', (s) => sessions.add(s));
  for (const s of [h1, h2]) {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    t.after(() => {
      h1.closeAllConnections();
      for (const x of sessions) x.destroy();
      s.close();
    });
  }
  const port = (s: { address(): unknown }): number => (s.address() as { port: number }).port;
  const other = makeCa('Some other CA');
  const { url } = await startProxy(t, {
    upstreams: {
      good: { servers: [`https://127.0.0.1:${port(h1)}`], retries: 0, tls: { ca: ca.cert, server_name: 'backend.internal' } },
      wrongca: { servers: [`https://127.0.0.1:${port(h1)}`], retries: 0, tls: { ca: other.cert, server_name: 'backend.internal' } },
      skip: { servers: [`https://127.0.0.1:${port(h1)}`], retries: 0, tls: { insecure_skip_verify: true } },
      h2: { servers: [`https://127.0.0.1:${port(h2)}`], h2: true, tls: { ca: ca.cert, server_name: 'backend.internal' } },
    },
    routes: [
      { match: { path: '/good' }, proxy: { upstream: 'good' } },
      { match: { path: '/wrongca' }, proxy: { upstream: 'wrongca' } },
      { match: { path: '/skip' }, proxy: { upstream: 'skip' } },
      { match: { path: '/h2' }, proxy: { upstream: 'h2' } },
    ],
  });
  assert.equal((await send(`${url}/good`)).text, 'h1 1.1');
  // SNI is the configured server name, never the client's Host; a change of Host keeps the connection.
  const before = h1Handshakes;
  for (const host of ['one.example', 'two.example', 'one.example']) {
    const r = await send(`${url}/good`, { headers: { host } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-sni'], 'backend.internal');
  }
  assert.equal(h1Handshakes, before, 'one upstream connection across client Hosts');
  const bad = await send(`${url}/wrongca`);
  assert.equal(bad.status, 502);
  assert.ok(!bad.text.includes('certificate'), 'no TLS detail reaches the client');
  assert.equal((await send(`${url}/skip`)).text, 'h1 1.1');
  assert.equal((await send(`${url}/h2`)).text, 'h2 2.0');
});

test('HTTP/2: the rapid-reset pattern (CVE-2023-44487) gets the abusing connection closed; others are served', async (t) => {
  const { constants } = await import('node:http2');
  const { ca, port } = await tlsProxy(t);
  const session = h2connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'a.test' });
  t.after(() => session.destroy());
  session.on('error', () => {});
  let closed = false;
  session.on('close', () => { closed = true; });
  session.on('goaway', () => { closed = true; });
  await new Promise((r) => session.once('connect', r));
  for (let i = 0; i < 5000 && !closed && !session.destroyed; i++) {
    try {
      const s = session.request({ ':path': '/', ':authority': 'a.test' });
      s.on('error', () => {});
      s.close(constants.NGHTTP2_CANCEL);
    } catch {
      break;
    }
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => closed || session.destroyed, 5000, 'the abusive session to be closed');
  const ok = await httpsGet(`https://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'a.test' });
  assert.equal(ok.status, 200);
});

test('TLS: sessions resume with tickets', async (t) => {
  const { ca, port } = await tlsProxy(t);
  const connectOnce = (session?: Buffer) => new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
    let ticket: Buffer | undefined;
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'a.test', ca: ca.certPem, maxVersion: 'TLSv1.2', ...(session ? { session } : {}) }, () => {
      const reused = s.isSessionReused();
      setTimeout(() => { ticket = s.getSession(); s.destroy(); resolve({ reused, session: ticket }); }, 50);
    });
    s.on('error', reject);
  });
  const first = await connectOnce();
  assert.equal(first.reused, false);
  const second = await connectOnce(first.session);
  assert.equal(second.reused, true);
});

test('h2c: a listener can speak cleartext HTTP/2 by prior knowledge, through the same routes', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(`${req.url} via ${String(req.headers.via)}`));
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'grpc', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/api/' }, rewrite: { strip_prefix: '/api' }, proxy: { upstream: 'app' } }],
  });
  const session = h2connect(gh.url('grpc'));
  t.after(() => session.close());
  const res = await h2Request(session, { ':path': '/api/x' });
  assert.equal(res.status, 200);
  assert.equal(res.text, '/x via 2 gatehouse');
  // CONNECT over HTTP/2 (RFC 9113 8.5) is refused on its stream; the session goes on.
  const connect = await h2Request(session, { ':method': 'CONNECT', ':authority': 'internal:22' });
  assert.equal(connect.status, 405);
  assert.equal(connect.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  assert.match(connect.text, /"code":"GH_METHOD_NOT_ALLOWED"/);
  assert.equal(origin.requests.length, 1, 'only the GET reached the backend');
  assert.equal((await h2Request(session, { ':path': '/api/y' })).text, '/y via 2 gatehouse', 'the session goes on');
});

test('HTTP/2 to HTTP/1.1: bodies without Content-Length (DATA frames only) reach the backend whole, a GET stays bodiless, split cookies are joined', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/cookies') return void res.end(JSON.stringify(req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]!.toLowerCase() === 'cookie')));
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => res.end(`${req.method} ${n} te=${String(req.headers['transfer-encoding'])} cl=${String(req.headers['content-length'])}`));
  });
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const session = h2connect(gh.url('h2'));
  t.after(() => session.close());
  const call = async (headers: OutgoingHttpHeaders, body?: string[]): Promise<string> => {
    const res = await h2Request(session, headers, body);
    assert.equal(res.status, 200);
    return res.text;
  };
  const big = 'x'.repeat(100_000);
  assert.match(await call({ ':method': 'POST', ':path': '/' }, ['hello ', 'body']), /^POST 10 /);
  assert.match(await call({ ':method': 'PUT', ':path': '/' }, [big, big]), /^PUT 200000 /);
  assert.equal(await call({ ':method': 'POST', ':path': '/', 'content-length': '4' }, ['abcd']), 'POST 4 te=undefined cl=4');
  assert.equal(await call({ ':method': 'GET', ':path': '/' }), 'GET 0 te=undefined cl=undefined');
  // RFC 9113 8.2.3: cookies split over several fields reach an HTTP/1.1 backend as one Cookie field.
  assert.equal(await call({ ':path': '/cookies', cookie: ['a=1', 'b=2', 'c=3'] }), '["a=1; b=2; c=3"]');
});

test('OCSP stapling: a certificate that names a responder gets its OCSP answer stapled', { timeout: 30_000 }, async (t) => {
  const { spawn } = await import('node:child_process');
  const { freePort: fp } = await import('./helpers/origin.js');
  const ca = makeCa('OCSP CA');
  const ocspPort = await fp();
  const leaf = makeLeaf(ca, 'ocsp.test', ['ocsp.test'], { file: 'ocsp', ext: [`authorityInfoAccess=OCSP;URI:http://127.0.0.1:${ocspPort}`] });
  // The served chain includes the CA, so the issuer is known for the OCSP request.
  writeFileSync(leaf.cert, leaf.certPem + ca.certPem);
  const { X509Certificate } = await import('node:crypto');
  const x = new X509Certificate(leaf.certPem);
  const expiry = new Date(x.validTo).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  writeFileSync(join(ca.dir, 'index.txt'), `V\t${expiry}\t\t${x.serialNumber}\tunknown\t/CN=ocsp.test\n`);
  const responder = spawn('openssl', ['ocsp', '-index', join(ca.dir, 'index.txt'), '-port', String(ocspPort), '-rsigner', ca.cert, '-rkey', ca.key, '-CA', ca.cert, '-ignore_err'], { stdio: 'ignore' });
  t.after(() => responder.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 500));
  const origin = await startOrigin(t, (_q, s) => s.end('ok'));
  const { gh } = await startProxy(t, {
    listeners: [{ name: 's', address: '127.0.0.1:0', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const port = Number(new URL(gh.url('s')).port);
  const stapled = () => new Promise<Buffer | null>((resolve, reject) => {
    let resp: Buffer | null = null;
    // requestOCSP is a TLSSocket option that @types/node leaves out of ConnectionOptions.
    const opts: import('node:tls').ConnectionOptions = { port, host: '127.0.0.1', servername: 'ocsp.test', ca: ca.certPem };
    Object.assign(opts, { requestOCSP: true });
    const s = tlsConnect(opts, () => {
      setTimeout(() => { s.destroy(); resolve(resp); }, 50);
    });
    s.on('OCSPResponse', (r: Buffer) => { resp = r; });
    s.on('error', reject);
  });
  let resp: Buffer | null = null;
  await waitFor(async () => ((resp = await stapled())?.length ?? 0) > 0, 10_000, 'a stapled OCSP response');
  // The responder said "successful" and "good" for this very certificate (the CertID matched).
  writeFileSync(join(ca.dir, 'resp.der'), resp!);
  const { execFileSync } = await import('node:child_process');
  const text = execFileSync('openssl', ['ocsp', '-respin', join(ca.dir, 'resp.der'), '-resp_text', '-noverify'], { encoding: 'utf8' });
  assert.match(text, /OCSP Response Status: successful/);
  assert.match(text, /Cert Status: good/);
  assert.match(text, new RegExp(`Serial Number: ${x.serialNumber}`, 'i'));
});

test('idle connections: an HTTP/2 connection without open streams is closed after keepalive_timeout (a slow stream is not); a TLS handshake must finish within header_timeout', async (t) => {
  const origin = await startOrigin(t, (req, res) => { setTimeout(() => res.end('slow'), req.url === '/slow' ? 900 : 0); });
  const ca = makeCa();
  const a = makeLeaf(ca, 'a.test', ['a.test']);
  const { gh } = await startProxy(t, {
    listeners: [
      { name: 'h2', address: '127.0.0.1:0', h2c: true },
      { name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }] } },
    ],
    limits: { keepalive_timeout: '300ms', header_timeout: '500ms' },
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const session = h2connect(gh.url('h2'));
  t.after(() => session.destroy());
  let closedAt = 0;
  session.on('close', () => { closedAt = Date.now(); });
  session.on('error', () => {});
  const started = Date.now();
  const slow = await h2Request(session, { ':path': '/slow' });
  assert.equal(slow.status, 200);
  assert.equal(slow.text, 'slow', 'a stream open longer than keepalive_timeout is served');
  await waitFor(() => closedAt > 0, 3000, 'the idle HTTP/2 connection to be closed');
  assert.ok(closedAt - started >= 900, 'not before its stream ended');

  const { connect } = await import('node:net');
  const port = Number(new URL(gh.url('secure')).port);
  const raw = connect(port, '127.0.0.1');
  const opened = Date.now();
  const gone = await new Promise<number>((resolve) => { raw.on('close', () => resolve(Date.now() - opened)); raw.on('error', () => {}); });
  assert.ok(gone < 2500, `a silent TLS client is dropped (after ${gone} ms)`);
});

test('reload: a bound TLS listener takes a new certificate list in place (same socket, no restart)', async (t) => {
  const ca = makeCa();
  const a = makeLeaf(ca, 'a.test', ['a.test']);
  const b = makeLeaf(ca, 'b.test', ['b.test']);
  const config = (certs: { cert: string; key: string }[]) => ({
    listeners: [{ name: 'secure', address: '127.0.0.1:0', tls: { certificates: certs } }],
    routes: [{ match: {}, respond: { body: 'ok' } }],
  });
  const { gh } = await startProxy(t, config([{ cert: a.cert, key: a.key }]));
  const port = Number(new URL(gh.url('secure')).port);
  assert.equal((await peerCert(port, 'b.test', ca.certPem, { checkServerIdentity: () => undefined })).subject.CN, 'a.test');
  await gh.reload(config([{ cert: a.cert, key: a.key }, { cert: b.cert, key: b.key }]));
  assert.equal(Number(new URL(gh.url('secure')).port), port, 'the same socket');
  assert.equal((await peerCert(port, 'b.test', ca.certPem)).subject.CN, 'b.test');
  assert.equal((await peerCert(port, 'a.test', ca.certPem)).subject.CN, 'a.test');
  await gh.reload(config([{ cert: b.cert, key: b.key }]));
  assert.equal((await peerCert(port, undefined, ca.certPem, { checkServerIdentity: () => undefined })).subject.CN, 'b.test', 'the new default');
  assert.equal((await httpsGet(`https://127.0.0.1:${port}/`, { ca: ca.certPem, servername: 'b.test' })).status, 200);
});
