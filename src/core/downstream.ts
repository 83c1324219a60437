/**
 * The client's side of an exchange (downstream), as the pipeline sees it whatever engine serves it: node:http,
 * node:http2, or Gatehouse's own HTTP/1.1 listener (#16). Plugins and capabilities read the request and write
 * the response only through these two interfaces; the adapters in server/ hold the engine's own objects.
 */
import type { Duplex, Readable } from 'node:stream';
import type { PeerCertificate } from 'node:tls';

/** The request's protocol version: HTTP/1.0, HTTP/1.1 or HTTP/2. */
export type HttpVersion = '1.0' | '1.1' | '2';

/** The request as the client sent it. */
export interface DownstreamRequest {
  /** As received, e.g. `GET` (HTTP/2: `:method`). */
  readonly method: string;
  /** The request target as received: `/path?query` (HTTP/2: `:path`); absolute-form and `*` as sent (RFC 9112 3.2). */
  readonly target: string;
  /** An HTTP/1 request that claims another version is refused (400) before the phases run. */
  readonly httpVersion: HttpVersion;
  /**
   * The fields as received, a flat `[name, value, name, value, …]` list: names in the client's case over
   * HTTP/1.1, lower-case over HTTP/2 (pseudo-headers `:method`, `:path`, `:authority`… included).
   */
  readonly rawHeaders: readonly string[];
  /**
   * Every field in `rawHeaders` passed an HTTP/1.1 parser's checks (a token for a name; no control character but
   * HTAB in a value: RFC 9110 5.1, 5.5), so the upstream client does not test them again. false over HTTP/2.
   */
  readonly fieldsChecked: boolean;
  /**
   * The field `name` (lower-case): repeats joined with `, ` (Cookie with `; `), the first of a field that takes
   * one value (Host, Authorization, Content-Type…); undefined when absent.
   */
  header(name: string): string | undefined;
  /** The connection's peer, as the socket reports it (an IPv4-mapped IPv6 address as is); see `ctx.clientIp`. */
  readonly remoteAddress: string | undefined;
  /** The local port the connection came in on. */
  readonly localPort: number | undefined;
  /**
   * The request body. It ends with the body (at once when there is none) and is destroyed with an error (after
   * an 'aborted' event) when the client leaves part way. Read it at most once; forwarding reads it.
   */
  readonly body: Readable;
  /** The whole body has been received (true from the start when there is none). */
  readonly complete: boolean;
  /** Body bytes received so far: HTTP/2 DATA; on HTTP/1.1 what node:http's connection read since the head (a
   * chunked body with its framing), on the native engine the body itself (llhttp takes the framing off). */
  readonly bodyBytes: number;
  /** The client certificate this connection's TLS handshake verified (mutual TLS); undefined when none was. */
  peerCertificate(): PeerCertificate | undefined;
}

/**
 * Where the response goes. Headers are flat `[name, value, …]` lists, as everywhere in the pipeline. Plugins
 * do not write here: they answer with a `Reply`, which the kernel writes.
 */
export interface DownstreamResponse {
  /** writeHead was called: the head is out, or goes out with the first write. */
  readonly headersSent: boolean;
  /** The status of the head written (200 before one is). */
  readonly statusCode: number;
  /** false: the connection closes after this response (HTTP/1.1 `Connection: close`); HTTP/2 streams end on their own. */
  shouldKeepAlive: boolean;
  /**
   * Writes the head; throws on a field the engine refuses (then nothing was sent). `checked`: how many items at
   * the start of `headers` are known to be valid fields (a token name in lower case, a value without a control
   * character but HTAB: what the native engine's parser lets through), which an engine need not check again nor
   * lower-case; 0 by default.
   */
  writeHead(status: number, headers: string[], checked?: number): void;
  /** Sends the head now rather than with the first body bytes (a tunnel's bytes follow on the stream, HTTP/2). */
  flushHeaders(): void;
  /**
   * An interim response (RFC 9110 15.2): 102 Processing, or 103 Early Hints with at least one Link. false when
   * it was not sent (not supported here, no Link, or the head is out).
   */
  writeInformational(status: number, headers: readonly string[]): boolean;
  /** `100 Continue` (RFC 9110 10.1.1): the client may send its body now. */
  writeContinue(): void;
  /** false: buffered past the high-water mark; a 'drain' event follows. */
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): void;
  /** Trailer fields sent after the body (RFC 9110 6.5): chunked HTTP/1.1, HTTP/2 trailers. Call before end(). */
  addTrailers(fields: readonly string[]): void;
  /** Bytes written and not yet handed to the connection. */
  readonly writableLength: number;
  /** end() was called. */
  readonly writableEnded: boolean;
  /** The whole response was handed to the connection. */
  readonly writableFinished: boolean;
  /**
   * The client went away before the response was complete: it closed its connection (HTTP/1.1), reset its
   * stream or lost its connection (HTTP/2). Never the server's fault, whatever error the upstream side sees.
   */
  readonly gone: boolean;
  /**
   * Abandons the response: closes the connection (HTTP/1.1) or resets the stream with INTERNAL_ERROR (HTTP/2),
   * so that what went out never reads as a complete response (RFC 9112 8, RFC 9113 8.1).
   */
  destroy(err?: Error): void;
  /**
   * 'drain': written bytes went out after write() returned false. 'close': the exchange is over, the response
   * sent in full or the client gone; exactly once. Listeners are called with `this` set to the response.
   */
  on(event: 'drain' | 'close', listener: (this: DownstreamResponse) => void): unknown;
}

/**
 * A request that asks to switch to the WebSocket protocol: HTTP/1.1 `Upgrade: websocket` (RFC 6455 4.1), or
 * HTTP/2 extended CONNECT with `:protocol websocket` (RFC 8441 4). The kernel sets it; a route's tunnel uses it.
 */
export interface Upgrade {
  /**
   * The tunnel's bytes, both ways, once the response head is out: the client's socket, detached from the HTTP
   * parser (HTTP/1.1), or the request's stream, whose DATA frames carry them (HTTP/2).
   */
  readonly socket: Duplex;
  /** Bytes the client sent past the request head (HTTP/1.1). */
  readonly head: Buffer;
  /** Set while the drain, reload or shutdown asks open tunnels to close (a grace period in ms). */
  goingAway: number | undefined;
  /** Set by the tunnel once open: closes it cleanly (RFC 6455 Close 1001) after `graceMs`. */
  onGoAway: ((graceMs: number) => void) | undefined;
}

/** A flat `[name, value, …]` list as an object, names lower-cased, repeats as lists (what node's APIs take). */
export function fieldObject(list: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    const prev = out[name];
    out[name] = prev === undefined ? list[i + 1]! : Array.isArray(prev) ? [...prev, list[i + 1]!] : [prev, list[i + 1]!];
  }
  return out;
}
