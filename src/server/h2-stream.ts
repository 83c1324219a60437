/**
 * HTTP/2 streams served on node:http2's core API ('stream' events) as the pipeline's DownstreamRequest and
 * DownstreamResponse (h2-response.ts), instead of node:http2's compatibility layer and its Http2ServerRequest
 * and Http2ServerResponse per stream. Every stream takes this path: requests with a body (read from the
 * stream through H2Body), `Expect: 100-continue` (RFC 9110 10.1.1) and CONNECT (RFC 9113 8.5; RFC 8441's
 * extended CONNECT opens a WebSocket on the stream).
 */
import type { Http2Server, Http2SecureServer, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { DownstreamRequest } from '../core/downstream.js';
import { H2Response } from './h2-response.js';

/** The error a body ends with when its stream closes before its end (as node:http's `aborted` reset). */
function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/**
 * A request body: the stream's DATA as a Readable of its own, so that whoever reads it (undici, a limit) may
 * destroy it without resetting the stream, whose response still goes out. The stream is read only once this
 * is (node:http2 closes a stream whose request nobody read when its response ends).
 */
class H2Body extends Readable {
  /** DATA bytes received. */
  bytes = 0;
  #reading = false;
  /** The stream's body ended (its last bytes may still be buffered here). */
  #ended = false;
  readonly #onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    if (!this.push(chunk)) this.stream.pause();
  };

  constructor(private readonly stream: ServerHttp2Stream) {
    super();
    if (stream.endAfterHeaders) {
      this.push(null);
      return;
    }
    stream.once('end', () => {
      this.#ended = true;
      this.push(null);
    });
    stream.once('close', () => {
      if (this.#ended || this.destroyed) return;
      // A reset (RST_STREAM) or a lost connection part way through the body.
      this.emit('aborted');
      this.destroy(abortedError());
    });
  }

  override _read(): void {
    if (this.#reading) {
      this.stream.resume();
      return;
    }
    this.#reading = true;
    this.stream.on('data', this.#onData);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stream.off('data', this.#onData);
    // What is left of the body is read and dropped, so the client's flow-control window stays open.
    if (!this.stream.destroyed) this.stream.resume();
    // Nobody listening for errors (the body was left unread): no uncaught error, as node:http's request.
    cb(this.listenerCount('error') > 0 ? err : null);
  }
}

export class H2Request implements DownstreamRequest {
  readonly httpVersion = '2';
  /** nghttp2's checks of field values are not the same as HTTP/1.1's: the upstream client makes its own. */
  readonly fieldsChecked = false;
  #body: H2Body | undefined;

  constructor(readonly stream: ServerHttp2Stream, readonly headers: IncomingHttpHeaders, readonly rawHeaders: string[], readonly socket: Socket) {}

  get method(): string { return this.headers[':method'] as string; }
  /** CONNECT has no `:path` (RFC 9113 8.5) but for RFC 8441's extended CONNECT. */
  get target(): string { return (this.headers[':path'] as string | undefined) ?? ''; }
  get remoteAddress(): string | undefined { return this.socket.remoteAddress; }
  get localPort(): number | undefined { return this.socket.localPort; }
  get body(): Readable { return (this.#body ??= new H2Body(this.stream)); }
  get complete(): boolean { return this.stream.endAfterHeaders || this.#body?.readableEnded === true; }
  get bodyBytes(): number { return this.#body?.bytes ?? 0; }

  header(name: string): string | undefined {
    const v = this.headers[name];
    return v === undefined || typeof v === 'string' ? v : v.join(', ');
  }

  peerCertificate(): PeerCertificate | undefined {
    const sock = this.socket as TLSSocket;
    if (!sock.encrypted || !sock.authorized) return undefined;
    const cert = sock.getPeerCertificate();
    return cert?.subject ? cert : undefined;
  }
}

/** What the listener does with each kind of stream (handler.ts, upgrade.ts). */
export interface StreamHandlers {
  request(req: H2Request, res: H2Response): void;
  /** `Expect: 100-continue`: served as any request, `100 Continue` sent when the body is wanted. */
  checkContinue(req: H2Request, res: H2Response): void;
  connect(req: H2Request, res: H2Response): void;
}

/**
 * Serves `server`'s HTTP/2 streams: removes the 'stream' listener of the compatibility layer, which
 * `server.on('request')` installs (that listener serves the HTTP/1.1 connections of a TLS listener), so call
 * this after it.
 */
export function serveStreams(server: Http2Server | Http2SecureServer, handlers: StreamHandlers): void {
  for (const f of server.listeners('stream')) server.removeListener('stream', f as () => void);
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const session = stream.session;
    if (session === undefined) return; // closed already
    const req = new H2Request(stream, headers, raw, session.socket as Socket);
    const res = new H2Response(stream);
    if (headers[':method'] === 'CONNECT') return handlers.connect(req, res);
    const expect = headers.expect;
    if (expect === undefined) return handlers.request(req, res);
    if (expect.toLowerCase() === '100-continue') return handlers.checkContinue(req, res);
    // RFC 9110 10.1.1: an expectation the server cannot meet is a 417.
    res.writeHead(417, ['content-length', '0']);
    res.end();
  });
}
