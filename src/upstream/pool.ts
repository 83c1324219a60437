/**
 * One runtime per configured upstream: its peers, an undici Pool per peer, the selector that picks, the
 * health observer, the retry budget and the circuit-breaker counters. Balancing and health come from
 * other capabilities through the contracts in core/services.ts, wired by the composition root.
 */
import { Pool } from 'undici';
import type { RequestCtx } from '../core/context.js';
import { cookieValue } from '../core/headers.js';
import type { Peer, PeerObserver, Selector } from '../core/services.js';
import { retryBudget, type RetryBudget } from './retry-budget.js';
import type { UpstreamBaseConfig } from './schema.js';

/** Pins a client to a server with a cookie (balance/ provides it). */
export interface Affinity {
  peerFor(cookieHeader: string | undefined): Peer | undefined;
  setCookie(peer: Peer): string;
}

export interface UpstreamRuntime {
  readonly name: string;
  readonly config: UpstreamBaseConfig;
  readonly peers: readonly Peer[];
  readonly selector: Selector;
  readonly observer: PeerObserver | undefined;
  readonly affinity: Affinity | undefined;
  /** The hash key of a request, for `balance: hash`. */
  readonly hashKey: ((ctx: RequestCtx) => string | undefined) | undefined;
  readonly budget: RetryBudget;
  /** Lower-cased `host:port` of every server. */
  readonly authorities: ReadonlySet<string>;
  /** Requests in flight to this upstream (max_requests). */
  inflight: number;
  /** Requests waiting for a connection to a server at max_connections (max_pending). */
  pending: number;
  pool(peer: Peer): Pool;
  close(): Promise<void>;
}

export interface UpstreamDeps {
  selector(peers: readonly Peer[]): Selector;
  observer?(peers: readonly Peer[]): PeerObserver;
  affinity?(peers: readonly Peer[]): Affinity;
  /** `client_ip`, `path`, `header:NAME` or `cookie:NAME`. */
  hashKey?: string;
}


function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Compiles a hash key spec into a function of the request. */
export function hashKeyOf(spec: string): (ctx: RequestCtx) => string | undefined {
  if (spec === 'client_ip') return (ctx) => ctx.clientIp;
  if (spec === 'path') return (ctx) => ctx.path;
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1).toLowerCase()];
  if (kind === 'header') return (ctx) => headerString(ctx.req.headers[name]);
  return (ctx) => cookieValue(headerString(ctx.req.headers.cookie), spec.slice(spec.indexOf(':') + 1));
}

export function createUpstream(name: string, cfg: UpstreamBaseConfig, deps: UpstreamDeps): UpstreamRuntime {
  const peers: Peer[] = [];
  const pools = new Map<Peer, Pool>();
  cfg.servers.forEach((s, i) => {
    const server = typeof s === 'string' ? { url: s, weight: 1, backup: false } : s;
    const u = new URL(server.url);
    const peer: Peer = {
      id: `${name}[${i}]`, url: server.url.replace(/\/$/, ''), origin: u.origin, authority: u.host, weight: server.weight,
      backup: server.backup, slowStartMs: ('slow_start' in server ? server.slow_start : undefined) ?? cfg.slow_start ?? 0,
      maxConnections: ('max_connections' in server ? server.max_connections : undefined) ?? cfg.keepalive.max_connections ?? 0,
      inflight: 0, up: true, upSince: 0, ewmaMs: 0,
    };
    peers.push(peer);
    const maxConnections = peer.maxConnections;
    pools.set(peer, new Pool(u.origin, {
      connect: { timeout: cfg.timeouts.connect },
      headersTimeout: cfg.timeouts.response_headers,
      bodyTimeout: cfg.timeouts.idle,
      keepAliveTimeout: cfg.keepalive.idle_timeout,
      keepAliveMaxTimeout: Math.max(cfg.keepalive.idle_timeout, 1000),
      ...(maxConnections ? { connections: maxConnections } : {}),
    }));
  });
  const authorities = new Set<string>();
  for (const p of peers) {
    authorities.add(p.authority.toLowerCase());
    // `http://host` without a port is also `host:80`.
    if (!/:\d+$/.test(p.authority)) authorities.add(`${p.authority.toLowerCase()}:80`);
  }
  return {
    name, config: cfg, peers, authorities, inflight: 0, pending: 0,
    selector: deps.selector(peers),
    observer: deps.observer?.(peers),
    affinity: deps.affinity?.(peers),
    hashKey: deps.hashKey !== undefined ? hashKeyOf(deps.hashKey) : undefined,
    budget: retryBudget({ percent: cfg.retry_budget.percent, windowMs: cfg.retry_budget.window, minRetries: cfg.retry_budget.min_retries }),
    pool: (peer) => pools.get(peer)!,
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
    },
  };
}
