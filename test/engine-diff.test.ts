/**
 * Differential test of the two engines (#16): one corpus of raw requests, well-formed and malformed, sent to a
 * proxy on `engine: node` and to one on `engine: native` in front of the same origin. Both must give the client
 * the same bytes (less the Date and the request id, which differ by nature), close the connection alike, and
 * send the origin the same requests (method, target, fields in order, body) — or none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { send } from './helpers/client.js';
import { makeCa, makeLeaf } from './helpers/certs.js';

/** Sends `data` and collects what comes back until the server closes, or `quietMs` pass with nothing new. */
function exchange(port: number, data: string, quietMs = 250): Promise<{ bytes: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer = setTimeout(() => done(false), quietMs * 4);
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ bytes: Buffer.concat(chunks).toString('latin1'), closed });
    };
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(() => done(false), quietMs);
    });
    sock.on('end', () => done(true));
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? done(true) : reject(err)));
    sock.write(data);
  });
}

/** What varies between any two runs: the date, generated request ids. */
function normalize(s: string): string {
  return s
    .replace(/\r\ndate: [^\r]*/gi, '\r\ndate: X')
    .replace(/[0-9a-f]{32}/g, 'ID')
    .replace(/\r\nkeep-alive: [^\r]*/gi, '\r\nkeep-alive: X');
}

const H = 'Host: example.test\r\n';
const CORPUS: Record<string, string> = {
  'GET': `GET /a/b?c=d&e HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'GET, percent-encoded path': `GET /a/%7Euser/./x//y%20z HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'encoded slash, kept encoded': `GET /a%2Fb HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'POST with Content-Length': `POST /form HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world`,
  'POST chunked with trailer': `POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n`,
  'HEAD': `HEAD /h HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'chunked response': `GET /chunked HTTP/1.1\r\n${H}TE: trailers\r\nConnection: close\r\n\r\n`,
  '204': `GET /204 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'pipelined, answered in order': `GET /1 HTTP/1.1\r\n${H}\r\nGET /2 HTTP/1.1\r\n${H}\r\nGET /3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'HTTP/1.0 without Host': 'GET /old HTTP/1.0\r\n\r\n',
  'HTTP/1.0 keep-alive': `GET /old HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`,
  'Expect: 100-continue': `PUT /e HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
  'hop-by-hop named in Connection': `GET /hop HTTP/1.1\r\n${H}Connection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n\r\n`,
  'absolute-form target': `GET http://example.test/abs HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'OPTIONS *': `OPTIONS * HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  // Spellings a smuggling corpus tries, which both engines take, and take alike.
  'Transfer-Encoding after a tab': `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding with trailing space': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked \r\nConnection: close\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding: Chunked': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
  'Content-Length with trailing space': `POST / HTTP/1.1\r\n${H}Content-Length: 5 \r\nConnection: close\r\n\r\nhello`,
  'chunk extension': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n`,
  'two spaces after the method': `GET  / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'a fragment in the target': `GET /a#b HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'an empty value': `GET / HTTP/1.1\r\n${H}X:\r\nConnection: close\r\n\r\n`,
  'obs-text in a value': `GET / HTTP/1.1\r\n${H}X: a\x80b\r\nConnection: close\r\n\r\n`,
  'an empty line before the request': `\r\nGET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'h2c upgrade (not taken)': `GET / HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
  'TRACE': `TRACE / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
};
/** Malformed: each must be refused alike, and reach no server. */
const MALFORMED: Record<string, string> = {
  'dot-dot segment': `GET /a/../etc/passwd HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'Content-Length with Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  'two Content-Lengths': `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
  'bad chunk size': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
  'obs-fold': `GET / HTTP/1.1\r\n${H}X-A: 1\r\n 2\r\n\r\n`,
  'space before colon': `GET / HTTP/1.1\r\n${H}X-A : 1\r\n\r\n`,
  'bare LF line ends': `GET / HTTP/1.1\n${H.replace('\r', '')}\n`,
  'NUL in a value': `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`,
  'invalid method': `G(T / HTTP/1.1\r\n${H}\r\n`,
  'HTTP/1.2': `GET / HTTP/1.2\r\n${H}\r\n`,
  'no Host on HTTP/1.1': 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n',
  'two Hosts': `GET / HTTP/1.1\r\n${H}${H}Connection: close\r\n\r\n`,
  'Transfer-Encoding not chunked last': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`,
  'head over 16 KiB': `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(17_000)}\r\n\r\n`,
  'garbage': '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
  // More of a smuggling corpus: refused alike, and reaching no server.
  'Transfer-Encoding twice (chunked, identity)': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`,
  'space between name and colon in Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding before Content-Length': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding in HTTP/1.0': `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  'Content-Length: +5': `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`,
  'Content-Length: 0x5': `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`,
  'Content-Length: 5, 5': `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`,
  'Content-Length: -1': `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
  'Content-Length past 2^64': `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`,
  'a chunk size after a space': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`,
  'a chunk extension ended by a bare LF': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;ext\nhello\r\n0\r\n\r\n`,
  'chunk data ended by a bare LF': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`,
  'a chunk size past 2^64': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n`,
  'Content-Length in the trailers': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n`,
  'a tab after the method': `GET\t/ HTTP/1.1\r\n${H}\r\n`,
  'a lower-case method': `get / HTTP/1.1\r\n${H}\r\n`,
  'a lower-case version': `GET / http/1.1\r\n${H}\r\n`,
  'a control character in the target': `GET /a\x01b HTTP/1.1\r\n${H}\r\n`,
  'NUL in the target': `GET /a\x00b HTTP/1.1\r\n${H}\r\n`,
  'DEL in a value': `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`,
  'an empty field name': `GET / HTTP/1.1\r\n${H}: v\r\n\r\n`,
  'a field name that is not a token': `GET / HTTP/1.1\r\n${H}X@Y: v\r\n\r\n`,
  'a Host with a space': 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
  'Host twice, in two cases': 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n',
  'userinfo in an absolute-form target': `GET http://u@a.test/ HTTP/1.1\r\n${H}\r\n`,
  'a line ended by CR alone': `GET / HTTP/1.1\r${H}\r\n`,
  'Expect other than 100-continue': `POST / HTTP/1.1\r\n${H}Expect: something\r\nContent-Length: 1\r\n\r\nx`,
  'more fields than limits.header_count': `GET / HTTP/1.1\r\n${H}${Array.from({ length: 150 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
};

test('engines: the same corpus of requests gives the same bytes to the client and the same requests upstream on node and native', async (t) => {
  const seen: string[] = [];
  const origin = await startOrigin(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(normalize(JSON.stringify([req.method, req.url, req.httpVersion, req.rawHeaders, Buffer.concat(chunks).toString('latin1'), req.trailers])));
      if (req.url === '/204') { res.writeHead(204); return res.end(); }
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
        res.write('part one, ');
        res.addTrailers({ 'x-sum': '2' });
        return res.end('part two');
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-path': req.url ?? '' });
      res.end(req.method === 'HEAD' ? undefined : `you asked for ${req.url}`);
    });
  });
  const config = (engine: 'node' | 'native') => ({
    engine,
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  const node = await startProxy(t, config('node'));
  const native = await startProxy(t, config('native'));
  for (const [name, raw] of [...Object.entries(CORPUS), ...Object.entries(MALFORMED)]) {
    seen.length = 0;
    const a = await exchange(node.port, raw);
    const upA = [...seen];
    seen.length = 0;
    const b = await exchange(native.port, raw);
    const upB = [...seen];
    assert.equal(normalize(b.bytes), normalize(a.bytes), `${name}: the bytes to the client`);
    assert.equal(b.closed, a.closed, `${name}: the connection closed alike`);
    assert.deepEqual(upB, upA, `${name}: the requests the origin received`);
    if (name in MALFORMED) assert.deepEqual(upA, [], `${name}: refused before any server`);
    else if (name !== 'OPTIONS *') assert.ok(upA.length > 0, `${name}: forwarded`); // `*` is answered by the proxy
  }
});

test('engines: a reload that changes engine moves upstream connections at once; a bound listener keeps its engine and says to restart', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }));
  const config = (engine: 'node' | 'native') => ({
    engine,
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  let connections = 0;
  origin.server.on('connection', () => connections++);
  const gh = await startProxy(t, config('node'), { logger });
  assert.equal((await send(`${gh.url}/a`)).text, 'ok');
  assert.equal((await send(`${gh.url}/a2`)).text, 'ok');
  assert.equal(connections, 1, 'one kept-alive upstream connection before the reload');
  await gh.gh.reload({ ...config('native'), access_log: { enabled: false }, overload: false, listeners: [{ name: 'public', address: '127.0.0.1:0' }] });
  assert.ok(lines.some((l) => l.includes('engine changed for a bound listener: restart to apply')), 'the listener says it keeps its engine');
  for (let i = 0; i < 5; i++) assert.equal((await send(`${gh.url}/b${i}`)).text, 'ok');
  assert.equal(connections, 2, 'the server\'s pool was replaced: its requests went on a new connection');
});

for (const listenerEngine of ['node', 'native'] as const) {
  test(`engines: RFC 9110 5.5, 10.2.2: the native client's fields reach a ${listenerEngine} listener's client whole, a rewritten Location and added fields checked`, async (t) => {
    // The native client's fields go on unchecked (its parser refused anything else); a node:http listener must
    // take the same list (its writeHead reads a third argument as the fields).
    const origin = await startOrigin(t, (req, res) => {
      res.writeHead(200, { 'x-a': 'one', location: `${origin.url}/moved${req.url ?? ''}`, 'x-b': 'two', 'content-type': 'text/plain' });
      res.end('body');
    });
    const gh = await startProxy(t, {
      engine: 'native',
      listeners: [{ name: 'public', address: '127.0.0.1:0', engine: listenerEngine }],
      upstreams: { app: { servers: [origin.url] } },
      routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
    });
    const r = await send(`${gh.url}/p?q=1`, { headers: { host: 'public.test' } });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'body');
    assert.equal(r.headers['x-a'], 'one');
    assert.equal(r.headers['x-b'], 'two');
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.headers.location, 'http://public.test/moved/p?q=1', 'the backend URL rewritten to the public host');
    assert.match(String(r.headers['x-request-id']), /^[\w.:+\/=-]+$/);
  });
}

/** An HTTP/1.1 GET over TLS offering `alpn`: the protocol chosen and the status line (or the TLS error). */
function tlsGet(port: number, ca: string, alpn: string[] | undefined): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'a.test', ca, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      if (s.alpnProtocol === 'h2') { s.destroy(); return resolve('h2'); }
      s.write('GET /x HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
    });
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
    s.on('close', () => resolve(`${String(s.alpnProtocol)} ${got.split('\r\n')[0]}`));
  });
}

for (const engine of ['node', 'native'] as const) {
  test(`engines (${engine}): an HTTPS listener with HTTP/2 serves HTTP/1.1 to clients that offer it by ALPN, or offer nothing (RFC 7301)`, async (t) => {
    const origin = await startOrigin(t, (_req, res) => res.end('ok'));
    const ca = makeCa();
    const leaf = makeLeaf(ca, 'a.test', ['a.test']);
    const gh = await startProxy(t, {
      engine,
      listeners: [{ name: 's', address: '127.0.0.1:0', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
      upstreams: { app: { servers: [origin.url] } },
      routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
    });
    assert.equal(await tlsGet(gh.port, ca.certPem, undefined), 'false HTTP/1.1 200 OK');
    assert.equal(await tlsGet(gh.port, ca.certPem, ['http/1.1']), 'http/1.1 HTTP/1.1 200 OK');
    assert.equal(await tlsGet(gh.port, ca.certPem, ['h2', 'http/1.1']), 'h2');
  });
}
