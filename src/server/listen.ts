/** node:http listeners: create, bind (with a clear error for a taken port), and close gracefully. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { handleRequest, type ListenerState, type Runtime } from './handler.js';
import type { ListenerConfig } from './schema.js';

export interface Listener {
  readonly state: ListenerState;
  readonly server: Server;
  readonly config: ListenerConfig;
  /** The bound address, e.g. `127.0.0.1:18080` (the real port when the config said :0). */
  address(): string;
}

export function parseAddress(address: string): { host: string | undefined; port: number } {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || undefined, port: Number(address.slice(i + 1)) };
}

export class ListenError extends Error {}

/** Connection-level settings, from the config's `limits`. */
export interface ServerOptions {
  maxHeaderSize: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  maxRequestsPerSocket: number;
  maxHeadersCount: number;
}

function onConnection(this: ListenerState, socket: Socket): void {
  for (const f of this.runtime.global.connectionFilter) {
    if (!f(socket)) {
      socket.destroy();
      return;
    }
  }
}

export async function openListener(config: ListenerConfig, runtime: Runtime, opts: ServerOptions): Promise<Listener> {
  const state: ListenerState = { name: config.name, secure: false, runtime };
  const server = createServer({
    // RFC 9112 3.2: a request without Host is a 400 (node:http enforces it).
    requireHostHeader: true,
    // Request line + headers past this: 431 from node:http's parser itself.
    maxHeaderSize: opts.maxHeaderSize,
    keepAliveTimeout: opts.keepAliveTimeout,
    // Slowloris: the head must arrive within headersTimeout; checked every second, not every 30 s.
    headersTimeout: opts.headersTimeout,
    requestTimeout: 300_000,
    connectionsCheckingInterval: 1000,
  });
  server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
  server.maxHeadersCount = opts.maxHeadersCount;
  server.on('connection', onConnection.bind(state));
  server.on('request', handleRequest.bind(state));
  const { host, port } = parseAddress(config.address);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'is already in use'
        : err.code === 'EACCES' ? 'needs more privileges (ports below 1024)'
          : err.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : `cannot be bound (${err.code ?? err.message})`;
      reject(new ListenError(`listener "${config.name}": address ${config.address} ${why}`));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    state, server, config,
    address() {
      const a = server.address() as AddressInfo | null;
      if (!a) return config.address;
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
  };
}

/**
 * Stops accepting, lets in-flight requests finish up to `timeoutMs` (idle keep-alive connections are closed
 * as they become idle), then closes whatever is left.
 */
export async function closeListeners(listeners: readonly Listener[], runtimes: readonly Runtime[], timeoutMs: number): Promise<void> {
  for (const rt of runtimes) rt.draining = true;
  const closed = listeners.map((l) => new Promise<void>((r) => l.server.close(() => r())));
  const busy = (): boolean => runtimes.some((rt) => rt.inflight > 0);
  const deadline = Date.now() + timeoutMs;
  while (busy() && Date.now() < deadline) {
    for (const l of listeners) l.server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50).unref());
  }
  for (const l of listeners) l.server.closeAllConnections();
  await Promise.all(closed);
}
