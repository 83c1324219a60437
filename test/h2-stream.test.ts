/** HTTP/2 requests served on node:http2's core API (src/server/h2-stream.ts): what the client sees. */
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { test } from 'node:test';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

interface Exchange { status: number; headers: IncomingHttpHeaders; text: string; trailers: IncomingHttpHeaders; interim: IncomingHttpHeaders[] }

function exchange(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers);
    const out: Exchange = { status: 0, headers: {}, text: '', trailers: {}, interim: [] };
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
