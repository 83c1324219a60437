/**
 * The native HTTP/1.1 engine's server side (src/server/h1, #16), over real sockets: the same bytes as node:http
 * for the same requests, the same refusals (llhttp is the bar), pipelining in order, requests split anywhere.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import type { H1Request, H1Response } from '../src/server/h1/server.js';
import { exchange, rawClient, startH1, startNode, undated, until } from './helpers/h1.js';

const H = 'Host: example\r\n';
const BYE = `GET /close HTTP/1.1\r\n${H}\r\n`;
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

interface AnyResponse { writeHead(status: number, headers: string[]): unknown; write(chunk: string): unknown; end(chunk?: string): unknown }

/** The same answers from both engines, by target. */
function answer(target: string, body: string, res: AnyResponse): void {
  switch (target) {
    case '/cl': res.writeHead(200, ['content-type', 'text/plain', 'content-length', '5']); res.end('hello'); break;
    case '/chunked': res.writeHead(200, ['x-a', '1']); res.write('hel'); res.end('lo'); break;
    case '/empty': res.writeHead(200, []); res.end(); break;
    case '/implicit': res.end('implicit'); break;
    case '/204': res.writeHead(204, ['x-a', '1']); res.end(); break;
    case '/304': res.writeHead(304, ['etag', '"x"', 'content-length', '5']); res.end(); break;
    case '/echo': res.writeHead(200, ['content-length', String(Buffer.byteLength(body))]); res.end(body); break;
    case '/close': res.writeHead(200, ['connection', 'close', 'content-length', '2']); res.end('ok'); break;
    default: res.writeHead(404, ['content-length', '0']); res.end();
  }
}

function nodeHandler(req: IncomingMessage, res: AnyResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => { body += c.toString('latin1'); });
  req.on('end', () => answer(req.url!, body, res));
}

function h1Handler(req: H1Request, res: H1Response): void {
  let body = '';
  req.body.on('data', (c: Buffer) => { body += c.toString('latin1'); });
  req.body.on('end', () => answer(req.target, body, res));
}

const SAME_AS_NODE: Record<string, string> = {
  'RFC 9112 9.3: keep-alive, then a Content-Length response': `GET /cl HTTP/1.1\r\n${H}\r\n${BYE}`,
  'RFC 9112 7.1: chunked response on HTTP/1.1': `GET /chunked HTTP/1.1\r\n${H}\r\n${BYE}`,
  'empty body after writeHead': `GET /empty HTTP/1.1\r\n${H}\r\n${BYE}`,
  'end(body) without writeHead: Content-Length': `GET /implicit HTTP/1.1\r\n${H}\r\n${BYE}`,
  'RFC 9110 9.3.2: HEAD has no body': `HEAD /cl HTTP/1.1\r\n${H}\r\nHEAD /chunked HTTP/1.1\r\n${H}\r\n${BYE}`,
  'RFC 9110 15.3.5, 15.4.5: 204 and 304 have no body': `GET /204 HTTP/1.1\r\n${H}\r\nGET /304 HTTP/1.1\r\n${H}\r\n${BYE}`,
  'RFC 9112 6.3: HTTP/1.0 without a length: close-delimited': `GET /chunked HTTP/1.0\r\n\r\n`,
  'RFC 9112 9.3: HTTP/1.0 keep-alive with a length': `GET /cl HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /cl HTTP/1.0\r\n\r\n`,
  'RFC 9112 9.6: Connection: close from the client': `GET /cl HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  'request body with Content-Length': `POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello${BYE}`,
  'RFC 9112 7.1: chunked request body with extensions and trailers':
    `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n${BYE}`,
  'RFC 9112 3.2: HTTP/1.1 without Host is a 400': `GET /cl HTTP/1.1\r\n\r\n`,
  'RFC 9110 10.1.1: an unknown expectation is a 417': `GET /cl HTTP/1.1\r\n${H}Expect: something\r\n\r\n${BYE}`,
  'RFC 9112 9.3.2: pipelined requests answered in order':
    `GET /cl HTTP/1.1\r\n${H}\r\nPOST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /204 HTTP/1.1\r\n${H}\r\nGET /nope HTTP/1.1\r\n${H}\r\n${BYE}`,
};

test('h1: answers as node:http does, byte for byte (but the Date)', async (t) => {
  const h1 = await startH1(t, { request: h1Handler });
  const nodePort = await startNode(t, nodeHandler);
  for (const [name, input] of Object.entries(SAME_AS_NODE)) {
    const [ours, node] = await Promise.all([exchange(h1.port, input), exchange(nodePort, input)]);
    assert.equal(undated(ours.text), undated(node.text), name);
    assert.ok(ours.closed && node.closed, name);
  }
});

const SMUGGLING: Record<string, string> = {
  'RFC 9112 6.3: Content-Length and Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n${H}\r\n`,
  'RFC 9112 6.3: Transfer-Encoding and Content-Length': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
  'RFC 9112 6.3: two equal Content-Lengths': `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  'RFC 9112 6.3: two different Content-Lengths': `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  'RFC 9112 6.3: a signed Content-Length': `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`,
  'RFC 9112 6.3: a Content-Length list': `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`,
  'RFC 9112 6.1: Transfer-Encoding not ending in chunked': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
  'RFC 9112 6.1: a coding other than chunked': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`,
  'RFC 9112 7.1: a chunk size that is not hex': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  'RFC 9112 7.1: a chunk size that overflows': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n`,
  'RFC 9112 7.1: chunk data longer than its size': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n`,
  'RFC 9112 7.1: a bare LF after the chunk size': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`,
  'RFC 9112 5.2: obs-fold': `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`,
  'RFC 9112 2.2: bare LF line endings': 'GET / HTTP/1.1\nHost: example\n\n',
  'RFC 9112 2.2: a bare LF after a field': `GET / HTTP/1.1\r\nHost: example\nX-A: b\r\n\r\n`,
  'RFC 9112 5.1: whitespace between name and colon': 'GET / HTTP/1.1\r\nHost : example\r\n\r\n',
  'RFC 9110 5.5: NUL in a field value': `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`,
  'RFC 9110 5.5: CR in a field value': `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`,
  'RFC 9112 3: an invalid method': `G@T / HTTP/1.1\r\n${H}\r\n`,
  'RFC 9112 2.3: an unknown minor version': `GET / HTTP/1.2\r\n${H}\r\n`,
  'RFC 9113 3.4: the HTTP/2 preface': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
};

test('h1: smuggling and malformed requests are a 400 and a closed connection, nothing handed over (as node:http)', async (t) => {
  const h1 = await startH1(t, { request: h1Handler });
  const nodePort = await startNode(t, nodeHandler);
  for (const [name, input] of Object.entries(SMUGGLING)) {
    const before = h1.handled;
    const [ours, node] = await Promise.all([exchange(h1.port, input), exchange(nodePort, input)]);
    assert.equal(ours.text, BAD_REQUEST, name);
    assert.equal(node.text, BAD_REQUEST, `${name} (node:http)`);
    assert.ok(ours.closed, name);
    assert.equal(h1.handled, before, `${name}: handed over`);
  }
});

test('h1: RFC 9112 9.6: nothing after the connection\'s last request is read; it is answered (node:http: 400)', async (t) => {
  const h1 = await startH1(t, { request: (req, res) => void setTimeout(() => h1Handler(req, res), 10) });
  for (const last of [`GET /cl HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 'GET /cl HTTP/1.0\r\n\r\n']) {
    const before = h1.handled;
    const r = await exchange(h1.port, `${last}GET /cl HTTP/1.1\r\n${H}\r\nrubbish`);
    assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n\r\nhello$/);
    assert.ok(r.closed);
    assert.equal(h1.handled, before + 1);
  }
});

test('h1: a pipelined answer written in the turn a later exchange is cut short still reaches the client (held writes go first)', async (t) => {
  for (const cut of ['response', 'request body'] as const) {
    const h1 = await startH1(t, {
      request(req, res) {
        if (req.target === '/a') {
          req.body.resume();
          res.writeHead(200, ['content-length', '7']);
          res.end('hello A');
        } else if (cut === 'response') {
          res.writeHead(200, []);
          res.write('partial');
          res.destroy(); // as the pipeline does when an upstream fails mid-body
        } else req.body.destroy(); // a consumer that throws the body away takes the connection with it
      },
    });
    const r = await exchange(h1.port, `GET /a HTTP/1.1\r\n${H}\r\nPOST /b HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\n12345`);
    assert.match(undated(r.text), /^HTTP\/1\.1 200 OK\r\ncontent-length: 7\r\n[^]*\r\n\r\nhello A/, cut);
    if (cut === 'response') assert.match(r.text, /hello AHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n7\r\npartial\r\n$/, 'the cut response as far as it went');
    assert.ok(r.closed, cut);
  }
});

test('h1: a request claiming HTTP/2.0 over HTTP/1.1 is refused (400)', async (t) => {
  const h1 = await startH1(t, { request: h1Handler });
  const r = await exchange(h1.port, `GET / HTTP/2.0\r\n${H}\r\n`);
  assert.equal(r.text, BAD_REQUEST);
  assert.ok(r.closed);
  assert.equal(h1.handled, 0);
});

test('h1: a head at maxHeaderSize (target, names and values counted) is a 431, as node:http', async (t) => {
  const limits = { maxHeaderSize: 1024 };
  const h1 = await startH1(t, { request: h1Handler }, limits);
  const nodePort = await startNode(t, nodeHandler, limits);
  const refused: string[] = [];
  h1.h1.handlers.refused = (code) => refused.push(code);
  // /cl (3) + Host example (11) + X (1) + Connection close (15): 30 bytes before the padding.
  for (const n of [900, 993, 994, 995, 1200, 20_000]) {
    const input = `GET /cl HTTP/1.1\r\n${H}X: ${'a'.repeat(n)}\r\nConnection: close\r\n\r\n`;
    const [ours, node] = await Promise.all([exchange(h1.port, input), exchange(nodePort, input)]);
    assert.equal(undated(ours.text), undated(node.text), `padding ${n}`);
    assert.equal(ours.text.startsWith('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n'), n >= 994, `padding ${n}`);
  }
  assert.deepEqual(refused, Array(4).fill('HPE_HEADER_OVERFLOW'));
});

test('h1: more fields than maxHeadersCount is a 431', async (t) => {
  const h1 = await startH1(t, { request: h1Handler }, { maxHeadersCount: 10 });
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('');
  const ok = await exchange(h1.port, `GET /cl HTTP/1.1\r\n${H}${fields(8)}Connection: close\r\n\r\n`);
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  const refused = await exchange(h1.port, `GET /cl HTTP/1.1\r\n${H}${fields(10)}\r\n`);
  assert.equal(refused.text, 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
});

test('h1: chunk extensions past 16 KiB are a 413, as node:http', async (t) => {
  const h1 = await startH1(t, { request: h1Handler });
  const nodePort = await startNode(t, nodeHandler);
  const input = `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;x=${'a'.repeat(20_000)}\r\nabc\r\n0\r\n\r\n`;
  const [ours, node] = await Promise.all([exchange(h1.port, input), exchange(nodePort, input)]);
  assert.equal(ours.text, 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n');
  assert.equal(node.text, ours.text);
});

/** What a request looked like to the handler, as the response body. */
function describe(req: H1Request, res: H1Response): void {
  const chunks: Buffer[] = [];
  req.body.on('data', (c: Buffer) => chunks.push(c));
  req.body.on('end', () => {
    const body = JSON.stringify({
      method: req.method, target: req.target, version: req.httpVersion, fields: req.rawHeaders, trailers: req.rawTrailers,
      body: Buffer.concat(chunks).toString('latin1'), host: req.header('host'), x: req.header('x-multi'),
    });
    res.writeHead(200, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))]);
    res.end(body);
  });
}

test('h1: requests split at every byte offset read the same (RFC 9112 2.1: a stream of octets)', async (t) => {
  const h1 = await startH1(t, { request: describe });
  const input = Buffer.from(
    `POST /p?q=1 HTTP/1.1\r\n${H}X-Multi: a  \r\nX-Multi: b\r\nContent-Length: 5\r\n\r\nhello`
    + `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;ext=v\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n`
    + `GET /last HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 'latin1');
  const whole = await exchange(h1.port, input);
  assert.ok(whole.closed);
  assert.equal((whole.text.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 3);
  assert.match(whole.text, /"x":"a, b"/);
  assert.match(whole.text, /"trailers":\["X-Trailer","t"\]/);
  assert.match(whole.text, /"body":"abcde"/);
  const expected = undated(whole.text);
  for (let i = 1; i < input.length; i++) {
    const seen = h1.sockets.length;
    const c = await rawClient(h1.port);
    c.socket.write(input.subarray(0, i));
    // The rest goes out once the server has read the first part: two reads, split exactly at i.
    await until(() => h1.sockets.length > seen && h1.sockets[seen]!.bytesRead >= i);
    c.socket.write(input.subarray(i));
    await c.closed;
    assert.equal(undated(c.text()), expected, `split at ${i}`);
  }
});
