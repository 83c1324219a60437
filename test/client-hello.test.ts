import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { readClientHello } from '../src/tls/index.js';

/** The ClientHello bytes a real Node TLS client sends with these options. */
async function captureHello(opts: ConnectionOptions): Promise<Buffer> {
  let resolveHello!: (b: Buffer) => void;
  const hello = new Promise<Buffer>((r) => { resolveHello = r; });
  const server = createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) { resolveHello(all); s.destroy(); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...opts });
  c.on('error', () => undefined);
  const bytes = await hello;
  c.destroy();
  server.close();
  return bytes;
}

test('readClientHello reads SNI and ALPN from a real ClientHello, waiting for every byte', async () => {
  const bytes = await captureHello({ servername: 'Shop.Example.com', ALPNProtocols: ['h2', 'acme-tls/1'] });
  for (let n = 0; n < bytes.length; n++) assert.equal(readClientHello(bytes.subarray(0, n)), undefined, `incomplete at ${n} bytes`);
  assert.deepEqual(readClientHello(bytes), { servername: 'shop.example.com', alpn: ['h2', 'acme-tls/1'] });

  // The same hello split over two TLS records (RFC 8446 5.1 allows fragmenting handshake messages).
  const body = bytes.subarray(5);
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 255]), b]);
  const split = Buffer.concat([rec(body.subarray(0, 40)), rec(body.subarray(40))]);
  assert.deepEqual(readClientHello(split), { servername: 'shop.example.com', alpn: ['h2', 'acme-tls/1'] });
});

test('readClientHello: no SNI or ALPN, and bytes that are not a ClientHello', async () => {
  const bytes = await captureHello({});
  assert.deepEqual(readClientHello(bytes), { servername: undefined, alpn: [] });
  assert.equal(readClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), null);
  assert.equal(readClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])), null, 'a ServerHello is not a ClientHello');
  assert.equal(readClientHello(Buffer.from([22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3])), null, 'truncated inside the hello');
});
