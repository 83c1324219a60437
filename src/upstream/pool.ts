/**
 * One runtime per configured upstream: its peers, an undici Pool per peer, the selector that picks, the
 * health observer, the retry budget and the circuit-breaker counters. Balancing and health come from
 * other capabilities through the contracts in core/services.ts, wired by the composition root.
 */
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
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
  /** Directory that relative TLS file paths resolve against. */
  baseDir?: string;
  log?: { warn(obj: object, msg: string): void };
  selector(peers: readonly Peer[]): Selector;
  /**
   * `connect` holds the TLS options for https:// servers, for health probes to use the same trust, and
   * `allowH2: true` when the upstream speaks HTTP/2 (probes then do too).
   */
  observer?(peers: readonly Peer[], connect: Record<string, unknown>): PeerObserver;
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

function tlsOptions(name: string, cfg: UpstreamBaseConfig, deps: UpstreamDeps): Record<string, unknown> {
  const t = cfg.tls;
  if (!t) return {};
  const file = (p: string): string => readFileSync(isAbsolute(p) ? p : resolve(deps.baseDir ?? '.', p), 'utf8');
  if (t.insecure_skip_verify) deps.log?.warn({ upstream: name }, 'upstream TLS certificates are NOT verified (insecure_skip_verify)');
  return {
    rejectUnauthorized: !t.insecure_skip_verify,
    ...(t.ca ? { ca: file(t.ca) } : {}),
    ...(t.server_name ? { servername: t.server_name } : {}),
    ...(t.cert ? { cert: file(t.cert) } : {}),
    ...(t.key ? { key: file(t.key) } : {}),
  };
}

/**
 * HTTP/2 to an http:// server: cleartext with prior knowledge (RFC 9113 3.3), as gRPC servers speak it.
 * undici 7 supports it on its Client (`useH2c`, what its H2CClient sets) without listing it in its types.
 */
const H2C = { useH2c: true } as Record<string, unknown>;

export function createUpstream(name: string, cfg: UpstreamBaseConfig, deps: UpstreamDeps): UpstreamRuntime {
  const peers: Peer[] = [];
  const tls = tlsOptions(name, cfg, deps);
  const pools = new Map<Peer, Pool>();
  cfg.servers.forEach((s, i) => {
    const server = typeof s === 'string' ? { url: s, weight: 1, backup: false } : s;
    const u = new URL(server.url);
    const peer: Peer = {
      id: `${name}[${i}]`, url: server.url.replace(/\/$/, ''), origin: u.origin, authority: u.host, weight: server.weight,
      backup: server.backup, slowStartMs: ('slow_start' in server ? server.slow_start : undefined) ?? cfg.slow_start ?? 0,
      maxConnections: ('max_connections' in server ? server.max_connections : undefined) ?? cfg.keepalive.max_connections ?? 0,
      inflight: 0, up: true, upSince: 0, ewmaMs: 0,
      // Plain http: any name (undici then skips deriving one from each request's Host; it uses none).
      servername: u.protocol !== 'https:' ? u.hostname : cfg.tls?.server_name ?? (isIP(u.hostname.replace(/^\[|\]$/g, '')) ? undefined : u.hostname),
    };
    peers.push(peer);
    const maxConnections = peer.maxConnections;
    pools.set(peer, new Pool(u.origin, {
      connect: { timeout: cfg.timeouts.connect, ...(u.protocol === 'https:' ? tls : cfg.h2 ? H2C : {}) },
      ...(cfg.h2 ? { allowH2: true } : {}),
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
    // Health probes speak the servers' protocol: an h2-only server (gRPC) refuses HTTP/1.1.
    observer: deps.observer?.(peers, cfg.h2 ? { ...tls, allowH2: true } : tls),
    affinity: deps.affinity?.(peers),
    hashKey: deps.hashKey !== undefined ? hashKeyOf(deps.hashKey) : undefined,
    budget: retryBudget({ percent: cfg.retry_budget.percent, windowMs: cfg.retry_budget.window, minRetries: cfg.retry_budget.min_retries }),
    pool: (peer) => pools.get(peer)!,
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
    },
  };
}
