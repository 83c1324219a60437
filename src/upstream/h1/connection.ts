/**
 * One persistent HTTP/1.1 connection to an upstream server (RFC 9112 9.3): one request at a time, the response
 * parsed (core/llhttp.ts) and streamed to the caller's handler (undici's raw interface; [name, value] pairs as
 * latin1 strings, names in lower case, where undici gives Buffers), the request body streamed with backpressure.
 * Reused only when both sides leave it clean: the response said keep-alive, its body ended where its framing
 * said, and the request body went out whole.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Readable } from 'node:stream';
import { HttpParser, type ParserEvents } from '../../core/llhttp.js';
import { now, readDone, readStart } from '../../core/clock.js';
import { hold } from '../../core/write-batch.js';
import { RequestError, streamFraming } from './request.js';
import { ConnectionError, keepAliveHint, PHASE, stale, STALE_WINDOW_MS, timeoutError } from './response.js';
import type { Call, ConnectionOwner, ConnectionSettings } from './types.js';
import { subarray } from '../../core/strings.js';

const { CONNECT, HEADERS, BODY, SEND, IDLE } = PHASE;
/** Plain connections read into this one buffer (net's `onread`: no Buffer, stream push, 'data' event or nextTick
 * per read). A read is parsed before the next one lands, and body bytes are copied out of it (onBody). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class H1Connection implements ParserEvents {
  readonly socket: Socket;
  private readonly parser = new HttpParser('response', this, { lowerNames: true });
  private connected = false;
  call: Call | undefined;
  /** Requests this connection has finished. */
  served = 0;
  private headerBytes = 0;
  private status = 0;
  private keepAlive = false;
  /** The idle time the server's Keep-Alive header allows (ms), or -1. */
  private serverIdle = -1;
  private received = 0;
  private completed = false;
  private sent = false;
  private paused = false;
  private error: Error | undefined;
  private source: Readable | undefined;
  private left = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerKind = 0;
  /** now() when the current phase times out (0: none), and when the timer fires. */
  private deadline = 0;
  private fireAt = 0;
  private closedOnce = false;
  /** The current call's head went out (or is about to: `deferred`). */
  private written = false;
  private deferred = false;
  private sentAt = 0;
  private ended = false;
  private interim = 0;

  constructor(private readonly settings: ConnectionSettings, private readonly owner: ConnectionOwner, session: Buffer | undefined, onSession: ((s: Buffer) => void) | undefined) {
    const s = settings;
    this.socket = s.tls
      ? tlsConnect({ ...s.tls, host: s.host, port: s.port, ALPNProtocols: ['http/1.1'], ...(session ? { session } : {}) })
      : netConnect({ host: s.host, port: s.port, onread: { buffer: READ_BUFFER, callback: this.onRead } });
    this.socket.setNoDelay(true);
    if (s.tls && onSession) this.socket.on('session', onSession);
    this.socket.once(s.tls ? 'secureConnect' : 'connect', this.onConnect);
    if (s.tls) this.socket.on('data', this.onData);
    this.socket.on('error', this.onError);
    this.socket.once('end', this.onEnd);
    this.socket.once('close', this.onClose);
    this.arm(CONNECT, s.connectTimeout);
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    this.arm(0, 0);
    if (this.call) this.send(this.call);
    else this.owner.released(this);
  };

  /** Starts `call` on this connection (connected and idle, or still connecting). */
  run(call: Call): void {
    call.conn = this;
    this.call = call;
    this.completed = false;
    this.sent = false;
    this.received = 0;
    this.status = 0;
    this.interim = 0;
    this.written = false;
    this.deferred = false;
    if (this.connected) this.arm(0, 0);
    if (!call.started) {
      call.started = true;
      call.handler.onConnect?.(call.abort);
      if (call.done || this.call !== call) return; // aborted at once
    }
    if (this.connected) this.send(call);
  }

  private send(call: Call): void {
    const { socket } = this;
    this.written = true;
    this.sentAt = now();
    const body = call.body;
    if (body === null || body instanceof Buffer) {
      hold(socket); // sent at the end of the turn (core/write-batch.ts); a streamed body's head goes at once
      if (body !== null && body.length > 0) {
        socket.cork();
        socket.write(call.head, 'latin1');
        socket.write(body);
        socket.uncork();
      } else socket.write(call.head, 'latin1');
      this.bodySent();
      return;
    }
    const src = body as Readable;
    if (call.length === -1 && !this.deferred) {
      // Wait for what has already arrived to reach the body's buffer: a body complete by then goes with its length.
      this.deferred = true;
      return void setImmediate(this.sendLater);
    }
    const framing = call.length === -1 ? streamFraming(src) : undefined;
    socket.write(framing ? call.head + framing.line : call.head, 'latin1');
    this.source = src;
    this.left = framing ? framing.length : call.length;
    src.on('data', this.onSourceData);
    src.once('end', this.onSourceEnd);
    this.arm(SEND, this.settings.bodyTimeout);
    if (src.readableEnded) return this.onSourceEnd(); // read to its end already: nothing more will come
    src.resume();
  }

  private readonly sendLater = (): void => {
    if (this.call !== undefined && !this.call.done && !this.closedOnce) this.send(this.call);
  };

  private bodySent(): void {
    this.sent = true;
    if (this.status === 0) this.arm(HEADERS, this.settings.headersTimeout);
  }

  private readonly onSourceData = (chunk: Buffer): void => {
    const { socket } = this;
    let ok: boolean;
    if (this.left < 0) {
      if (chunk.length === 0) return;
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      if (chunk.length > this.left) return this.fail(new RequestError('request body longer than its content-length', 'GH_H1_REQ_CONTENT_LENGTH_MISMATCH'));
      this.left -= chunk.length;
      ok = socket.write(chunk);
    }
    if (this.timerKind === SEND) this.deadline = now() + this.settings.bodyTimeout;
    if (!ok) {
      this.source!.pause();
      socket.once('drain', this.onSocketDrain);
    }
  };

  private readonly onSocketDrain = (): void => { this.source?.resume(); };

  private readonly onSourceEnd = (): void => {
    if (this.left > 0) return this.fail(new RequestError('request body shorter than its content-length', 'GH_H1_REQ_CONTENT_LENGTH_MISMATCH'));
    if (this.left < 0) this.socket.write('0\r\n\r\n', 'latin1');
    this.detachSource();
    this.bodySent();
  };

  private detachSource(): void {
    const src = this.source;
    if (src === undefined) return;
    this.source = undefined;
    src.off('data', this.onSourceData);
    src.off('end', this.onSourceEnd);
    this.socket.off('drain', this.onSocketDrain);
  }

  // --- the response, from llhttp (core/llhttp.ts) ---

  onMessageBegin(): number {
    // Bytes after a complete response, or with no request in flight: the server is not speaking HTTP/1.1 to us.
    if (this.completed || this.call === undefined) return -1;
    this.headerBytes = 0;
    return 0;
  }

  onUrl(): number { return 0; }

  onStatus(_at: number, len: number): number { return this.count(len); }

  private count(n: number): number {
    this.headerBytes += n;
    if (this.headerBytes <= this.settings.maxHeaderSize) return 0;
    this.error = new ConnectionError('response head too large', 'GH_H1_HEADERS_OVERFLOW');
    return -1;
  }

  onHeaderField(_at: number, len: number): number { return this.count(len); }

  onHeaderValue(_at: number, len: number): number { return this.count(len); }

  onHeadersComplete(status: number, upgrade: boolean, keepAlive: boolean): number {
    const call = this.call!;
    // Strings, where undici's Buffers are: the handler's interface types them as Buffers (headers.ts takes both).
    const headers = this.parser.takeFields() as unknown as Buffer[];
    if (status < 200) {
      // 101 is an answer to an Upgrade this client never sends (WebSockets go through ws-open.ts); more than 32
      // interim responses to one request is a server stalling the response head.
      if (status === 101 || upgrade || ++this.interim > 32) { this.error = new ConnectionError(`unexpected ${status} response`, 'GH_H1_PROTOCOL'); return -1; }
      call.handler.onHeaders?.(status, headers, call.resume, '');
      return 0;
    }
    this.status = status;
    this.keepAlive = keepAlive;
    this.serverIdle = keepAlive ? keepAliveHint(headers as unknown as string[]) : -1;
    this.arm(BODY, this.settings.bodyTimeout);
    if (call.handler.onHeaders?.(status, headers, call.resume, '') === false) this.pause();
    return call.isHead ? 1 : 0; // RFC 9110 9.3.2: no body after HEAD, whatever the framing says
  }

  onBody(chunk: Buffer): number {
    const call = this.call!;
    if (call.done) return 0;
    if (this.timerKind === BODY) this.deadline = now() + this.settings.bodyTimeout;
    // A plain connection's chunk is a view of the shared read buffer: the handler may keep what it gets.
    if (call.handler.onData?.(this.settings.tls ? chunk : Buffer.from(chunk)) === false) this.pause();
    return 0;
  }

  onMessageComplete(): number {
    if (this.status === 0) return 0; // an interim response ended; the final one follows
    const call = this.call!;
    const trailers = this.parser.hasFields ? this.parser.takeFields() : null;
    this.completed = true;
    this.arm(0, 0);
    if (!call.done) {
      call.done = true;
      call.unwatch();
      call.handler.onComplete?.(trailers);
    }
    return 0;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.arm(0, 0); // a client slow to read is not the server's silence
    this.socket.pause();
  }

  /** The handler can take more body (undici's `resume`). */
  resumeBody(call: Call): void {
    if (this.call !== call || !this.paused) return;
    this.paused = false;
    this.arm(BODY, this.settings.bodyTimeout);
    this.socket.resume();
  }

  // --- the socket ---

  private readonly onRead = (n: number, buf: Uint8Array): boolean => { this.onData(subarray(buf, 0, n)); return true; };

  private readonly onData = (chunk: Buffer): void => {
    if (this.call === undefined) return void this.socket.destroy(); // a server talking out of turn
    this.received += chunk.length;
    readStart(); // the time for every deadline this read moves (core/clock.ts)
    try {
      const r = this.parser.execute(chunk);
      if (r !== undefined) {
        if (this.completed) return void this.socket.destroy(); // trailing bytes after a response
        return this.fail(this.error ?? (r === 'upgrade' ? new ConnectionError('unexpected protocol switch', 'GH_H1_PROTOCOL') : r));
      }
      if (this.completed && !this.socket.destroyed) this.finish();
    } finally {
      readDone();
    }
  };

  /** The response is complete: the connection goes back to the pool, or closes when it is not clean. */
  private finish(): void {
    const call = this.call!;
    const reusable = this.keepAlive && this.sent && !call.isHead;
    if (this.paused) {
      // Paused for the last bytes of this response, which are all here: the connection reads again.
      this.paused = false;
      this.socket.resume();
    }
    this.detachSource();
    this.call = undefined;
    call.conn = undefined;
    this.served++;
    if (!reusable) return void this.socket.destroy();
    const idle = this.serverIdle >= 0 ? Math.min(this.serverIdle, this.settings.idleTimeout) : this.settings.idleTimeout;
    if (idle <= 0) return void this.socket.destroy();
    this.arm(IDLE, idle);
    this.owner.released(this);
  }

  private readonly onError = (err: Error): void => { this.error ??= err; };

  /** The server closed its side: an idle connection is not given another request. */
  private readonly onEnd = (): void => {
    this.ended = true;
    if (this.call === undefined) this.socket.destroy();
  };

  /** Connected, open both ways: an idle connection that may take a request. */
  get usable(): boolean { return this.connected && !this.ended && !this.socket.destroyed; }

  private readonly onClose = (): void => {
    if (this.closedOnce) return;
    this.closedOnce = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.detachSource();
    const call = this.call;
    let retry: Call | undefined;
    if (call !== undefined && !call.done) {
      // A response delimited by the connection's close ends here (RFC 9112 6.3 item 8).
      const cut = this.connected && this.received > 0 ? this.parser.finish() : undefined;
      if (!this.completed && this.received === 0 && this.served > 0 && call.replayable && this.settings.replayStale
        && now() - this.sentAt < STALE_WINDOW_MS && stale(this.error)) retry = call;
      else if (!this.completed) this.deliverError(call, this.error ?? cut ?? new ConnectionError(this.connected ? 'upstream closed the connection' : 'connection closed', 'GH_H1_CLOSED'));
    }
    this.call = undefined;
    if (call) call.conn = undefined;
    this.parser.destroy();
    this.owner.closed(this, retry);
  };

  /** Ends the call in flight with `err` and closes the connection (its state is unknown). */
  fail(err: Error): void {
    const call = this.call;
    if (call !== undefined) this.deliverError(call, err);
    this.socket.destroy();
  }

  private deliverError(call: Call, err: Error): void {
    if (call.done) return;
    call.done = true;
    this.detachSource();
    call.unwatch();
    call.handler.onError?.(err);
  }

  /** The caller gave up on `call` (a client gone, a retry elsewhere): it ends with `err` and the connection closes. */
  abort(call: Call, err: Error): void {
    if (this.call !== call) return;
    if (this.written) return this.fail(err);
    // Nothing of it went out (a client gone while it waited): the connection stays clean for the next request.
    this.call = undefined;
    call.conn = undefined;
    this.deliverError(call, err);
    if (this.connected && this.call === undefined) {
      this.arm(IDLE, this.settings.idleTimeout);
      this.owner.released(this);
    }
  }

  /** Closes the connection now (a pool closing). */
  destroy(err?: Error): void {
    if (err) this.error ??= err;
    this.socket.destroy();
  }

  /**
   * One deadline per connection for its current phase, and one timer that is moved only when a deadline comes
   * sooner than it fires: a phase change or a body chunk costs a clock read, not a timer (re)insertion.
   */
  private arm(kind: number, ms: number): void {
    this.timerKind = kind;
    if (kind === 0 || ms <= 0) return void (this.deadline = 0);
    this.deadline = now() + ms;
    if (this.timer !== undefined && this.fireAt <= this.deadline) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.fireAt = this.deadline;
    this.timer = setTimeout(this.onTimeout, ms).unref();
  }

  private readonly onTimeout = (): void => {
    this.timer = undefined;
    if (this.deadline === 0 || this.closedOnce) return;
    const left = this.deadline - now();
    if (left > 1) {
      this.fireAt = this.deadline;
      this.timer = setTimeout(this.onTimeout, left).unref();
      return;
    }
    const kind = this.timerKind;
    this.deadline = 0;
    if (kind === IDLE) return void this.socket.destroy();
    this.error = timeoutError(kind);
    this.fail(this.error);
  };
}
