/**
 * The connections to one upstream server over HTTP/1.1 (engine: native): idle ones reused most recent first,
 * at most `max_connections` open (0: no limit) with requests beyond it waiting in order, idle ones closed after
 * `keepalive.idle_timeout` (or sooner when the server's Keep-Alive says so). The same dispatch interface as the
 * undici Pool it stands in for, so the forwarder does not know which one it drives.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { H1Connection } from './connection.js';
import { ConnectionError } from './response.js';
import type { Call, ConnectionOwner, ConnectionSettings, DispatchOptions } from './types.js';
import { flatHeaders, requestFrame, RequestError, type RequestBody } from './request.js';

/** RFC 9110 9.2.2: a request that may be sent again without changing its effect. */
function idempotent(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE' || method === 'PUT' || method === 'DELETE';
}

function bodyOf(body: Dispatcher.DispatchOptions['body']): RequestBody {
  if (body == null) return null;
  if (body instanceof Buffer) return body;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return body as Readable;
}

const noop = (): void => undefined;

/**
 * A streamed body's failure ends its call wherever it is (queued, connecting, sending): a body over its limit
 * (413), a sender gone quiet (408), a client that left (499) — the caller's handler hears of it through onError.
 */
function watch(src: Readable, call: Call): () => void {
  const onError = (err: Error): void => call.abort(err);
  const onClose = (): void => {
    if (!src.readableEnded) call.abort(new RequestError('the client closed the request body', 'GH_H1_REQ_ABORTED'));
  };
  src.once('error', onError);
  src.once('close', onClose);
  return () => {
    src.off('error', onError);
    src.off('close', onClose);
  };
}

export class H1Pool implements ConnectionOwner {
  private readonly idle: H1Connection[] = [];
  private readonly open = new Set<H1Connection>();
  private queue: Call[] = [];
  private closing = false;
  private readonly waiters: (() => void)[] = [];
  private session: Buffer | undefined;
  private readonly onSession = (s: Buffer): void => { this.session = s; };

  constructor(private readonly settings: ConnectionSettings, private readonly maxConnections: number, private readonly authority: string) {}

  dispatch(opts: DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closing) {
      handler.onError?.(new ConnectionError('the server was removed', 'GH_H1_CLOSED'));
      return false;
    }
    const body = bodyOf(opts.body);
    if (body !== null && !(body instanceof Buffer) && (body as Readable).destroyed) {
      handler.onError?.(new RequestError('the request body was closed before it was sent', 'GH_H1_REQ_ABORTED'));
      return false;
    }
    const frame = requestFrame(opts.method, opts.path, flatHeaders(opts.headers as string[] | null), body, this.authority, opts.checked ?? 0);
    if (frame instanceof RequestError) {
      handler.onError?.(frame);
      return false;
    }
    const call: Call = {
      handler, head: frame.head, body, length: frame.length,
      replayable: (body === null || body instanceof Buffer) && idempotent(opts.method), isHead: opts.method === 'HEAD',
      conn: undefined, done: false, started: false,
      abort: (err?: Error) => {
        const e = err ?? new ConnectionError('request aborted', 'GH_H1_ABORTED');
        if (call.conn) call.conn.abort(call, e);
        else this.cancel(call, e);
      },
      resume: () => call.conn?.resumeBody(call),
      unwatch: noop,
    };
    if (body !== null && !(body instanceof Buffer)) (call as { unwatch: () => void }).unwatch = watch(body as Readable, call);
    this.start(call);
    return true;
  }

  private start(call: Call): void {
    let idle = this.idle.pop();
    while (idle !== undefined && !idle.usable) idle = this.idle.pop(); // closing: its 'close' removes it
    if (idle !== undefined) return idle.run(call);
    if (this.maxConnections === 0 || this.open.size < this.maxConnections) return this.connect().run(call);
    this.queue.push(call);
  }

  private connect(): H1Connection {
    const conn = new H1Connection(this.settings, this, this.session, this.settings.tls ? this.onSession : undefined);
    this.open.add(conn);
    return conn;
  }

  /** A queued call whose caller gave up before it got a connection. */
  private cancel(call: Call, err: Error): void {
    const i = this.queue.indexOf(call);
    if (i === -1 || call.done) return;
    this.queue.splice(i, 1);
    call.done = true;
    call.unwatch();
    call.handler.onError?.(err);
  }

  released(conn: H1Connection): void {
    const next = this.queue.shift();
    if (next !== undefined) return conn.run(next);
    if (this.closing) return conn.destroy();
    this.idle.push(conn);
  }

  closed(conn: H1Connection, retry: Call | undefined): void {
    this.open.delete(conn);
    const i = this.idle.lastIndexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    if (retry !== undefined) this.connect().run(retry);
    else if (this.queue.length > 0 && (this.maxConnections === 0 || this.open.size < this.maxConnections)) this.connect().run(this.queue.shift()!);
    if (this.closing && this.open.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Lets requests in flight and queued finish, then closes every connection. */
  close(): Promise<void> {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.destroy();
    if (this.open.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Closes every connection now; requests in flight or queued end with an error. */
  destroy(): Promise<void> {
    this.closing = true;
    const err = new ConnectionError('the server was removed', 'GH_H1_CLOSED');
    for (const call of this.queue.splice(0)) {
      call.done = true;
      call.unwatch();
      call.handler.onError?.(err);
    }
    if (this.open.size === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    for (const c of [...this.open]) c.destroy(err);
    return done;
  }
}
