/**
 * Per-request state. Fixed fields for what every request has; typed keys (`stateKey`) for what a plugin adds,
 * so there is no untyped bag.
 */
import type { Logger } from 'pino';
import type { DownstreamRequest, DownstreamResponse, Upgrade } from './downstream.js';
import type { Peer, RejectReason } from './services.js';
import { now } from './clock.js';
import { indexOf, slice } from './strings.js';

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
  /** The request has a body (Content-Length > 0, Transfer-Encoding, or HTTP/2 DATA frames to come). */
  hasBody: boolean;
  /** Content-Length, or -1. */
  contentLength: number;
  chunked: boolean;
  /** Why the head is refused (400), when the engine's parser let it through. */
  violation: string | undefined;
  /** Total length of the Cookie header values (0 when none). */
  cookieLength: number;
}

/** The route as the pipeline sees it; `id` is its name or `routes[i]`. */
export interface RouteRef { readonly id: string; readonly index: number }

export class RequestCtx {
  /** performance.now() at arrival. */
  readonly start: number;
  /** performance.now() when the exchange closed (the response sent, or the client gone): set before the
   * logging phase, 0 until then. */
  end = 0;
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
  /** The request body as it should be sent upstream, when a filter wraps it (limits); else `req.body`. */
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
  get clientGone(): boolean { return this.res.gone; }
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
    /** The client's request: method, target, fields (`header(name)`), body. */
    readonly req: DownstreamRequest,
    /** Where the response goes (the kernel writes it; plugins answer with a `Reply`). */
    readonly res: DownstreamResponse,
    readonly listener: string,
    private readonly baseLog: Logger,
    secure: boolean,
  ) {
    this.start = now();
    this.proto = secure ? 'https' : 'http';
    const url = req.target;
    const q = indexOf(url, '?');
    this.path = q === -1 ? url : slice(url, 0, q);
    this.query = q === -1 ? '' : slice(url, q);
    this.upstreamPath = url;
  }

  /** Replaces the request target (origin-form `/path?query`). */
  setTarget(url: string): void {
    const q = indexOf(url, '?');
    this.path = q === -1 ? url : slice(url, 0, q);
    this.query = q === -1 ? '' : slice(url, q);
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
