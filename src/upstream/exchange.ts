/** What forwarding works with: a route's forwarding settings, and one request's forwarding state across attempts. */
import type { Readable, Transform } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';
import type { PeerChoice, Phases, Reply, ResponseHead } from '../core/plugin.js';
import type { Peer, ResponseTap } from '../core/services.js';
import type { ResponseHeaderOptions } from './headers.js';
import type { MirrorTarget } from './mirror.js';
import type { UpstreamRuntime } from './pool.js';

export interface ForwardRoute {
  readonly upstream: UpstreamRuntime;
  /** Plugins' server choices, asked before sticky sessions and the balancer. */
  readonly peerFilters: readonly Phases['upstreamPeer'][];
  readonly requestFilters: readonly Phases['upstreamRequestFilter'][];
  /** A user plugin with hooks runs (CompiledPhases.userHooks): every field sent upstream is tested. */
  readonly userHooks: boolean;
  readonly responseFilters: readonly Phases['responseFilter'][];
  readonly responseHeaders: ResponseHeaderOptions;
  /** A POST/PATCH with Idempotency-Key may be retried like an idempotent method. */
  readonly retryWithIdempotencyKey: boolean;
  /** Request bodies with a Content-Length up to this are read whole before a server is picked: a retry can
   * replay them, and a slow sender cannot pin an upstream connection. */
  readonly bufferBodyUpTo: number;
  /** Response bytes held for a slow client before the upstream is paused. */
  readonly responseBuffer: number;
  readonly mirror: MirrorTarget | undefined;
  /** Compression (the route's `compress`): a Transform for this response's body, after rewriting its head. */
  readonly encode?: ((ctx: RequestCtx, head: ResponseHead) => Transform | undefined) | undefined;
  /** Answers the client with the proxy's own error page (the kernel's error path). */
  readonly fail: (ctx: RequestCtx, err: ProxyError) => void;
  /** Answers the client with a reply of the proxy's own (through the route's response filters). */
  readonly reply: (ctx: RequestCtx, reply: Reply) => void;
}

/** One request's forwarding state, across attempts. */
export interface Exchange {
  readonly ctx: RequestCtx;
  readonly route: ForwardRoute;
  tried: Set<Peer> | undefined;
  body: Buffer | Readable | null;
  key: string | undefined;
  /** The server the client's sticky cookie names, if any. */
  sticky: Peer | undefined;
  lastError: ProxyError | undefined;
  /** The cache's part in this exchange, if the route caches. */
  tap: ResponseTap | undefined;
  /** A gRPC request (its Content-Type, read once): a deadline, and status fields to carry over as trailers. */
  readonly grpc: boolean;
  expired?: ProxyError; // a gRPC request's deadline passed (grpc.ts): no further attempt
}

const EWMA_ALPHA = 0.3;
export function recordLatency(peer: Peer, ms: number): void {
  peer.ewmaMs = peer.ewmaMs === 0 ? ms : peer.ewmaMs + EWMA_ALPHA * (ms - peer.ewmaMs);
}

/** No response will come: the tap (a stale object) may answer, else the error page. */
export function failed(ex: Exchange, err: ProxyError): void {
  if (ex.tap?.error(err, false)) return;
  ex.route.fail(ex.ctx, err);
}

export function pickPeer(ex: Exchange): Peer | undefined {
  const filters = ex.route.peerFilters;
  if (filters.length) {
    const choice: PeerChoice = { upstream: ex.route.upstream.name, peers: ex.route.upstream.peers, tried: ex.tried };
    for (const f of filters) {
      const p = f(ex.ctx, choice);
      // A choice that is down or already tried is passed over, so failover and retries still work.
      if (p !== undefined && p.up && !ex.tried?.has(p) && choice.peers.includes(p)) return p;
    }
  }
  const s = ex.sticky;
  if (s !== undefined && s.up && !ex.tried?.has(s)) return s;
  return ex.route.upstream.selector.pick(ex.tried, ex.key);
}
