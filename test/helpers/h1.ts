/** The native HTTP/1.1 engine (src/server/h1) on a loopback port, node:http beside it, and a raw-bytes client. */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { createH1Server, type H1Handlers, type H1Options, type H1Server } from '../../src/server/h1/server.js';
import { OwnReadServer } from '../../src/server/h1/reads.js';

export const H1_DEFAULTS: H1Options = {
  maxHeaderSize: 16384, maxHeadersCount: 2000, maxRequestsPerSocket: 1000, headersTimeout: 10_000, keepAliveTimeout: 5000,
};

export interface H1Harness {
  port: number;
  h1: H1Server;
  /** Server-side sockets, in the order they were accepted. */
  sockets: Socket[];
  /** Requests handed to the request handler (and upgrades). */
  handled: number;
}

/**
 * Starts the engine on 127.0.0.1:0 (closed after the test). `sharedReads`: connections read into the shared
 * buffer, as a plain listener's (server/h1/reads.ts); by default so in the suite's native run
 * (GATEHOUSE_ENGINE=native), with 'data' events in the other, so that both ways of reading are tested.
 */
export async function startH1(t: TestContext, handlers: H1Handlers, options: Partial<H1Options> & { sharedReads?: boolean } = {}): Promise<H1Harness> {
  const harness = { port: 0, h1: undefined as unknown as H1Server, sockets: [] as Socket[], handled: 0 };
  const counted: H1Handlers = {
    ...handlers,
    request(req, res) {
      harness.handled++;
      handlers.request(req, res);
    },
  };
  const { sharedReads = process.env.GATEHOUSE_ENGINE === 'native', ...limits } = options;
  harness.h1 = createH1Server(counted, { ...H1_DEFAULTS, ...limits });
  const serve = (s: Socket): void => {
    harness.sockets.push(s);
    harness.h1.serve(s);
  };
  const server = sharedReads ? new OwnReadServer({ allowHalfOpen: true }).on('connection', serve) : createServer({ allowHalfOpen: true }, serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  harness.port = (server.address() as AddressInfo).port;
  t.after(() => {
    harness.h1.close();
    server.close();
  });
  return harness;
}

/** node:http with the options the listener gives it (server/listen.ts), for byte-for-byte comparisons. */
export async function startNode(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void, options: Partial<H1Options> = {}): Promise<number> {
  const o = { ...H1_DEFAULTS, ...options };
  const server = createHttpServer({
    requireHostHeader: true, maxHeaderSize: o.maxHeaderSize, keepAliveTimeout: o.keepAliveTimeout,
    headersTimeout: o.headersTimeout, requestTimeout: 300_000, connectionsCheckingInterval: 1000,
  }, handler);
  server.maxRequestsPerSocket = o.maxRequestsPerSocket;
  server.maxHeadersCount = o.maxHeadersCount;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

export interface Exchange {
  /** Everything the server sent, as latin1. */
  text: string;
  /** The server closed (or reset) the connection. */
  closed: boolean;
}

/**
 * Connects, writes `input` (pieces one after another), and collects what comes back until the server closes
 * the connection, `until` says enough, or `timeoutMs` passes (then `closed` is false).
 */
export function exchange(port: number, input: string | Buffer | readonly (string | Buffer)[], opts: { until?: (text: string) => boolean; timeoutMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    s.on('connect', () => {
      for (const piece of Array.isArray(input) ? input : [input]) s.write(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (opts.until?.(text)) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
  });
}

/** A connected raw client that reads as it goes. */
export async function rawClient(port: number): Promise<{ socket: Socket; text(): string; waitFor(pred: (text: string) => boolean, timeoutMs?: number): Promise<string>; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  const waiters = new Set<() => void>();
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    for (const w of [...waiters]) w();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', r));
  return {
    socket,
    text: () => text,
    closed,
    waitFor: (pred, timeoutMs = 5000) => new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred(text)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(text);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting; got ${JSON.stringify(text)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    }),
  };
}

/** The Date field's value replaced, so that two answers compare byte for byte. */
export function undated(text: string): string {
  return text.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');
}

/** Polls `cond` until it holds (bounded by `timeoutMs`). */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
