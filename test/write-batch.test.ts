/**
 * core/write-batch.ts over real loopback sockets: writes held to the end of the event loop's turn reach the
 * peer then, whole and in order, a large write after held ones keeps the order, and `release` lets a refusal
 * written just before a destroy reach the peer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { hold, release } from '../src/core/write-batch.js';

/** A connected pair: `a` (ours) and what its peer receives, until it closes. */
async function pair(t: TestContext): Promise<{ a: Socket; received: () => Buffer; closed: Promise<unknown> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const a = connect({ port, host: '127.0.0.1', noDelay: true });
  const [peer] = (await once(server, 'connection')) as [Socket];
  await once(a, 'connect');
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  peer.on('error', () => {});
  const closed = once(peer, 'close');
  t.after(() => { a.destroy(); peer.destroy(); server.close(); });
  return { a, received: () => Buffer.concat(chunks), closed };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('write-batch: held writes wait for the end of the turn, then go out together and in order', async (t) => {
  const { a, received } = await pair(t);
  hold(a);
  a.write('one ', 'latin1');
  hold(a); // held once: a second hold in the turn changes nothing
  a.write(Buffer.from('two '));
  a.write('three', 'latin1');
  assert.equal(a.writableLength, 'one two three'.length, 'nothing written before the end of the turn');
  await turn();
  assert.equal(a.writableLength, 0);
  for (let i = 0; i < 50 && received().length < 13; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(received().toString('latin1'), 'one two three');
});

test('write-batch: release sends what is held at once (a refusal written before a destroy reaches the peer)', async (t) => {
  const { a, received, closed } = await pair(t);
  hold(a);
  a.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', 'latin1');
  a.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n', 'latin1');
  release(a);
  a.destroy();
  await closed;
  assert.equal(received().toString('latin1'), 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

test('write-batch: a socket destroyed while held loses what it held (why callers release first)', async (t) => {
  const { a, received, closed } = await pair(t);
  hold(a);
  a.write('lost', 'latin1');
  a.destroy();
  await closed;
  await turn(); // the end-of-turn flush finds a destroyed socket and does nothing
  assert.equal(received().length, 0);
});

test('write-batch: a socket its owner corked is left to its owner', async (t) => {
  const { a, received } = await pair(t);
  a.cork();
  hold(a);
  a.write('mine', 'latin1');
  await turn();
  assert.equal(a.writableLength, 4, 'still corked by its owner after the turn');
  a.uncork();
  for (let i = 0; i < 50 && received().length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(received().toString('latin1'), 'mine');
});
