/**
 * HTTP/2 streams served on node:http2's core API ('stream' events, stream.respond) instead of its
 * compatibility layer, which builds an Http2ServerRequest (a Readable) and an Http2ServerResponse per stream,
 * with nine listeners, a socket Proxy and a header object rebuilt on every writeHead, and always ends a
 * response with a trailers round: about a fifth of the CPU a small HTTP/2 request costs (docs/benchmarks.md).
 * The adapters below implement just the members the rest of the code reads of
 * `req` and `res`, with the compatibility layer's behaviour. Requests with a body, CONNECT (RFC 9113 8.5, and
 * RFC 8441's extended CONNECT) and `Expect` keep the compatibility layer: they are rare, and it frames their
 * body reading, 100-continue and tunnels.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Server, Http2SecureServer, IncomingHttpHeaders as H2Headers, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

type StreamListener = (stream: ServerHttp2Stream, headers: H2Headers, flags: number, rawHeaders: string[]) => void;
/** The request handler the HTTP/1.1 and compatibility paths use (handler.ts `handleRequest`, bound). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

function ignore(): void {
  // Stream errors reach the application as 'close' (the response's), as in the compatibility layer.
}

/** What `req` offers on the lean path: an HTTP/2 request without a body (the HEADERS frame ended the stream). */
export class H2Request {
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly httpVersion = '2.0';
  /** There is no body: it is complete from the start. */
  readonly complete = true;
  readonly readableEnded = true;
  constructor(readonly stream: ServerHttp2Stream, readonly headers: IncomingHttpHeaders, readonly rawHeaders: string[], readonly socket: Socket) {}
  get method(): string { return this.headers[':method'] as string; }
  set method(m: string) { this.headers[':method'] = m; }
  get url(): string { return this.headers[':path'] as string; }
  set url(u: string) { this.headers[':path'] = u; }
  get destroyed(): boolean { return this.stream.destroyed; }
  get aborted(): boolean { return this.stream.aborted; }
}

/** RFC 9110 5.1 field-name token. */
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9113 8.2.2: connection-specific fields, which node:http2 refuses (`te` but for "trailers"). */
const CONNECTION_FIELDS = new Set(['upgrade', 'http2-settings', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te']);
/** Fields node:http2 refuses to send twice (its kSingleValueHeaders, less the pseudo-headers). */
const SINGLE_FIELDS = new Set(['access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method',
  'age', 'authorization', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5',
  'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization',
  'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options']);

/**
 * What `res` offers on the lean path; writes go to the stream with respond/write/end/sendTrailers.
 * The head goes out at the first write or end, or at the latest in a microtask after writeHead: a response
 * ended at once (a reply, a cached or small forwarded body) is one HEADERS and one DATA frame with END_STREAM,
 * where the compatibility layer always waits for trailers and ends the stream with a frame of its own.
 */
export class H2Response extends EventEmitter {
  statusCode = 200;
  /** Read by nothing on HTTP/2 (streams end on their own); a filter may set it. */
  shouldKeepAlive = true;
  #ending = false;
  #destroyed = false;
  #closed = false;
  #drainHooked = false;
  /** writeHead was called (its head may still be pending). */
  #sent = false;
  #pending: OutgoingHttpHeaders | undefined;
  #trailers: Record<string, string | string[]> | undefined;
  constructor(readonly stream: ServerHttp2Stream, readonly req: H2Request) {
    super();
    stream.on('error', ignore);
    stream.once('close', () => {
      this.#closed = true;
      // As the compatibility layer: 'finish' and 'close' when the stream closes, sent in full or not.
      this.emit('finish');
      this.emit('close');
    });
  }

  override on(...args: Parameters<EventEmitter['on']>): this {
    if (args[0] === 'drain') this.#hookDrain();
    return super.on(...args);
  }

  override once(...args: Parameters<EventEmitter['once']>): this {
    if (args[0] === 'drain') this.#hookDrain();
    return super.once(...args);
  }

  #hookDrain(): void {
    if (this.#drainHooked) return;
    this.#drainHooked = true;
    this.stream.on('drain', () => this.emit('drain'));
  }

  get headersSent(): boolean { return this.#sent || this.stream.headersSent; }
  get writableEnded(): boolean { return this.#ending; }
  get finished(): boolean { return this.#ending; }
  get writableFinished(): boolean { return this.stream.writableFinished; }
  get writableLength(): number { return this.stream.writableLength; }

  /** `headers`: a flat [name, value, …] list or an object; names are lower-cased, repeats become lists. */
  writeHead(status: number, headers?: readonly string[] | OutgoingHttpHeaders): this {
    const stream = this.stream;
    if (this.#closed || stream.destroyed || stream.closed) return this;
    if (this.headersSent) throw new Error('response headers already sent');
    const out = Object.create(null) as OutgoingHttpHeaders;
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new TypeError('headers: an odd number of items');
      for (let i = 0; i < headers.length; i += 2) this.#append(out, headers[i] as string, headers[i + 1] as string);
    } else if (headers) {
      const obj = headers as OutgoingHttpHeaders;
      for (const k in obj) this.#append(out, k, obj[k] as string | string[]);
    }
    out[':status'] = status;
    this.statusCode = status;
    this.#sent = true;
    this.#pending = out;
    queueMicrotask(() => this.#flush(true, false));
    return this;
  }

  /** Checks each field as node:http2 would when sending, so that a refused one throws here, to the caller. */
  #append(out: OutgoingHttpHeaders, rawName: string, value: string | string[] | number | undefined): void {
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
    if (Array.isArray(prev)) prev.push(...([] as string[]).concat(value as string | string[]));
    else out[name] = ([String(prev)] as string[]).concat(value as string | string[]);
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

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.stream.destroy(err);
  }

  addTrailers(trailers: Readonly<Record<string, string | string[]>>): void {
    const t = (this.#trailers ??= {});
    for (const k in trailers) t[k.trim().toLowerCase()] = trailers[k]!;
  }

  /** RFC 9110 10.1.1: never sent on this path (requests with `Expect` take the compatibility layer). */
  writeContinue(): boolean {
    if (this.headersSent || this.#closed) return false;
    this.stream.additionalHeaders({ ':status': 100 });
    return true;
  }

  /** RFC 8297: 103 Early Hints, with at least one Link. */
  writeEarlyHints(hints: Readonly<Record<string, string | string[]>>): boolean {
    const link = hints.link;
    const value = Array.isArray(link) ? link.join(', ') : link;
    if (!value || this.headersSent || this.#closed) return false;
    const headers: OutgoingHttpHeaders = {};
    for (const k in hints) if (k !== 'link') headers[k] = hints[k];
    this.stream.additionalHeaders({ ...headers, ':status': 103, link: value });
    return true;
  }
}

/**
 * Moves `server`'s HTTP/2 streams onto the lean path: takes over the 'stream' listener the compatibility
 * layer installed when `server.on('request')` was called (call this right after), keeping it for the
 * requests the lean path leaves to it.
 */
export function serveStreams(server: Http2Server | Http2SecureServer, handler: RequestHandler): void {
  const compat = server.listeners('stream') as StreamListener[];
  for (const f of compat) server.removeListener('stream', f);
  const fallback = (stream: ServerHttp2Stream, headers: H2Headers, flags: number, raw: string[]): void => {
    for (const f of compat) f.call(server, stream, headers, flags, raw);
  };
  server.on('stream', (stream: ServerHttp2Stream, headers: H2Headers, flags: number, raw: string[]) => {
    const session = stream.session;
    if (!stream.endAfterHeaders || headers.expect !== undefined || headers[':method'] === 'CONNECT' || session === undefined) {
      fallback(stream, headers, flags, raw);
      return;
    }
    const req = new H2Request(stream, headers as IncomingHttpHeaders, raw, session.socket as Socket);
    const res = new H2Response(stream, req);
    handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
}
