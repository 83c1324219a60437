/**
 * The response side of an HTTP/2 stream on node:http2's core API (DownstreamResponse): writes go to the stream
 * with respond/write/end/sendTrailers. node:http2's compatibility layer would build an Http2ServerResponse
 * per stream, with listeners, a socket Proxy and a header object rebuilt on every writeHead, and always end a
 * response with a trailers round: about a fifth of the CPU a small HTTP/2 request costs (docs/benchmarks.md).
 */
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { fieldObject, type DownstreamResponse } from '../core/downstream.js';
import { TOKEN_RE } from '../core/headers.js';

/** RFC 9113 7: RST_STREAM INTERNAL_ERROR (node:http2's constants are not loaded for it). */
const INTERNAL_ERROR = 0x2;

function ignore(): void {
  // Stream errors reach the pipeline as the response's 'close' (the client gone, or the stream reset).
}

/** RFC 9110 5.1 field-name token. */
/** RFC 9113 8.2.2: connection-specific fields, which node:http2 refuses (`te` but for "trailers"). */
const CONNECTION_FIELDS = new Set(['upgrade', 'http2-settings', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te']);
/** Fields node:http2 refuses to send twice (its kSingleValueHeaders, less the pseudo-headers). */
const SINGLE_FIELDS = new Set(['access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method',
  'age', 'authorization', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5',
  'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization',
  'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options']);

/**
 * The head goes out at the first write or end, or at the latest in a microtask after writeHead: a response
 * ended at once (a reply, a cached or small forwarded body) is one HEADERS and one DATA frame with END_STREAM,
 * where the compatibility layer always waits for trailers and ends the stream with a frame of its own.
 */
export class H2Response extends EventEmitter implements DownstreamResponse {
  statusCode = 200;
  /** Read by nothing on HTTP/2: streams end on their own. */
  shouldKeepAlive = true;
  #ending = false;
  #destroyed = false;
  #closed = false;
  #drainHooked = false;
  /** writeHead was called (its head may still be pending). */
  #sent = false;
  #pending: OutgoingHttpHeaders | undefined;
  #trailers: Record<string, string | string[]> | undefined;
  constructor(readonly stream: ServerHttp2Stream) {
    super();
    stream.on('error', ignore);
    stream.once('close', () => {
      this.#closed = true;
      // The exchange is over, the response sent in full or not (`gone` tells).
      this.emit('close');
    });
  }

  override on(...args: Parameters<EventEmitter['on']>): this {
    if (args[0] === 'drain') this.#hookDrain();
    return super.on(...args);
  }

  #hookDrain(): void {
    if (this.#drainHooked) return;
    this.#drainHooked = true;
    this.stream.on('drain', () => this.emit('drain'));
  }

  get headersSent(): boolean { return this.#sent || this.stream.headersSent; }
  get writableEnded(): boolean { return this.#ending; }
  /** The stream closed before the response was ended (after a reset, node:http2 ends the writable side itself). */
  get gone(): boolean { return (this.stream.closed || this.stream.destroyed) && !this.#ending; }
  get writableFinished(): boolean { return this.stream.writableFinished; }
  get writableLength(): number { return this.stream.writableLength; }

  /** `headers`: a flat [name, value, …] list; names are lower-cased, repeats become lists. */
  writeHead(status: number, headers: readonly string[] = []): this {
    const stream = this.stream;
    if (this.#closed || stream.destroyed || stream.closed) return this;
    if (this.headersSent) throw new Error('response headers already sent');
    const out = Object.create(null) as OutgoingHttpHeaders;
    if (headers.length % 2 !== 0) throw new TypeError('headers: an odd number of items');
    for (let i = 0; i < headers.length; i += 2) this.#append(out, headers[i]!, headers[i + 1]!);
    out[':status'] = status;
    this.statusCode = status;
    this.#sent = true;
    this.#pending = out;
    queueMicrotask(() => this.#flush(true, false));
    return this;
  }

  /** Checks each field as node:http2 would when sending, so that a refused one throws here, to the caller. */
  #append(out: OutgoingHttpHeaders, rawName: string, value: string | undefined): void {
    const name = rawName.toLowerCase();
    if (value === undefined || value === null || name.charCodeAt(0) === 58 /* : */) throw new TypeError(`invalid header "${name}"`);
    // RFC 9113 8.2.2: no Connection field in HTTP/2; dropped, as the compatibility layer does.
    if (name === 'connection' && value !== 'trailers') return;
    if (!TOKEN_RE.test(name)) {
      this.destroy(new TypeError(`invalid header name "${name}"`));
      return;
    }
    if (CONNECTION_FIELDS.has(name) && (name !== 'te' || value !== 'trailers')) throw new TypeError(`connection-specific header "${name}"`);
    const prev = out[name];
    if (prev === undefined) {
      out[name] = value;
      return;
    }
    if (SINGLE_FIELDS.has(name)) throw new TypeError(`header "${name}" repeated`);
    if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }

  /** Sends the pending head; `waitForTrailers` when the body may end later (trailers may still come). */
  #flush(waitForTrailers: boolean, endStream: boolean): void {
    const head = this.#pending;
    if (head === undefined) return;
    this.#pending = undefined;
    const stream = this.stream;
    if (this.#closed || stream.destroyed || stream.closed) return;
    try {
      stream.respond(head, { endStream, waitForTrailers });
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (waitForTrailers) stream.once('wantTrailers', () => stream.sendTrailers(this.#trailers ?? {}));
  }

  write(chunk: Buffer | string, cb?: (err?: Error | null) => void): boolean {
    if (this.#ending || this.#closed) {
      const err = new Error(this.#ending ? 'write after end' : 'the stream is closed');
      if (cb) process.nextTick(cb, err);
      this.destroy(err);
      return false;
    }
    if (this.#destroyed) return false;
    if (!this.#sent) this.writeHead(this.statusCode);
    this.#flush(true, false);
    return this.stream.write(chunk, cb);
  }

  end(chunk?: Buffer | string): this {
    if (this.#closed || this.#ending) return this;
    const stream = this.stream;
    const body = chunk !== undefined && chunk !== null;
    if (!this.#sent) this.writeHead(this.statusCode);
    this.#ending = true;
    if (this.#pending !== undefined) {
      // The whole response is known: trailers are waited for only when some were added.
      const trailers = this.#trailers !== undefined;
      this.#flush(trailers, !body && !trailers);
    }
    if (!stream.destroyed && !stream.writableEnded) {
      if (body) stream.end(chunk);
      else stream.end();
    }
    return this;
  }

  /** RST_STREAM INTERNAL_ERROR (RFC 9113 8.1: a stream reset without error, or one ended with END_STREAM,
   * would read as a complete response). */
  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const stream = this.stream;
    if (!stream.closed && !stream.destroyed) stream.close(INTERNAL_ERROR);
    else stream.destroy(err);
  }

  /** Sends the pending head now (a tunnel's DATA follows on the stream itself). */
  flushHeaders(): void {
    this.#flush(true, false);
  }

  addTrailers(fields: readonly string[]): void {
    const t = (this.#trailers ??= {});
    const more = fieldObject(fields);
    for (const k in more) t[k.trim()] = more[k]!;
  }

  /** RFC 9110 10.1.1: sent when the body is about to be read. */
  writeContinue(): boolean {
    if (this.headersSent || this.#closed) return false;
    this.stream.additionalHeaders({ ':status': 100 });
    return true;
  }

  /** RFC 9110 15.2 (RFC 9113 8.1 allows any 1xx but 101): 102 Processing, 103 Early Hints (RFC 8297, with a Link). */
  writeInformational(status: number, headers: readonly string[]): boolean {
    if (this.headersSent || this.#closed || (status !== 102 && status !== 103)) return false;
    if (status === 102) {
      this.stream.additionalHeaders({ ':status': 102 });
      return true;
    }
    const hints: OutgoingHttpHeaders = fieldObject(headers);
    const link = hints.link;
    if (link === undefined) return false;
    // One Link field: some clients read only the first of several.
    if (Array.isArray(link)) hints.link = link.join(', ');
    hints[':status'] = 103;
    this.stream.additionalHeaders(hints);
    return true;
  }
}

