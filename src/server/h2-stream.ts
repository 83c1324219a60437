/**
 * HTTP/2 streams served on node:http2's core API ('stream' events, stream.respond) instead of its
 * compatibility layer, which builds an Http2ServerRequest (a Readable) and an Http2ServerResponse per stream,
 * with nine listeners, a socket Proxy and a header object rebuilt on every writeHead: a third of the CPU a
 * small HTTP/2 request costs. The adapters below implement just the members the rest of the code reads of
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

/** What `res` offers on the lean path; writes go to the stream with respond/write/end/sendTrailers. */
export class H2Response extends EventEmitter {
  statusCode = 200;
  /** Read by nothing on HTTP/2 (streams end on their own); a filter may set it. */
  shouldKeepAlive = true;
  #ending = false;
  #destroyed = false;
  #closed = false;
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
    stream.on('drain', () => this.emit('drain'));
    stream.once('wantTrailers', () => stream.sendTrailers(this.#trailers ?? {}));
  }

  get headersSent(): boolean { return this.stream.headersSent; }
  get writableEnded(): boolean { return this.#ending; }
  get finished(): boolean { return this.#ending; }
  get writableFinished(): boolean { return this.stream.writableFinished; }
  get writableLength(): number { return this.stream.writableLength; }

  /** `headers`: a flat [name, value, …] list or an object; names are lower-cased, repeats become lists. */
  writeHead(status: number, headers?: readonly string[] | OutgoingHttpHeaders): this {
    const stream = this.stream;
    if (this.#closed || stream.destroyed || stream.closed) return this;
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
    // Trailers may come after the body (forwarding relays them): the stream waits for them (sendTrailers).
    stream.respond(out, { endStream: this.#ending, waitForTrailers: true });
    return this;
  }

  #append(out: OutgoingHttpHeaders, rawName: string, value: string | string[] | number | undefined): void {
    const name = rawName.toLowerCase();
    if (value === undefined || value === null) throw new TypeError(`invalid value for header "${name}"`);
    // RFC 9113 8.2.2: no Connection field in HTTP/2; dropped, as the compatibility layer does.
    if (name === 'connection' && value !== 'trailers') return;
    if (!TOKEN_RE.test(name)) {
      this.destroy(new TypeError(`invalid header name "${name}"`));
      return;
    }
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(...([] as string[]).concat(value as string | string[]));
    else out[name] = ([String(prev)] as string[]).concat(value as string | string[]);
  }

  write(chunk: Buffer | string, cb?: (err?: Error | null) => void): boolean {
    if (this.#ending || this.#closed) {
      const err = new Error(this.#ending ? 'write after end' : 'the stream is closed');
      if (cb) process.nextTick(cb, err);
      this.destroy(err);
      return false;
    }
    if (this.#destroyed) return false;
    if (!this.stream.headersSent) this.writeHead(this.statusCode);
    return this.stream.write(chunk, cb);
  }

  end(chunk?: Buffer | string): this {
    if (this.#closed || this.#ending) return this;
    if (chunk !== undefined && chunk !== null) this.write(chunk);
    this.#ending = true;
    const stream = this.stream;
    if (!stream.headersSent) this.writeHead(this.statusCode);
    if (!stream.destroyed && !stream.writableEnded) stream.end();
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
    if (this.stream.headersSent || this.#closed) return false;
    this.stream.additionalHeaders({ ':status': 100 });
    return true;
  }

  /** RFC 8297: 103 Early Hints, with at least one Link. */
  writeEarlyHints(hints: Readonly<Record<string, string | string[]>>): boolean {
    const link = hints.link;
    const value = Array.isArray(link) ? link.join(', ') : link;
    if (!value || this.stream.headersSent || this.#closed) return false;
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
