/**
 * A request as the native HTTP/1.1 engine hands it over: what llhttp parsed, as strings made once from the
 * bytes, and the body as a Readable made only when someone asks for it (most requests have none).
 * The pipeline reads it as a `DownstreamRequest` (core/downstream.ts).
 */
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { DownstreamRequest } from '../../core/downstream.js';
import { toLowerCase } from '../../core/strings.js';

/** The connection's side of a body: read more (the consumer caught up), or the consumer threw it away. */
export interface BodySource {
  bodyWanted(req: H1Request): void;
  bodyDestroyed(req: H1Request): void;
  /** The client's address, read from the socket once per connection. */
  readonly remoteAddress: string | undefined;
}

/** A request body, fed with views of the socket's chunks (copies of a shared-buffer read); backpressure pauses the socket. */
class RequestBody extends Readable {
  constructor(private readonly req: H1Request, private readonly source: BodySource) {
    super();
  }

  override _read(): void {
    this.source.bodyWanted(this.req);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.source.bodyDestroyed(this.req);
    // As node:http's IncomingMessage: an error reaches only those who listen for one.
    cb(err !== null && this.listenerCount('error') > 0 ? err : null);
  }
}

/** Fields whose repeats node:http drops (the first one counts); `header()` returns the first of them too. */
const SINGLE = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

export class H1Request implements DownstreamRequest {
  /** The field list as received: `[name, value, …]`, names in the client's case, values without trailing OWS. */
  readonly rawHeaders: string[];
  /** Trailer fields of a chunked body (RFC 9112 7.1.2), once it is complete. */
  rawTrailers: readonly string[] = [];
  /** The whole body arrived (true at once when there is none). */
  complete = false;
  /** HTTP/1.1 `Expect: 100-continue` (RFC 9110 10.1.1): the consumer sends 100 Continue when it wants the body. */
  expectContinue = false;
  /** Body bytes received (the payload, without chunk framing). */
  bodyBytes = 0;
  /** Content-Length > 0 or Transfer-Encoding: there is a body to read. */
  hasBody = false;
  /** The response was ended before the body arrived: what is left of it is read and dropped (node's _dump). */
  discarding = false;
  /** The request switches protocols (Upgrade without a body, or CONNECT): it goes to the upgrade handler. */
  upgrade = false;
  /** llhttp's verdict (RFC 9112 9.3): the connection may serve another request after this one. @internal */
  keepAlive = true;
  /** The request has a Host field. @internal */
  hasHost = false;
  /** Its Expect field. @internal */
  expect: string | undefined = undefined;
  #body: RequestBody | undefined;
  /** The connection closed part way through the body. */
  #aborted = false;

  constructor(
    readonly method: string,
    /** The request target as received (RFC 9112 3.2). */
    readonly target: string,
    readonly httpVersionMinor: number,
    rawHeaders: string[],
    readonly socket: Socket,
    private readonly source: BodySource,
  ) {
    this.rawHeaders = rawHeaders;
  }

  get httpVersion(): '1.0' | '1.1' { return this.httpVersionMinor === 0 ? '1.0' : '1.1'; }
  /** llhttp and h1-fast.ts refuse a request with a field these checks would refuse. */
  get fieldsChecked(): boolean { return true; }
  get remoteAddress(): string | undefined { return this.source.remoteAddress; }
  get localPort(): number | undefined { return this.socket.localPort; }
  get encrypted(): boolean { return (this.socket as Partial<TLSSocket>).encrypted === true; }

  /** The client certificate the TLS handshake verified (mutual TLS); undefined when none was. */
  peerCertificate(): PeerCertificate | undefined {
    const tls = this.socket as Partial<TLSSocket>;
    if (tls.encrypted !== true || tls.authorized !== true) return undefined;
    const cert = tls.getPeerCertificate!();
    return cert?.subject ? cert : undefined;
  }

  /** The field `name` (lower-case): repeats joined with `, ` (Cookie with `; `), the first of a single field. */
  header(name: string): string | undefined {
    const raw = this.rawHeaders;
    const n = name.length;
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const f = raw[i]!;
      if (f.length !== n || (f !== name && toLowerCase(f) !== name)) continue;
      if (value === undefined) value = raw[i + 1]!;
      else if (SINGLE.has(name)) break;
      else value += (name === 'cookie' ? '; ' : ', ') + raw[i + 1]!;
    }
    return value;
  }

  /** The body: ends with it (at once when there is none); destroyed after an 'aborted' event if the client leaves part way. */
  get body(): Readable {
    let body = this.#body;
    if (body !== undefined) return body;
    body = this.#body = new RequestBody(this, this.source);
    if (this.#aborted) abort(body);
    else if (this.complete || !this.hasBody) body.push(null);
    return body;
  }

  /** Whether the body exists yet (to feed it without making one for nothing). @internal */
  get bodyMade(): boolean { return this.#body !== undefined; }

  /** A view of the socket's chunk: false when the consumer is behind (pause the socket). @internal */
  pushBody(chunk: Buffer): boolean {
    this.bodyBytes += chunk.length;
    return (this.#body ?? this.body).push(chunk);
  }

  /** The body is complete (trailers, if any, are in rawTrailers). @internal */
  endBody(): void {
    this.complete = true;
    const body = this.#body;
    if (body !== undefined && !body.destroyed) body.push(null);
  }

  /** The connection closed before the body was complete. @internal */
  abort(): void {
    if (this.complete || this.#aborted) return;
    this.#aborted = true;
    if (this.#body !== undefined) abort(this.#body);
  }

  /** The response ended first: the rest of the body is read and dropped, its reader told so. @internal */
  discard(): void {
    this.discarding = true;
    const body = this.#body;
    if (body !== undefined && !body.destroyed && !this.complete) body.destroy(new Error('the response ended before the request body'));
  }
}

function abort(body: Readable): void {
  if (body.destroyed) return;
  body.emit('aborted');
  body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
}
