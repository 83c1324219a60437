/**
 * The native HTTP/1.1 engine's server side (#16): connections accepted elsewhere (node:net, node:tls) are
 * served here, with node:http's limits and answers. One check per second, as node:http's
 * connectionsCheckingInterval, enforces the head and request timeouts and closes idle keep-alive connections,
 * so that a request costs no timer.
 */
import type { Socket } from 'node:net';
import { now } from '../../core/clock.js';
import { H1Connection, type H1Handlers } from './connection.js';
import { DateClock } from './wire.js';

export type { H1Handlers } from './connection.js';
export { H1Request } from './request.js';
export { H1Response } from './response.js';

/** Connection-level limits, as the node:http listener takes them (server/listen.ts). */
export interface H1Options {
  /** Request target plus field names and values, in bytes: at this size, 431 (node:http's maxHeaderSize). */
  maxHeaderSize: number;
  /** Most fields in a head or trailer section: past it, 431. */
  maxHeadersCount: number;
  /** Requests served on one connection (0: no limit); the last one says `Connection: close`, any more get 503. */
  maxRequestsPerSocket: number;
  /** ms to receive a request head, from its first byte (or the connection's start): past it, 408 (0: none). */
  headersTimeout: number;
  /** ms to receive a whole request, head and body: past it, 408 (0: none). Default 300 000, as node:http. */
  requestTimeout?: number;
  /** ms an idle keep-alive connection is kept (announced as `Keep-Alive: timeout=…`; closed 1 s later). */
  keepAliveTimeout: number;
  /** ms between timeout checks; default 1000 (node:http's connectionsCheckingInterval as the listener sets it). */
  checkInterval?: number;
}

export class H1Server {
  readonly maxHeaderSize: number;
  readonly maxHeadersCount: number;
  readonly maxRequestsPerSocket: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  /** `Keep-Alive: timeout=5, max=1000\r\n` as node:http words it, or ''. */
  readonly keepAliveField: string;
  readonly clock = new DateClock();
  draining = false;
  readonly #connections = new Set<H1Connection>();
  readonly #checkInterval: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly handlers: H1Handlers, options: H1Options) {
    this.maxHeaderSize = options.maxHeaderSize;
    this.maxHeadersCount = options.maxHeadersCount;
    this.maxRequestsPerSocket = options.maxRequestsPerSocket;
    this.headersTimeout = options.headersTimeout;
    this.requestTimeout = options.requestTimeout ?? 300_000;
    this.keepAliveTimeout = options.keepAliveTimeout;
    this.#checkInterval = options.checkInterval ?? 1000;
    // As node:http words it (its _storeHeader), `max` only with a request limit.
    const max = this.maxRequestsPerSocket > 0 ? `, max=${this.maxRequestsPerSocket}` : '';
    this.keepAliveField = this.keepAliveTimeout > 0 ? `Keep-Alive: timeout=${Math.floor(this.keepAliveTimeout / 1000)}${max}\r\n` : '';
  }

  /** Serves HTTP/1.1 on an accepted socket (plain, or TLS once its handshake is done). */
  serve(socket: Socket): void {
    // As node:http's server: no Nagle delay on responses.
    socket.setNoDelay(true);
    const conn = new H1Connection(socket, this);
    this.#connections.add(conn);
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#check, this.#checkInterval);
      this.#timer.unref();
    }
  }

  /** Open connections (being served; an upgraded one is its consumer's). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Closes the connections that are between requests. */
  closeIdle(): void {
    for (const conn of this.#connections) if (conn.idle) conn.socket.destroy();
  }

  /**
   * Graceful drain: idle connections close now; every response from now on says `Connection: close`, and a
   * connection closes once the response under way is sent (RFC 9112 9.6).
   */
  drain(): void {
    this.draining = true;
    for (const conn of this.#connections) conn.drain();
  }

  /** Closes every connection now. */
  closeAll(): void {
    for (const conn of this.#connections) conn.socket.destroy();
  }

  /** Closes every connection and stops the timeout checks. */
  close(): void {
    this.closeAll();
    this.#stopTimer();
  }

  /** @internal */
  untrack(conn: H1Connection): void {
    this.#connections.delete(conn);
    if (this.#connections.size === 0) this.#stopTimer();
  }

  readonly #check = (): void => {
    const t = now();
    for (const conn of this.#connections) conn.checkTimeouts(t);
  };

  #stopTimer(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** A server for the native HTTP/1.1 engine: hand it sockets with `serve(socket)`. */
export function createH1Server(handlers: H1Handlers, options: H1Options): H1Server {
  return new H1Server(handlers, options);
}
