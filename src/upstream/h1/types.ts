/** What the HTTP/1.1 client's pool and its connections share. */
import type { ConnectionOptions } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { H1Connection } from './connection.js';
import type { RequestBody } from './request.js';

/** What a pool's connections share. */
export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  /** TLS options for an https:// server; undefined for http://. */
  readonly tls: ConnectionOptions | undefined;
  readonly connectTimeout: number;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly idleTimeout: number;
  readonly maxHeaderSize: number;
  /** A request on a kept-alive connection the server closed as it went out may be sent again (`retries` > 0). */
  readonly replayStale: boolean;
}

/**
 * Dispatch options as the forwarder gives them: `servername` (SNI, undici reads it too), and `checked`, how many
 * items at the start of `headers` are known valid fields (a parser's or the proxy's own; see request.ts).
 */
export type DispatchOptions = Dispatcher.DispatchOptions & { servername?: string | undefined; checked?: number };

/** One request and its handler, from dispatch to its end (it may move to a new connection once: see pool.ts). */
export interface Call {
  readonly handler: Dispatcher.DispatchHandler;
  readonly head: string;
  readonly body: RequestBody;
  /** Body bytes per Content-Length, or -1 for chunked. */
  readonly length: number;
  readonly replayable: boolean;
  /** A HEAD request: its response has no body, and its connection is not reused (request.ts). */
  readonly isHead: boolean;
  conn: H1Connection | undefined;
  done: boolean;
  started: boolean;
  readonly abort: (err?: Error) => void;
  readonly resume: () => void;
  /** Stops watching a streamed body for errors (pool.ts watches it from dispatch on, queued or connecting). */
  readonly unwatch: () => void;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The connection finished a request and may take another. */
  released(conn: H1Connection): void;
  /** The connection closed; `retry` is a call it could not start through no fault of its own (a stale connection). */
  closed(conn: H1Connection, retry: Call | undefined): void;
}
