/**
 * One client connection on the native HTTP/1.1 engine: requests are parsed off the socket as strictly as llhttp
 * parses them (core/llhttp.ts) and answered one at a time, in order (pipelining, RFC 9112 9.3.2). What
 * node:http answers itself is answered here with the same bytes; everything else goes to the server's handlers.
 */
import type { Socket } from 'node:net';
import { now } from '../../core/clock.js';
import { destroyHeld, release } from '../../core/write-batch.js';
import { RequestReader, type ReaderOwner } from './reader.js';
import type { H1Request } from './request.js';
import { releaseReads, takeReads } from './reads.js';
import { H1Response } from './response.js';
import type { H1Server } from './server.js';
import { refusalBytes, type RefusalCode } from './wire.js';

/** What a connection needs from its server (server.ts): limits, handlers, the Date clock. */
export type ServerCore = Pick<H1Server, 'maxHeaderSize' | 'maxHeadersCount' | 'maxRequestsPerSocket' | 'headersTimeout'
  | 'requestTimeout' | 'keepAliveTimeout' | 'keepAliveField' | 'clock' | 'draining' | 'handlers' | 'untrack'>;

/** Where requests go. */
export interface H1Handlers {
  /** A request, head complete; its body streams on (`req.body`). `req.expectContinue`: it waits for writeContinue(). */
  request(req: H1Request, res: H1Response): void;
  /**
   * A request that switches protocols (RFC 9110 7.8): the socket is the consumer's from now on, `head` the bytes
   * the client sent past the request. `res` answers it: a 101 leaves the socket open, anything else closes it.
   * Without this handler the socket is destroyed (as node:http does without an 'upgrade' listener).
   */
  upgrade?(req: H1Request, socket: Socket, head: Buffer, res: H1Response): void;
  /** CONNECT (RFC 9110 9.3.6), as `upgrade`. */
  connect?(req: H1Request, socket: Socket, head: Buffer, res: H1Response): void;
  /** The engine refused a request itself (node:http's error codes: HPE_*, ERR_HTTP_REQUEST_TIMEOUT), for metrics. */
  refused?(code: RefusalCode, socket: Socket): void;
}

/** Requests read ahead of the one being answered before the socket stops being read (pipelining). */
const MAX_QUEUED = 4;
/** Bytes a shared-buffer socket reads on while no request may be read (held, or dropped after the last request),
 * so that a client that leaves is noticed, as a stream's socket reads to its high-water mark (a paused
 * shared-buffer socket reads nothing, not even the end). */
const READ_ON = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** Resolved once: its reactions run as microtasks (scheduleHead). */
const RESOLVED = Promise.resolve();

export class H1Connection implements ReaderOwner {
  /** When the connection went idle between requests (ms), 0 while it is not. */
  idleSince = 0;
  #remote: string | undefined;
  /** Responses ended whose last bytes the socket has not confirmed, in order. @internal */
  readonly flushing: H1Response[] = [];
  readonly #reader: RequestReader;
  #queue: H1Request[] = [];
  #active: H1Response | undefined;
  #requests = 0;
  #executing = false;
  #kicking = false;
  /** Bytes read and not parsed yet: the reader stopped after enough requests. */
  #backlog: Buffer | undefined;
  #paused = false;
  #outputFull = false;
  /** No more requests: the connection closes after the responses written so far. */
  #closing = false;
  /** Draining: the connection closes after the response under way. */
  #closeAfter = false;
  /** llhttp stopped at an Upgrade (the bytes after the head are kept for the consumer). */
  #upgradeHead: Buffer | undefined;
  #detached = false;
  #closed = false;
  #headPending: H1Response | undefined;
  #headQueued = false;
  #inHandler = false;
  #dropped = 0;
  /** Reads land in the shared buffer (reads.ts), not in 'data' events. */
  readonly #ownReads: boolean;

  constructor(readonly socket: Socket, readonly server: ServerCore) {
    this.#reader = new RequestReader(this);
    this.#ownReads = takeReads(socket, this.#onRead);
    if (!this.#ownReads) socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
  }

  /** Requests handed over on this connection. */
  get requests(): number { return this.#requests; }
  /** Nothing in flight: no request being read or answered. */
  get idle(): boolean {
    return this.#active === undefined && this.#queue.length === 0 && this.#reader.messageStart === 0 && this.flushing.length === 0;
  }

  // ---- socket events (bound once per connection) ----

  readonly #onData = (chunk: Buffer): void => this.#take(chunk, false);
  readonly #onRead = (chunk: Buffer): void => this.#take(chunk, true);

  /** A read: `shared`, a view of the shared read buffer (what is kept is copied). */
  #take(chunk: Buffer, shared: boolean): void {
    if (this.#upgradeHead !== undefined) {
      this.#upgradeHead = Buffer.concat([this.#upgradeHead, chunk]);
      return;
    }
    if (this.#closing) {
      // Nothing more is answered: the bytes are dropped, but reading goes on, to notice a client that leaves.
      this.#dropped += chunk.length;
      if (this.#dropped >= READ_ON) this.#updateReading();
      return;
    }
    // A chunk can still come after the socket was paused (a shared-buffer socket reads on): it waits behind
    // what is waiting already.
    if (this.#backlog !== undefined || (this.#ownReads && !this.#mayRead())) {
      this.#backlog = this.#backlog === undefined ? Buffer.from(chunk) : Buffer.concat([this.#backlog, chunk]);
      if (this.#ownReads && this.#backlog.length >= READ_ON) this.#updateReading();
      return;
    }
    this.#feed(chunk, shared);
    this.#kick();
  }

  readonly #onEnd = (): void => {
    const err = this.#reader.finish();
    if (err !== undefined) return this.refuse(err);
    // The client closed its side. With a response under way it has gone (node:http ends the socket and the
    // response fails): the consumer learns it at once (`gone`), as nginx's 499.
    if (this.#active !== undefined || this.#queue.length > 0) destroyHeld(this.socket); // answers written go first
    else if (!this.socket.destroyed) this.#endSoon();
  };

  readonly #onError = (): void => {
    this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.server.untrack(this);
    this.#reader.parsing?.abort();
    const active = this.#active;
    if (active !== undefined) {
      active.req.abort();
      active.closed();
    }
    for (const res of this.flushing) res.closed();
    this.flushing.length = 0;
    this.#queue.length = 0;
    this.#reader.destroy();
  };

  readonly #onDrain = (): void => {
    this.#outputFull = false;
    this.#active?.drained();
    this.#kick();
  };

  /** The socket confirmed a response's last bytes (write callbacks come in order). @internal */
  readonly onFlushed = (err?: Error | null): void => {
    this.flushing.shift()?.flushed(err == null);
  };

  /** The client's address (node:net caches it, but its getter goes through _getpeername at every read). */
  get remoteAddress(): string | undefined { return (this.#remote ??= this.socket.remoteAddress); }

  /** The reader completed a request's head: it waits its turn. @internal */
  headReady(req: H1Request): void {
    this.#queue.push(req);
  }

  /** The reader may go past a complete request: few wait their turn, and the client reads its answers. @internal */
  readAhead(): boolean {
    return this.#queue.length < MAX_QUEUED && !this.#outputFull;
  }

  // ---- the request body's flow ----

  bodyWanted(req: H1Request): void {
    const reader = this.#reader;
    if (req !== reader.parsing || !reader.bodyFull) return;
    reader.bodyFull = false;
    this.#kick();
  }

  bodyDestroyed(req: H1Request): void {
    // As node:http: a request destroyed before its body was read whole takes its connection with it.
    if (req.discarding || req.complete || this.#closed || this.#detached) return;
    destroyHeld(this.socket);
  }

  // ---- responses ----

  /** A head was stored: it goes out with the first body bytes, or at the end of this tick. @internal */
  scheduleHead(res: H1Response): void {
    this.#headPending = res;
    if (this.#headQueued || this.#inHandler) return;
    this.#headQueued = true;
    // A resolved promise's reaction: queueMicrotask makes an AsyncResource per call (~3x the cost).
    void RESOLVED.then(this.#flushHead);
  }

  readonly #flushHead = (): void => {
    this.#headQueued = false;
    const res = this.#headPending;
    this.#headPending = undefined;
    if (res !== undefined && !res.writableEnded && !res.destroyed) res.flushHeaders();
  };

  /** end() was called: the next request may be answered (its bytes follow on the socket). @internal */
  responseEnded(res: H1Response): void {
    if (res.upgrade) {
      if (res.statusCode !== 101) this.#endSoon();
      return;
    }
    if (res !== this.#active || this.socket.destroyed) return;
    this.#active = undefined;
    if (res.last || this.#closeAfter) {
      // RFC 9112 9.6: after `Connection: close` no further request is read or answered.
      this.#closing = true;
      this.#queue.length = 0;
      this.#endSoon();
      return;
    }
    // node:http's _dump: what is left of an unread body is read and dropped, to reach the next request.
    if (!res.req.complete) {
      res.req.discard();
      this.#reader.bodyFull = false;
    }
    if (this.socket.writableNeedDrain) this.#outputFull = true;
    this.#kick();
  }

  /** Refuses the connection's input as node:http does (its socketOnError): counted, the canned answer written
   * unless a response already started on the wire, then the connection destroyed. */
  refuse(code: RefusalCode): void {
    if (this.#closed || this.#detached || this.socket.destroyed) return;
    this.server.handlers.refused?.(code, this.socket);
    const active = this.#active;
    if (this.socket.writable && (active === undefined || !active.headFlushed)) this.socket.write(refusalBytes(code));
    destroyHeld(this.socket); // what it holds this turn goes first: the refusal, answers before it
  }

  /** The server's periodic check: header and request timeouts (408), idle keep-alive. @internal */
  checkTimeouts(t: number): void {
    if (this.#closed || this.#detached) return;
    const s = this.server;
    const start = this.#reader.messageStart;
    if (start > 0) {
      // Slowloris: the head must be complete within headersTimeout; the whole request within requestTimeout.
      if ((!this.#reader.headersDone && s.headersTimeout > 0 && t - start > s.headersTimeout) || (s.requestTimeout > 0 && t - start > s.requestTimeout)) {
        this.refuse('ERR_HTTP_REQUEST_TIMEOUT');
      }
    } else if (this.idleSince > 0 && s.keepAliveTimeout > 0 && t - this.idleSince >= s.keepAliveTimeout + 1000) {
      // node:http closes 1 s after the Keep-Alive timeout it announced, so that clients close first.
      this.socket.destroy();
    }
  }

  /** Graceful drain: the response under way says `Connection: close` (or the connection closes after it). */
  drain(): void {
    if (this.idle) return void this.socket.destroy();
    this.#closeAfter = true;
    const active = this.#active;
    if (active !== undefined && !active.headersSent) active.shouldKeepAlive = false;
  }

  // ---- internals ----

  #stopAtUpgrade(rest: Buffer): void {
    const last = this.#queue[this.#queue.length - 1];
    if (last !== undefined && last.upgrade) this.#upgradeHead = rest;
    else this.#closing = true; // an Upgrade served as a plain request: llhttp reads no further
  }

  #feed(chunk: Buffer, shared = false): void {
    this.#executing = true;
    let ret;
    try {
      ret = this.#reader.read(chunk, shared);
    } finally {
      this.#executing = false;
    }
    if (ret === 'upgrade') this.#stopAtUpgrade(this.#reader.rest);
    else if (ret === 'yield') this.#backlog = this.#reader.rest;
    else if (ret === 'stop') this.#closing = true;
    else if (ret !== undefined) this.refuse(ret);
  }

  /** Answers what waits its turn, reads on from the backlog while allowed, then reads the socket or not. */
  #kick(): void {
    if (this.#executing || this.#kicking || this.#closed || this.#detached) return;
    this.#kicking = true;
    try {
      for (;;) {
        this.#dispatch();
        const backlog = this.#backlog;
        if (backlog === undefined || !this.#mayRead() || this.socket.destroyed) break;
        this.#backlog = undefined;
        this.#feed(backlog);
      }
    } finally {
      this.#kicking = false;
    }
    if (this.#detached || this.#closed) return;
    if (this.#active === undefined && this.#queue.length === 0 && this.#reader.messageStart === 0 && !this.#closing) this.idleSince = now();
    this.#updateReading();
  }

  #dispatch(): void {
    while (this.#active === undefined && this.#queue.length > 0 && !this.socket.destroyed) {
      const req = this.#queue[0]!;
      // An upgrade is handed over only once llhttp has stopped at it (its bytes after the head are known).
      if (req.upgrade && this.#upgradeHead === undefined) break;
      this.#queue.shift();
      this.#serve(req);
    }
  }

  /** node:http's parserOnIncoming: its own answers (400 without Host, 503 past the request limit, 417), else the handler. */
  #serve(req: H1Request): void {
    const s = this.server;
    const res = new H1Response(this, req, req.keepAlive && !s.draining && !this.#closeAfter, req.upgrade);
    this.#active = res;
    if (req.upgrade) return this.#handOver(req, res);
    // A head written while the handler runs goes out with its body, or when the handler returns.
    this.#inHandler = true;
    try {
      this.#answer(req, res);
    } finally {
      this.#inHandler = false;
    }
    this.#flushHead();
  }

  #answer(req: H1Request, res: H1Response): void {
    const s = this.server;
    const count = ++this.#requests;
    const max = s.maxRequestsPerSocket;
    if (max > 0 && count >= max) res.maxRequestsReached = true;
    const http11 = req.httpVersionMinor === 1;
    // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400.
    if (http11 && !req.hasHost) return void res.writeHead(400, ['Connection', 'close']).end();
    if (max > 0 && count > max) return void res.writeHead(503).end();
    const expect = req.expect;
    if (http11 && expect !== undefined) {
      // RFC 9110 10.1.1: 100-continue is the only expectation; any other is a 417.
      if (!/(?:^|\W)100-continue(?:$|\W)/i.test(expect)) return void res.writeHead(417).end();
      req.expectContinue = true;
    }
    s.handlers.request(req, res);
  }

  /** The socket goes to the consumer with the bytes after the head (node:http's 'upgrade' and 'connect'). */
  #handOver(req: H1Request, res: H1Response): void {
    const head = this.#upgradeHead ?? EMPTY;
    const socket = this.socket;
    this.#detached = true;
    release(socket);
    if (this.#ownReads) releaseReads(socket);
    else socket.removeListener('data', this.#onData);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('error', this.#onError);
    socket.removeListener('close', this.#onClose);
    socket.removeListener('drain', this.#onDrain);
    this.server.untrack(this);
    this.#reader.destroy();
    const handler = req.method === 'CONNECT' ? this.server.handlers.connect : this.server.handlers.upgrade;
    if (handler === undefined) return void socket.destroy();
    socket.once('close', () => res.closed());
    // As node:http: the consumer's 'data' listener starts the flow again.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    handler(req, socket, head, res);
  }

  /** More requests may be read: not closing nor switching protocols, their bodies' readers and the client keep up. */
  #mayRead(): boolean {
    return !this.#closing && this.#upgradeHead === undefined && !this.#reader.bodyFull && this.readAhead();
  }

  #updateReading(): void {
    const want = (this.#mayRead() && this.#backlog === undefined) || this.#readsOn();
    if (want !== this.#paused) return;
    this.#paused = !want;
    if (want) this.socket.resume();
    else this.socket.pause();
  }

  /** A shared-buffer socket reads on while no request may be read, up to READ_ON bytes held or dropped. */
  #readsOn(): boolean {
    if (!this.#ownReads || this.#upgradeHead !== undefined) return false;
    return this.#closing ? this.#dropped < READ_ON : (this.#backlog?.length ?? 0) < READ_ON;
  }

  /** Ends the socket once what it holds is sent, then destroys it (node:http's destroySoon). */
  #endSoon(): void {
    (this.socket as Socket & { destroySoon(): void }).destroySoon();
  }
}
