/**
 * A response on the native HTTP/1.1 engine. The head is framed as node:http frames it (RFC 9112 6): the
 * fields given, Date, Connection and Keep-Alive, then Content-Length when known or chunked on HTTP/1.1, a
 * close-delimited body on HTTP/1.0; HEAD, 1xx, 204 and 304 never carry a body (RFC 9110 6.4.1). A head waits
 * for the first body bytes (one write for both) until the handler returns, or the end of the current tick.
 * The pipeline writes it as a `DownstreamResponse` (core/downstream.ts).
 */
import type { DownstreamResponse } from '../../core/downstream.js';
import { destroyHeld, hold, release } from '../../core/write-batch.js';
import type { H1Connection } from './connection.js';
import type { H1Request } from './request.js';
import { checkField, FieldError, statusLine } from './wire.js';
import { latin1Slice, toLowerCase } from '../../core/strings.js';

/** RFC 9110 15.2.1, as node:http words it. */
const CONTINUE = `${statusLine(100)}\r\n`;

type Listener = (this: H1Response) => void;
type Listeners = Listener | Listener[] | undefined;

const NO_FIELDS: readonly string[] = [];
/** Bodies up to this size are copied behind their head (one write); larger ones go out corked (no copy). */
const COPY_MAX = 16 * 1024;
/** Bodies up to this size go out as one string with their head (latin1 keeps every byte as it is). */
const STRING_MAX = 1024;
interface Writes { latin1Write(s: string, at: number): number; utf8Write(s: string, at: number): number }
const EMPTY = Buffer.alloc(0);
const CLOSE_RE = /(?:^|\W)close(?:$|\W)/i;
const CHUNKED_RE = /(?:^|\W)chunked(?:$|\W)/i;
/** What the given fields say about framing (bits, so that framing a head allocates nothing). */
const F_LENGTH = 1;
const F_TE = 2;
const F_CHUNKED = 4;
const F_DATE = 8;
const F_TRAILER = 16;
const F_CONN_CLOSE = 32;
const F_CONN_OTHER = 64;
const F_OWN_KEEP_ALIVE = 128;

function add(to: Listeners, fn: Listener): Listeners {
  return to === undefined ? fn : Array.isArray(to) ? (to.push(fn), to) : [to, fn];
}

export class H1Response implements DownstreamResponse {
  /** The status of the head written (200 before one is). */
  statusCode = 200;
  /** false: the connection closes after this response (`Connection: close`). */
  shouldKeepAlive: boolean;
  /** The connection's request limit is reached with this response: `Connection: close`. @internal */
  maxRequestsReached = false;
  /** The answer to an Upgrade or CONNECT: a 101 leaves the socket to the consumer, anything else closes it. */
  readonly upgrade: boolean;
  #head: string | undefined = undefined;
  #headersSent = false;
  #headFlushed = false;
  #hasBody: boolean;
  #chunked = false;
  #last = false;
  #ended = false;
  #finished = false;
  #closed = false;
  #destroyed = false;
  #sent100 = false;
  #needDrain = false;
  #trailers = '';
  #drain: Listeners;
  #close: Listeners;

  constructor(private readonly conn: H1Connection, readonly req: H1Request, keepAlive: boolean, upgrade: boolean) {
    this.shouldKeepAlive = keepAlive;
    this.upgrade = upgrade;
    this.#hasBody = req.method !== 'HEAD';
  }

  /** writeHead was called: the head is out, or goes out with the first write. */
  get headersSent(): boolean { return this.#headersSent; }
  /** The head's bytes went to the socket (a refusal may still be written before that). @internal */
  get headFlushed(): boolean { return this.#headFlushed; }
  /** The connection closes after this response. @internal */
  get last(): boolean { return this.#last; }
  get writableEnded(): boolean { return this.#ended; }
  /** The whole response was handed to the operating system. */
  get writableFinished(): boolean { return this.#finished; }
  /** Bytes the socket holds, not yet sent (what backpressure measures). */
  get writableLength(): number { return this.conn.socket.writableLength; }
  get destroyed(): boolean { return this.#destroyed || this.#closed; }
  /** The client went away (or the response was destroyed) before the response was complete. */
  get gone(): boolean { return (this.#destroyed || this.conn.socket.destroyed) && !this.#finished; }

  /**
   * Stores the head (sent with the first body bytes or at the end of this tick); throws a FieldError on a refused
   * field. `checked`: the leading items known valid (DownstreamResponse), not checked again.
   */
  writeHead(status: number, headers: readonly string[] = NO_FIELDS, checked = 0): this {
    if (this.#headersSent) throw new Error('response headers already sent');
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid status code ${status}`);
    this.#store(status, headers, -1, checked);
    this.conn.scheduleHead(this);
    return this;
  }

  /** Sends the head now (a tunnel's bytes follow it on the socket). */
  flushHeaders(): void {
    if (!this.#headersSent) this.#store(this.statusCode, NO_FIELDS, -1);
    const head = this.#takeHead();
    if (head !== '') this.#send(head, undefined, '', false);
  }

  /**
   * An interim response (RFC 9110 15.2): 102, or 103 Early Hints with a Link (RFC 8297). false when not sent:
   * the head is out, an HTTP/1.0 client (which must not get one), no Link on a 103, or 101 (an upgrade's own).
   */
  writeInformational(status: number, headers: readonly string[]): boolean {
    if (this.#headersSent || this.destroyed || this.req.httpVersionMinor === 0) return false;
    if (!Number.isInteger(status) || status < 100 || status > 199 || status === 101) return false;
    let head = statusLine(status);
    let link = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      checkField(name, value);
      if (name.length === 4 && name.toLowerCase() === 'link') link = true;
      head += `${name}: ${value}\r\n`;
    }
    if (status === 103 && !link) return false;
    this.#send(`${head}\r\n`, undefined, '', false);
    return true;
  }

  /** `100 Continue` (RFC 9110 10.1.1): the client may send its body now. Once, and only before the head. */
  writeContinue(): void {
    if (this.#sent100 || this.#headersSent || this.destroyed || this.req.httpVersionMinor === 0) return;
    this.#sent100 = true;
    this.#send(CONTINUE, undefined, '', false);
  }

  /** Body bytes: false once the socket holds more than its high-water mark ('drain' follows). */
  write(chunk: Buffer | string): boolean {
    if (this.#ended || this.destroyed) return false;
    if (!this.#headersSent) this.#store(this.statusCode, NO_FIELDS, -1);
    if (!this.#hasBody) return true;
    const len = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    const head = this.#takeHead();
    if (len === 0) return head === '' || this.#send(head, undefined, '', false);
    const ok = this.#chunked
      ? this.#send(`${head}${len.toString(16)}\r\n`, chunk, '\r\n', false, len)
      : this.#send(head, chunk, '', false, len);
    if (!ok) this.#needDrain = true;
    return ok;
  }

  /** Ends the response (the last chunk and trailers of a chunked body); the connection goes on with the next request. */
  end(chunk?: Buffer | string): this {
    if (this.#ended) return this;
    const len = chunk === undefined || chunk === null ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    // As node:http: a response ended without a head gets one with its length (RFC 9112 6.3).
    if (!this.#headersSent) this.#store(this.statusCode, NO_FIELDS, len);
    this.#ended = true;
    if (!this.destroyed && !this.conn.socket.destroyed) {
      let prefix = this.#takeHead();
      let suffix = '';
      const body = this.#hasBody && len > 0 ? chunk : undefined;
      if (this.#hasBody && this.#chunked) {
        if (body !== undefined) {
          prefix += `${len.toString(16)}\r\n`;
          suffix = '\r\n';
        }
        // RFC 9112 7.1: the last chunk, then the trailer section.
        suffix += `0\r\n${this.#trailers}\r\n`;
      }
      this.#send(prefix, body, suffix, true, len);
    }
    this.conn.responseEnded(this);
    return this;
  }

  /** Trailer fields (RFC 9110 6.5), sent after a chunked body; dropped when the body is not chunked. */
  addTrailers(fields: readonly string[]): void {
    let t = '';
    for (let i = 0; i < fields.length; i += 2) {
      checkField(fields[i]!, fields[i + 1]!);
      t += `${fields[i]!}: ${fields[i + 1]!}\r\n`;
    }
    this.#trailers += t;
  }

  /** Abandons the response: closes the connection, so what went out never reads as a complete response (RFC 9112 8). */
  destroy(_err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // What went out before (a pipelined answer, this one's head and first bytes) still goes: cut, not lost.
    destroyHeld(this.conn.socket);
  }

  /** 'drain': the socket took what it held after write() returned false. 'close': the exchange is over (once). */
  on(event: 'drain' | 'close', listener: Listener): this {
    if (event === 'drain') this.#drain = add(this.#drain, listener);
    else if (event === 'close') this.#close = add(this.#close, listener);
    return this;
  }

  /** The socket drained. @internal */
  drained(): void {
    if (!this.#needDrain || this.#ended) return;
    this.#needDrain = false;
    emit(this, this.#drain);
  }

  /** The last bytes went out (ok) or failed. @internal */
  flushed(ok: boolean): void {
    if (ok) this.#finished = true;
    // An upgrade's response closes with its socket (the tunnel's end).
    if (ok && !this.upgrade) this.closed();
  }

  /** The exchange is over: sent in full, or the connection closed. @internal */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    emit(this, this.#close);
  }

  #takeHead(): string {
    const head = this.#head;
    if (head === undefined) return '';
    this.#head = undefined;
    this.#headFlushed = true;
    return head;
  }

  /**
   * Writes up to three pieces as one write: one latin1 string when the body is at most 1 KiB, copied into one
   * buffer up to 16 KiB, corked beyond (one writev, the body not copied). Up to 16 KiB the write is held to the
   * end of the event loop's turn (core/write-batch.ts); beyond, what the socket holds goes first. `len`: the
   * chunk's byte length; `final`: the response's last bytes (their flush is tracked).
   */
  #send(prefix: string, chunk: Buffer | string | undefined, suffix: string, final: boolean, len = 0): boolean {
    const s = this.conn.socket;
    if (s.destroyed) return false;
    // Small writes go out at the end of the turn with the others (core/write-batch.ts); a large one at once,
    // after what the socket holds, so a streamed body is not held back (nor its writes refused as over the mark).
    if (len <= COPY_MAX) hold(s);
    else release(s);
    const cb = final ? this.conn.onFlushed : undefined;
    if (final) this.conn.flushing.push(this);
    if (chunk === undefined) return s.write(prefix === '' && suffix === '' ? EMPTY : prefix + suffix, 'latin1', cb);
    if (prefix === '' && suffix === '') return s.write(chunk, cb);
    if (len <= STRING_MAX && typeof chunk !== 'string') return s.write(prefix + latin1Slice(chunk, 0, len) + suffix, 'latin1', cb);
    if (len <= COPY_MAX) {
      // Head and framing are latin1 (one byte a character); a string body is UTF-8.
      const buf = Buffer.allocUnsafe(prefix.length + len + suffix.length) as Buffer & Writes;
      let at = prefix === '' ? 0 : buf.latin1Write(prefix, 0);
      at += typeof chunk === 'string' ? buf.utf8Write(chunk, at) : chunk.copy(buf, at);
      if (suffix !== '') buf.latin1Write(suffix, at);
      return s.write(buf, cb);
    }
    s.cork();
    if (prefix !== '') s.write(prefix, 'latin1');
    let ok: boolean;
    if (suffix === '') ok = s.write(chunk, cb);
    else {
      s.write(chunk);
      ok = s.write(suffix, 'latin1', cb);
    }
    s.uncork();
    return ok;
  }

  /** Frames the head (node:http's `_storeHeader`); nothing changes when a field is refused. */
  #store(status: number, fields: readonly string[], knownLength: number, checked = 0): void {
    if (fields.length % 2 !== 0) throw new FieldError('headers: an odd number of items');
    let head = statusLine(status);
    let facts = 0;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const known = i < checked; // valid, and named in lower case (DownstreamResponse.writeHead)
      if (!known) checkField(name, value);
      head += `${name}: ${value}\r\n`;
      // Dispatch on length: most fields are none of these and cost one comparison.
      switch (name.length) {
        case 4:
          if ((known ? name : toLowerCase(name)) === 'date') facts |= F_DATE;
          break;
        case 7:
          if ((known ? name : toLowerCase(name)) === 'trailer') facts |= F_TRAILER;
          break;
        case 10: {
          const lower = known ? name : toLowerCase(name);
          if (lower === 'connection') facts |= CLOSE_RE.test(value) ? F_CONN_CLOSE : F_CONN_OTHER;
          else if (lower === 'keep-alive') facts |= F_OWN_KEEP_ALIVE;
          break;
        }
        case 14:
          if ((known ? name : toLowerCase(name)) === 'content-length') facts |= F_LENGTH;
          break;
        case 17:
          if ((known ? name : toLowerCase(name)) === 'transfer-encoding') facts |= CHUNKED_RE.test(value) ? F_TE | F_CHUNKED : F_TE;
          break;
        default:
          break;
      }
    }
    this.#frame(head, status, facts, knownLength);
  }

  #frame(head: string, status: number, facts: number, knownLength: number): void {
    const settings = this.conn.server;
    let keepAlive = this.shouldKeepAlive;
    let chunked = (facts & F_CHUNKED) !== 0;
    let last = false;
    // RFC 9110 15.2, 15.3.5, 15.4.5: no body after 1xx, 204, 304 (nor after a HEAD request's response).
    const hasBody = this.#hasBody && status !== 204 && status !== 304 && (status < 100 || status > 199);
    if ((facts & F_DATE) === 0) head += `Date: ${settings.clock.now()}\r\n`;
    // A client that waits for 100 Continue got a final answer instead: it may still send the body, so this
    // connection cannot be trusted for another request (node:http does the same).
    if (this.req.expectContinue && !this.#sent100) keepAlive = false;
    // node:http: chunked framing on a 204/304 is dropped and the connection closed.
    if (chunked && (status === 204 || status === 304)) {
      chunked = false;
      keepAlive = false;
    }
    const http11 = this.req.httpVersionMinor >= 1;
    const hasLength = (facts & F_LENGTH) !== 0;
    if ((facts & F_CONN_CLOSE) !== 0) last = true;
    else if ((facts & F_CONN_OTHER) !== 0) last = !keepAlive;
    else if (keepAlive && (hasLength || http11) && !this.maxRequestsReached) {
      head += 'Connection: keep-alive\r\n';
      if ((facts & F_OWN_KEEP_ALIVE) === 0) head += settings.keepAliveField;
    } else {
      head += 'Connection: close\r\n';
      last = true;
    }
    // RFC 9112 6.3: a coding the engine does not frame, without chunked last: the body ends with the connection.
    if ((facts & F_TE) !== 0 && !chunked && hasBody) last = true;
    if (!hasLength && (facts & F_TE) === 0 && hasBody) {
      // RFC 9112 6.3: HTTP/1.0 knows no chunked coding: the body ends with the connection.
      if (!http11) last = true;
      else if ((facts & F_TRAILER) === 0 && knownLength >= 0) head += `Content-Length: ${knownLength}\r\n`;
      else {
        head += 'Transfer-Encoding: chunked\r\n';
        chunked = true;
      }
    }
    this.statusCode = status;
    this.#head = `${head}\r\n`;
    this.#headersSent = true;
    this.#hasBody = hasBody;
    this.#chunked = chunked && hasBody;
    this.#last = last;
  }
}

function emit(res: H1Response, listeners: Listeners): void {
  if (listeners === undefined) return;
  if (typeof listeners === 'function') return void listeners.call(res);
  for (const fn of listeners.slice()) fn.call(res);
}
