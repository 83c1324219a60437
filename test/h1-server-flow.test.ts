/**
 * The native HTTP/1.1 engine's server side (src/server/h1, #16): the flow of a connection over real sockets:
 * pipelining, 100-continue, timeouts, Upgrade, backpressure both ways, drain, request limits, TLS.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import type { H1Request, H1Response } from '../src/server/h1/server.js';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { exchange, rawClient, startH1, undated, until } from './helpers/h1.js';

const H = 'Host: example\r\n';
const ok = (res: H1Response, body: string): void => {
  res.writeHead(200, ['content-length', String(Buffer.byteLength(body))]);
  res.end(body);
};

test('h1: RFC 9112 9.3.2: pipelined requests are answered in order, whatever order their handlers finish in', async (t) => {
  const h1 = await startH1(t, {
    request(req, res) {
      const n = Number(req.target.slice(1));
      setTimeout(() => ok(res, `r${n}`), (5 - n) * 15);
    },
  });
  const input = [1, 2, 3, 4, 5].map((n) => `GET /${n} HTTP/1.1\r\n${H}${n === 5 ? 'Connection: close\r\n' : ''}\r\n`).join('');
  const r = await exchange(h1.port, input);
  assert.deepEqual(r.text.match(/r\d/g), ['r1', 'r2', 'r3', 'r4', 'r5']);
  assert.ok(r.closed);
});

test('h1: pipelined requests are read a few ahead only (the socket pauses)', async (t) => {
  let first: H1Response | undefined;
  const h1 = await startH1(t, { request: (_req, res) => (first === undefined ? (first = res) : ok(res, 'x')) }, { maxRequestsPerSocket: 0 });
  const c = await rawClient(h1.port);
  let received = 0;
  c.socket.on('data', (d: Buffer) => { received += d.length; });
  const one = `GET / HTTP/1.1\r\n${H}\r\n`;
  const n = 20_000;
  for (let i = 0; i < n / 500; i++) c.socket.write(one.repeat(500));
  await until(() => first !== undefined);
  await new Promise((r) => setTimeout(r, 100));
  // While the first request is unanswered, the server holds what one or two reads brought, not the rest.
  const read = h1.sockets[0]!.bytesRead;
  assert.ok(read < 256 * 1024, `read ${read} of ${one.length * n} bytes ahead`);
  ok(first!, 'x');
  // Every answer has the same length (the Date field's is fixed).
  const text = await c.waitFor((s) => s.includes('\r\n\r\nx'));
  await until(() => received === (text.indexOf('\r\n\r\nx') + 5) * n, 20_000);
  c.socket.destroy();
});

test('h1: RFC 9110 10.1.1: Expect: 100-continue: the handler sends 100 when it wants the body', async (t) => {
  const h1 = await startH1(t, {
    request(req, res) {
      assert.equal(req.expectContinue, true);
      if (req.target === '/refuse') return void res.writeHead(401, ['content-length', '0']).end();
      res.writeContinue();
      let body = '';
      req.body.on('data', (c: Buffer) => { body += c; });
      req.body.on('end', () => ok(res, body.toUpperCase()));
    },
  });
  const c = await rawClient(h1.port);
  c.socket.write(`POST /up HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
  await c.waitFor((text) => text === 'HTTP/1.1 100 Continue\r\n\r\n');
  c.socket.write('hello');
  await c.waitFor((text) => text.endsWith('HELLO'));
  assert.match(c.text(), /Connection: keep-alive/);
  c.socket.destroy();
  // Refused before 100: the client may still send its body, so the connection closes after the answer (node:http).
  const refused = await exchange(h1.port, `POST /refuse HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
  assert.match(refused.text, /^HTTP\/1\.1 401 Unauthorized\r\n[^]*Connection: close\r\n/);
  assert.ok(refused.closed);
});

test('h1: a head not complete within headersTimeout is a 408 (slowloris), a silent connection too', async (t) => {
  const refused: string[] = [];
  const h1 = await startH1(t, { request: (_req, res) => ok(res, 'x'), refused: (code) => refused.push(code) }, { headersTimeout: 200, checkInterval: 20 });
  const started = Date.now();
  const slow = await exchange(h1.port, `GET / HTTP/1.1\r\n${H}X-A: `);
  assert.equal(slow.text, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  assert.ok(slow.closed);
  assert.ok(Date.now() - started >= 200);
  const silent = await exchange(h1.port, []);
  assert.equal(silent.text, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  assert.deepEqual(refused, ['ERR_HTTP_REQUEST_TIMEOUT', 'ERR_HTTP_REQUEST_TIMEOUT']);
  // A head that is complete in time is served, however long its body then takes (within requestTimeout).
  const c = await rawClient(h1.port);
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
  await c.waitFor((text) => text.endsWith('x'));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.socket.destroyed, false);
  c.socket.destroy();
});

test('h1: a request body not complete within requestTimeout is a 408', async (t) => {
  const h1 = await startH1(t, { request: (req) => req.body.resume() }, { headersTimeout: 100, requestTimeout: 300, checkInterval: 20 });
  const r = await exchange(h1.port, `POST / HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nhello`);
  assert.equal(r.text, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
});

test('h1: an idle keep-alive connection closes 1 s after the announced Keep-Alive timeout', async (t) => {
  const h1 = await startH1(t, { request: (_req, res) => ok(res, 'x') }, { keepAliveTimeout: 100, checkInterval: 20 });
  const c = await rawClient(h1.port);
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
  await c.waitFor((text) => text.endsWith('x'));
  assert.match(c.text(), /Keep-Alive: timeout=0, max=1000\r\n/);
  const idle = Date.now();
  await c.closed;
  assert.ok(Date.now() - idle >= 1000, 'closed too early');
});

test('h1: RFC 9110 7.8: Upgrade hands the socket and the bytes after the head over', async (t) => {
  const h1 = await startH1(t, {
    request: (_req, res) => setTimeout(() => ok(res, 'first'), 30),
    upgrade(req, socket, head, res) {
      assert.equal(req.header('upgrade'), 'websocket');
      res.writeHead(101, ['Connection', 'Upgrade', 'Upgrade', 'websocket']);
      res.end();
      socket.write(`<${head.toString()}>`);
      socket.on('data', (d: Buffer) => socket.write(`<${d.toString()}>`));
    },
  });
  const c = await rawClient(h1.port);
  // Behind a request still being answered: the 101 waits its turn.
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\nGET /ws HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nHELLO`);
  await c.waitFor((text) => text.includes('<HELLO>'));
  c.socket.write('MORE');
  const text = await c.waitFor((s) => s.endsWith('<MORE>'));
  assert.match(undated(text), /^HTTP\/1\.1 200 OK\r\n[^]*firstHTTP\/1\.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nDate: -\r\n\r\n<HELLO><MORE>$/);
  assert.equal(h1.h1.connections, 0);
  c.socket.destroy();
});

test('h1: an Upgrade answered with something else than 101 closes; without a handler the socket is dropped', async (t) => {
  const up = `GET /ws HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;
  const refusing = await startH1(t, { request: () => {}, upgrade: (_req, _socket, _head, res) => void res.writeHead(403, ['content-length', '2']).end('no') });
  const r = await exchange(refusing.port, up);
  assert.match(r.text, /^HTTP\/1\.1 403 Forbidden\r\n[^]*\r\n\r\nno$/);
  assert.ok(r.closed);
  const none = await startH1(t, { request: () => {} });
  const dropped = await exchange(none.port, up);
  assert.equal(dropped.text, '');
  assert.ok(dropped.closed);
  const connect = await exchange(none.port, `CONNECT example:443 HTTP/1.1\r\n${H}\r\n`);
  assert.deepEqual([connect.text, connect.closed], ['', true]);
});

test('h1: a request body the handler does not read pauses the socket (bounded buffering)', async (t) => {
  let body: H1Request | undefined;
  const h1 = await startH1(t, { request: (req) => { body = req; } });
  const c = await rawClient(h1.port);
  const size = 8 * 1024 * 1024;
  c.socket.write(`POST / HTTP/1.1\r\n${H}Content-Length: ${size}\r\n\r\n`);
  c.socket.write(Buffer.alloc(size, 97));
  await until(() => body !== undefined);
  await new Promise((r) => setTimeout(r, 100));
  const read = h1.sockets[0]!.bytesRead;
  assert.ok(read < 1024 * 1024, `read ${read} bytes into an unread body`);
  let got = 0;
  body!.body.on('data', (d: Buffer) => { got += d.length; });
  await once(body!.body, 'end');
  assert.equal(got, size);
  assert.equal(body!.bodyBytes, size);
  c.socket.destroy();
});

test('h1: write() says false past the high-water mark and drain follows once the client reads', async (t) => {
  let result: { falses: number; drains: number; total: number } | undefined;
  const h1 = await startH1(t, {
    request(_req, res) {
      const chunk = Buffer.alloc(64 * 1024, 120);
      const stats = { falses: 0, drains: 0, total: 0 };
      res.writeHead(200, []);
      const pump = (): void => {
        while (stats.total < 16 * 1024 * 1024) {
          stats.total += chunk.length;
          if (!res.write(chunk)) {
            stats.falses++;
            return;
          }
        }
        res.end();
        result = stats;
      };
      res.on('drain', () => { stats.drains++; pump(); });
      pump();
    },
  });
  const c = await rawClient(h1.port);
  c.socket.pause();
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(result, undefined);
  assert.ok(h1.sockets[0]!.writableLength < 4 * 1024 * 1024, 'the server buffered without bound');
  let received = 0;
  c.socket.on('data', (d: Buffer) => { received += d.length; });
  c.socket.resume();
  await until(() => result !== undefined && received >= 16 * 1024 * 1024, 20_000);
  assert.ok(result!.falses > 0 && result!.drains === result!.falses);
  c.socket.destroy();
});

test('h1: graceful drain: idle connections close now, a busy one answers with Connection: close and closes', async (t) => {
  let held: H1Response | undefined;
  const h1 = await startH1(t, { request: (req, res) => (req.target === '/hold' ? (held = res) : ok(res, 'x')) });
  const idle = await rawClient(h1.port);
  idle.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
  await idle.waitFor((text) => text.endsWith('x'));
  const busy = await rawClient(h1.port);
  busy.socket.write(`GET /hold HTTP/1.1\r\n${H}\r\n`);
  await until(() => held !== undefined);
  h1.h1.drain();
  await idle.closed;
  assert.equal(busy.socket.destroyed, false);
  ok(held!, 'late');
  await busy.closed;
  assert.match(busy.text(), /Connection: close\r\n[^]*late$/);
});

test('h1: maxRequestsPerSocket: the last request allowed is answered with Connection: close', async (t) => {
  const h1 = await startH1(t, { request: (_req, res) => ok(res, 'x') }, { maxRequestsPerSocket: 2 });
  const r = await exchange(h1.port, `GET / HTTP/1.1\r\n${H}\r\n`.repeat(3));
  const heads = r.text.match(/Connection: [a-z-]+/g);
  assert.deepEqual(heads, ['Connection: keep-alive', 'Connection: close']);
  assert.match(r.text, /Keep-Alive: timeout=5, max=2\r\n/);
  assert.ok(r.closed);
});

test('h1: a client that leaves mid-response: the response is gone and closes once', async (t) => {
  let res: H1Response | undefined;
  const h1 = await startH1(t, { request: (_req, r) => { res = r; } });
  const c = await rawClient(h1.port);
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
  await until(() => res !== undefined);
  let closes = 0;
  res!.on('close', () => { closes++; });
  assert.equal(res!.gone, false);
  c.socket.destroy();
  await until(() => closes > 0);
  assert.equal(res!.gone, true);
  assert.equal(res!.writableFinished, false);
  res!.end('too late');
  await new Promise((r) => setImmediate(r));
  assert.equal(closes, 1);
});

test('h1: response fields: CR, LF or NUL in a value, or a bad name, throw before anything is sent', async (t) => {
  const errors: string[] = [];
  const h1 = await startH1(t, {
    request(_req, res) {
      for (const fields of [['x-a', 'a\r\nSet-Cookie: evil=1'], ['x-a', 'a\nb'], ['x-a', 'a\0b'], ['x a', 'b'], ['x-a:', 'b'], ['', 'b']]) {
        try {
          res.writeHead(200, fields);
        } catch (err) {
          errors.push((err as { code: string }).code);
        }
      }
      assert.throws(() => res.addTrailers(['x-t', 'a\r\nb']), { code: 'ERR_INVALID_HTTP_FIELD' });
      ok(res, 'safe');
    },
  });
  const r = await exchange(h1.port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.deepEqual(errors, Array(6).fill('ERR_INVALID_HTTP_FIELD'));
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\ncontent-length: 4\r\n[^]*\r\n\r\nsafe$/);
  assert.doesNotMatch(r.text, /evil/);
});

test('h1: RFC 9110 15.2, 6.5: interim responses, trailers after a chunked body, the Date field', async (t) => {
  const h1 = await startH1(t, {
    request(_req, res) {
      assert.equal(res.writeInformational(103, ['x-a', '1']), false); // 103 needs a Link (RFC 8297)
      assert.equal(res.writeInformational(103, ['link', '</s.css>; rel=preload']), true);
      assert.equal(res.writeInformational(102, []), true);
      res.writeHead(200, ['trailer', 'x-sum']);
      res.write(Buffer.from('ab'));
      res.addTrailers(['x-sum', '42']);
      res.end('c');
      assert.equal(res.writeInformational(102, []), false);
    },
  });
  const r = await exchange(h1.port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  const date = /\r\nDate: ([^\r]+)\r\n/.exec(r.text)![1]!;
  assert.match(date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.ok(Math.abs(Date.parse(date) - Date.now()) < 5000);
  assert.equal(undated(r.text), 'HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n'
    + 'HTTP/1.1 200 OK\r\ntrailer: x-sum\r\nDate: -\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n'
    + '2\r\nab\r\n1\r\nc\r\n0\r\nx-sum: 42\r\n\r\n');
});

test('h1: the head and a body ended in the same tick go out in one write', async (t) => {
  const h1 = await startH1(t, { request: (_req, res) => ok(res, 'hello') });
  const c = await rawClient(h1.port);
  await until(() => h1.sockets.length === 1);
  const server = h1.sockets[0]! as Socket & { _writeGeneric(...a: unknown[]): unknown };
  let writes = 0;
  const generic = server._writeGeneric.bind(server);
  server._writeGeneric = (...a: unknown[]) => { writes++; return generic(...a); };
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`);
  await c.waitFor((text) => text.endsWith('hello'));
  assert.equal(writes, 1);
  c.socket.destroy();
});

test('h1: request fields: header() joins repeats as node:http does; the version, the peer', async (t) => {
  let seen: Record<string, unknown> | undefined;
  const h1 = await startH1(t, {
    request(req, res) {
      seen = {
        accept: req.header('accept'), cookie: req.header('cookie'), ua: req.header('user-agent'), none: req.header('x-none'),
        version: req.httpVersion, method: req.method, encrypted: req.encrypted, peer: req.remoteAddress,
      };
      ok(res, 'x');
    },
  });
  await exchange(h1.port, `PUT /x HTTP/1.0\r\nAccept: a\r\naccept: b\r\nCookie: c=1\r\nCookie: d=2\r\nUser-Agent: one\r\nUser-Agent: two\r\n\r\n`);
  assert.deepEqual(seen, { accept: 'a, b', cookie: 'c=1; d=2', ua: 'one', none: undefined, version: '1.0', method: 'PUT', encrypted: false, peer: '127.0.0.1' });
});

test('h1: TLS sockets from node:tls are served the same', async (t) => {
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'localhost', ['localhost']);
  let encrypted: boolean | undefined;
  const h1 = await startH1(t, { request: (req, res) => { encrypted = req.encrypted; ok(res, 'secure'); } });
  const server = createTlsServer({ key: leaf.keyPem, cert: leaf.certPem }, (s) => h1.h1.serve(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const s = tlsConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(ca.cert) });
  s.write(`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  let text = '';
  s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  await once(s, 'close');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n\r\nsecure$/);
  assert.equal(encrypted, true);
});

test('h1 (shared reads): heads read ahead by the JavaScript front, then a chunked request in the same read: RFC 9112 7.1.1 chunk extensions are counted from that request\'s bytes', async (t) => {
  const h1 = await startH1(t, {
    request(req, res) {
      let body = '';
      req.body.on('data', (c: Buffer) => { body += c; });
      req.body.on('end', () => ok(res, `${req.method} ${body.length}`));
    },
  }, { sharedReads: true });
  // Two heads of 12 KiB each (the front reads them), then one llhttp reads: more than the 16 KiB of chunk
  // extensions allowed lie before it in the read, none in it.
  const get = `GET / HTTP/1.1\r\n${H}Cookie: ${'c'.repeat(12_000)}\r\n\r\n`;
  const post = `POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
  const r = await exchange(h1.port, get + get + post);
  assert.deepEqual(r.text.match(/(GET|POST) \d+/g), ['GET 0', 'GET 0', 'POST 5'], r.text);
});

test('h1 (shared reads): a client that leaves while its pipelined requests wait their turn is noticed (the socket reads on, bounded)', async (t) => {
  let held = 0;
  const h1 = await startH1(t, { request: () => { held++; } }, { sharedReads: true });
  const c = await rawClient(h1.port);
  c.socket.write(`GET / HTTP/1.1\r\n${H}\r\n`.repeat(6));
  await until(() => held === 1);
  const closed = once(h1.sockets[0]!, 'close');
  c.socket.destroy();
  await Promise.race([closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('the server did not see the client leave')), 2000))]);
});
