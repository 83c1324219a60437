/** HTTP/2 requests served on node:http2's core API (src/server/h2-stream.ts): what the client sees. */
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { test } from 'node:test';
import { definePlugin } from '../src/index.js';
import { rawRequest } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

interface Exchange { status: number; headers: IncomingHttpHeaders; text: string; trailers: IncomingHttpHeaders; interim: IncomingHttpHeaders[] }

/** `body`: sent after the head (after `100 Continue` when the request expects it). */
function exchange(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers, { endStream: body === undefined && headers[':method'] !== 'CONNECT' });
    const out: Exchange = { status: 0, headers: {}, text: '', trailers: {}, interim: [] };
    if (body !== undefined && headers.expect !== undefined) s.once('continue', () => s.end(body));
    else if (body !== undefined) s.end(body);
    else if (headers[':method'] === 'CONNECT') s.end();
    s.on('headers', (h) => out.interim.push(h));
    s.on('response', (h) => { out.status = Number(h[':status']); out.headers = h; });
    s.on('trailers', (h) => { out.trailers = h; });
    s.setEncoding('utf8');
    s.on('data', (c: string) => { out.text += c; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('HTTP/2 core path: replies, forwarded bodies, HEAD, 204, repeated fields, Early Hints (RFC 8297) and trailers (RFC 9113 8.1)', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</a.css>; rel=preload; as=style' });
      setTimeout(() => res.end('page'), 20);
    } else if (req.url === '/trailers') {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('da');
      setTimeout(() => { res.addTrailers({ 'x-checksum': 'abc123' }); res.end('ta'); }, 20);
    } else if (req.url === '/empty') {
      res.writeHead(204).end();
    } else if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      setTimeout(() => res.end('second'), 50);
    } else {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('connection', 'close');
      res.end(`${req.method} ${req.url}`);
    }
  });
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/reply' }, respond: { status: 201, body: 'made here', headers: { 'x-own': 'yes' } } },
      { match: {}, proxy: { upstream: 'app' } },
    ],
  });
  const session = h2connect(gh.url('h2'));
  t.after(() => session.close());

  const own = await exchange(session, { ':path': '/reply' });
  assert.equal(own.status, 201);
  assert.equal(own.text, 'made here');
  assert.equal(own.headers['x-own'], 'yes');
  assert.equal(own.headers['content-length'], '9');
  assert.match(String(own.headers['x-request-id']), /./);
  assert.match(String(own.headers['x-request-id']), /^[0-9a-f]{32}$/, 'a generated id: 16 random bytes in hex');

  const fwd = await exchange(session, { ':path': '/x?q=1' });
  assert.equal(fwd.text, 'GET /x?q=1');
  assert.deepEqual(fwd.headers['set-cookie'], ['a=1', 'b=2'], 'a repeated field stays a list');
  assert.equal(fwd.headers.connection, undefined, 'RFC 9113 8.2.2: no Connection field');

  const head = await exchange(session, { ':method': 'HEAD', ':path': '/x' });
  assert.equal(head.status, 200);
  assert.equal(head.text, '');

  const empty = await exchange(session, { ':path': '/empty' });
  assert.equal(empty.status, 204);

  const slow = await exchange(session, { ':path': '/slow' });
  assert.equal(slow.text, 'first second', 'a body streamed in parts');

  const hints = await exchange(session, { ':path': '/hints' });
  assert.equal(hints.text, 'page');
  assert.equal(hints.interim[0]?.[':status'], 103);
  assert.equal(hints.interim[0]?.link, '</a.css>; rel=preload; as=style');

  const tr = await exchange(session, { ':path': '/trailers' });
  assert.equal(tr.text, 'data');
  assert.equal(tr.trailers['x-checksum'], 'abc123');

  const missing = await exchange(session, { ':path': '/x', ':method': 'TRACE', 'max-forwards': '0' });
  assert.equal(missing.status, 405);
  assert.match(missing.text, /GH_METHOD_NOT_ALLOWED/);
});

test('HTTP/2 core path: request bodies, Expect: 100-continue (RFC 9110 10.1.1) and others (417), CONNECT (RFC 9113 8.5), 102 Processing (RFC 9110 15.2)', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/processing') {
      res.writeProcessing();
      setTimeout(() => res.end('done'), 20);
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => res.end(`${req.method} ${body}`));
  });
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
  });
  const session = h2connect(gh.url('h2'));
  t.after(() => session.close());

  const sized = await exchange(session, { ':method': 'POST', ':path': '/echo', 'content-length': '5' }, 'hello');
  assert.equal(sized.text, 'POST hello');
  const streamed = await exchange(session, { ':method': 'PUT', ':path': '/echo' }, 'x'.repeat(100_000));
  assert.equal(streamed.text, `PUT ${'x'.repeat(100_000)}`, 'a body of undeclared length, past the flow-control window');

  const continued = await exchange(session, { ':method': 'POST', ':path': '/echo', expect: '100-continue' }, 'later');
  assert.equal(continued.interim[0]?.[':status'], 100, 'the body was asked for');
  assert.equal(continued.text, 'POST later');
  const odd = await exchange(session, { ':method': 'POST', ':path': '/echo', expect: 'magic' }, 'never');
  assert.equal(odd.status, 417);

  const connect = await exchange(session, { ':method': 'CONNECT', ':authority': 'example.com:443' });
  assert.equal(connect.status, 405);
  assert.match(connect.text, /GH_METHOD_NOT_ALLOWED/);

  const processing = await exchange(session, { ':path': '/processing' });
  assert.deepEqual(processing.interim.map((h) => h[':status']), [102]);
  assert.equal(processing.text, 'done');
});

test('plugins: ctx.req reads the same over HTTP/1.1 and HTTP/2 (method, target, version, fields, peer, body)', async (t) => {
  const probe = definePlugin({
    name: 'probe',
    create() {
      return {
        global: {
          earlyRequestFilter(ctx) {
            const r = ctx.req;
            const seen = {
              method: r.method, target: r.target, version: r.httpVersion, cookie: r.header('cookie'), tag: r.header('x-tag'),
              absent: r.header('x-absent') ?? 'none', peer: r.remoteAddress, local: r.localPort,
              fields: r.rawHeaders.filter((_v, i) => i % 2 === 0 && r.rawHeaders[i]!.toLowerCase() === 'x-tag').length,
              hasBody: ctx.head.hasBody, cert: r.peerCertificate() ?? null,
            };
            return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(seen) };
          },
        },
      };
    },
  });
  const { gh } = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }, { name: 'h1', address: '127.0.0.1:0' }],
    routes: [{ match: {}, respond: { status: 404 } }],
  }, { plugins: [probe] });
  const session = h2connect(gh.url('h2'));
  t.after(() => session.close());
  const h2 = JSON.parse((await exchange(session, { ':method': 'POST', ':path': '/p?q=1', cookie: ['a=1', 'b=2'], 'x-tag': ['one', 'two'] }, 'data')).text) as Record<string, unknown>;
  const port = (name: string): number => Number(new URL(gh.url(name)).port);
  const raw = await rawRequest(port('h1'), 'POST /p?q=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1; b=2\r\nX-Tag: one\r\nX-Tag: two\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata');
  const h1 = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
  const same = { method: 'POST', target: '/p?q=1', cookie: 'a=1; b=2', tag: 'one, two', absent: 'none', peer: '127.0.0.1', fields: 2, hasBody: true, cert: null };
  assert.deepEqual(h1, { ...same, version: '1.1', local: port('h1') });
  assert.deepEqual(h2, { ...same, version: '2', local: port('h2') }, 'HTTP/2 splits Cookie (RFC 9113 8.2.3); it reads joined');
});
