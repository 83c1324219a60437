/** Raw TCP servers and clients for the layer 4 tests. */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

/** A TCP server on 127.0.0.1:0 that hands each connection to `onConn`; closed by the test's `after`. */
export async function tcpServer(t: TestContext, onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); onConn(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of sockets) s.destroy(); return new Promise<void>((r) => server.close(() => r())); });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Sends raw bytes, returns everything read until the peer closes (or '' when it closes at once). */
export function rawExchange(port: number, ...chunks: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let out = '';
    s.on('connect', () => { for (const c of chunks) s.write(c); });
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
}
