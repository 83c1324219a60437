/**
 * Per-request state. Fixed fields for what every request has; typed keys (`stateKey`) for what a plugin adds,
 * so there is no untyped bag.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Peer, RejectReason } from './services.js';

export interface StateKey<T> { readonly name: string; readonly _type?: T }
export function stateKey<T>(name: string): StateKey<T> {
  return { name };
}

/** Set by a plugin that refuses a request with a reply of its own rather than a ProxyError (a forward-auth
 * denial), so that metrics count the refusal (`gatehouse_rejections_total`). */
export const kRejected = stateKey<RejectReason>('gatehouse.rejected');

/** One forwarding attempt, as the access log shows it. */
export interface Attempt { server: string; outcome: string; ms: number }

/** What the kernel read from the request head in one pass over rawHeaders. */
export interface RequestHead {
  hostHeader: string | undefined;
  xff: string | undefined;
  xfProto: string | undefined;
  xfHost: string | undefined;
  via: string | undefined;
  connection: string | undefined;
  requestId: string | undefined;
  /** The request has a body (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  /** Content-Length, or -1. */
  contentLength: number;
  chunked: boolean;
  /** socket.bytesRead when the head was read, to count a chunked body. */
  socketBytesAtStart: number;
  /** Why the head is refused (400), when node:http's parser let it through. */
  violation: string | undefined;
  /** Total length of the Cookie header values (0 when none). */
  cookieLength: number;
}

/**
 * A request that asks to switch to the WebSocket protocol: HTTP/1.1 `Upgrade: websocket` (RFC 6455 4.1), or
 * HTTP/2 extended CONNECT with `:protocol websocket` (RFC 8441 4). The kernel sets it; a route's tunnel uses it.
 */
export interface Upgrade {
  /** HTTP/1.1: the client's socket, detached from node:http's parser. Undefined on HTTP/2 (the stream is req/res). */
  readonly socket: import('node:stream').Duplex | undefined;
  /** Bytes the client sent past the request head (HTTP/1.1). */
  readonly head: Buffer;
  /** Set while the drain, reload or shutdown asks open tunnels to close (a grace period in ms). */
  goingAway: number | undefined;
  /** Set by the tunnel once open: closes it cleanly (RFC 6455 Close 1001) after `graceMs`. */
  onGoAway: ((graceMs: number) => void) | undefined;
}

/** The route as the pipeline sees it; `id` is its name or `routes[i]`. */
export interface RouteRef { readonly id: string; readonly index: number }

export class RequestCtx {
  /** performance.now() at arrival. */
  readonly start: number;
  requestId = '';
  /** Client address: the socket peer, or from X-Forwarded-For when the peer is a trusted proxy. */
  clientIp = '';
  /** The socket peer is in trusted_proxies. */
  trustedPeer = false;
  readonly proto: 'http' | 'https';
  /** Host without port, lower-cased ('' when absent). */
  host = '';
  /** Path without the query string, as received. */
  path: string;
  /** Query string including its '?', or ''. */
  query: string;
  route: RouteRef | undefined = undefined;
  head!: RequestHead;
  /** The request body as it should be sent upstream, when a filter wraps it (limits); else req itself. */
  body: import('node:stream').Readable | undefined = undefined;
  /** Aborts the upstream exchange in flight (set by the forwarder while one is). */
  abortUpstream: { abort(): void } | undefined = undefined;
  /** The request asks for a WebSocket (set by the kernel before routing); undefined for plain requests. */
  upgrade: Upgrade | undefined = undefined;
  /** The client sent `Expect: 100-continue` and has not been told to go on yet: whoever reads the body first
   * sends `100 Continue` (RFC 9110 10.1.1), so a request refused before that never uploads its body. */
  expectContinue = false;
  /** The response head has been sent to the client. */
  get headersSent(): boolean { return this.res.headersSent; }
  /**
   * The client went away before the response was complete: it closed its connection (HTTP/1.1), reset its
   * stream or lost its connection (HTTP/2). Never the server's fault, whatever error the upstream side sees.
   */
  get clientGone(): boolean {
    const res = this.res as ServerResponse & { stream?: { closed: boolean; destroyed: boolean } };
    const stream = res.stream;
    // HTTP/2: the stream closed before the response was ended (Http2ServerResponse has no `destroyed`, and
    // after a reset its `writableFinished` turns true: Node ends the stream's writable side itself).
    if (stream !== undefined) return (stream.closed || stream.destroyed) && !res.writableEnded;
    // HTTP/1.1: the connection closed (in the request body, or before the response went out whole); node:http
    // marks every response destroyed once it closes, finished or not.
    return (res.destroyed || (this.req.destroyed && !this.req.complete)) && !res.writableFinished;
  }
  /** Path (with query) to send upstream; rewrite filters change it. */
  upstreamPath: string;
  peer: Peer | undefined = undefined;
  upstreamName: string | undefined = undefined;
  upstreamStart = 0;
  upstreamMs = -1;
  attempts: Attempt[] | undefined = undefined;
  status = 0;
  /** The error that ended the request, if one did. */
  error: import('./errors.js').ProxyError | undefined = undefined;
  bytesIn = 0;
  bytesOut = 0;
  #state: Map<string, unknown> | undefined;
  #log: Logger | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly listener: string,
    private readonly baseLog: Logger,
    secure: boolean,
  ) {
    this.start = performance.now();
    this.proto = secure ? 'https' : 'http';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.query = q === -1 ? '' : url.slice(q);
    this.upstreamPath = url;
  }

  /** Replaces the request target (origin-form `/path?query`). */
  setTarget(url: string): void {
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.query = q === -1 ? '' : url.slice(q);
    this.upstreamPath = url;
  }

  get<T>(key: StateKey<T>): T | undefined {
    return this.#state?.get(key.name) as T | undefined;
  }

  set<T>(key: StateKey<T>, value: T): void {
    (this.#state ??= new Map()).set(key.name, value);
  }

  /** A pino child logger carrying the request id and route (created on first use). */
  get log(): Logger {
    return (this.#log ??= this.baseLog.child({ reqId: this.requestId, route: this.route?.id }));
  }
}
