/**
 * What an upstream is at run time (its peers, the selector that picks, the health observer, the retry budget
 * and the circuit-breaker counters) and how one server's Peer and undici Pool are made. The registry
 * (registry.ts) keeps them; balancing and health come from other capabilities through core/services.ts.
 */
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Pool, type Dispatcher } from 'undici';
import { H1Pool } from './h1/pool.js';
import type { Engine } from '../core/services.js';
import { serverIdOf, serverTransport } from '../core/addresses.js';
import type { RequestCtx } from '../core/context.js';
import { cookieValue } from '../core/headers.js';
import type { Peer, PeerObserver, ProxyMeter, Selector } from '../core/services.js';
import type { RetryBudget } from './retry-budget.js';
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
  /** Where attempts and retries are counted (metrics), when the proxy keeps metrics. */
  readonly meter?: ProxyMeter | undefined;
  /** Lower-cased `host:port` of every server. */
  readonly authorities: ReadonlySet<string>;
  /** Requests in flight to this upstream (max_requests). */
  inflight: number;
  /** Requests waiting for a connection to a server at max_connections (max_pending). */
  pending: number;
  pool(peer: Peer): UpstreamPool;
  /** The TLS options of connections to https:// servers (for connections made outside the pools: WebSockets). */
  tls?(): Record<string, unknown>;
}

/** A server's connections: undici's Pool (engine: node, and HTTP/2) or Gatehouse's own HTTP/1.1 pool (h1/). */
export interface UpstreamPool {
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** What reading an upstream's TLS files needs. */
export interface TlsDeps {
  /** Directory that relative TLS file paths resolve against. */
  baseDir?: string;
  log?: { warn(obj: object, msg: string): void };
}


/** Compiles a hash key spec into a function of the request. */
export function hashKeyOf(spec: string): (ctx: RequestCtx) => string | undefined {
  if (spec === 'client_ip') return (ctx) => ctx.clientIp;
  if (spec === 'path') return (ctx) => ctx.path;
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1).toLowerCase()];
  if (kind === 'header') return (ctx) => ctx.req.header(name);
  return (ctx) => cookieValue(ctx.req.header('cookie'), spec.slice(spec.indexOf(':') + 1));
}

export function tlsOptions(name: string, cfg: UpstreamBaseConfig, deps: TlsDeps): Record<string, unknown> {
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

type ServerEntry = UpstreamBaseConfig['servers'][number];

/** A configured server as `{ url, weight, backup, … }`. */
export function serverSpec(s: ServerEntry): Exclude<ServerEntry, string> {
  return typeof s === 'string' ? { url: s, weight: 1, backup: false } : s;
}


/** The Peer of one server of upstream `cfg`; its id is `host:port`. */
export function createPeer(server: Exclude<ServerEntry, string>, cfg: UpstreamBaseConfig): Peer {
  const { url: u, h2 } = serverTransport(server.url);
  return {
    // tcp:// (layer 4, stream/) has no URL origin of its own ("null"): scheme://host:port, as for http.
    id: serverIdOf(server.url), url: server.url.replace(/\/$/, ''), origin: u.protocol === 'tcp:' ? `tcp://${u.host}` : u.origin, authority: u.host, weight: server.weight, h2: h2 || cfg.h2,
    backup: server.backup, slowStartMs: server.slow_start ?? cfg.slow_start ?? 0,
    maxConnections: server.max_connections ?? cfg.keepalive.max_connections ?? 0,
    inflight: 0, up: true, upSince: 0, ewmaMs: 0,
    // Plain http: any name (undici then skips deriving one from each request's Host; it uses none).
    servername: u.protocol !== 'https:' ? u.hostname : cfg.tls?.server_name ?? (isIP(u.hostname.replace(/^\[|\]$/g, '')) ? undefined : u.hostname),
  };
}

/** The settings of an upstream that a server's connection pool is built from: a change needs a new pool. */
export function poolKey(cfg: UpstreamBaseConfig): string {
  return JSON.stringify([cfg.tls, cfg.h2, cfg.timeouts, cfg.keepalive, cfg.retries > 0]);
}

/** The connection pool of one peer; `tls` from `tlsOptions`. HTTP/2 servers are always undici's. */
export function createPool(peer: Peer, cfg: UpstreamBaseConfig, tls: Record<string, unknown>, engine: Engine = 'node'): UpstreamPool {
  const https = peer.origin.startsWith('https:');
  if (engine === 'native' && !peer.h2) {
    const u = new URL(peer.origin.startsWith('tcp:') ? `http://${peer.authority}` : peer.origin);
    return new H1Pool({
      host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || (https ? 443 : 80),
      tls: https ? { ...tls, ...(peer.servername ? { servername: peer.servername } : {}) } : undefined,
      connectTimeout: cfg.timeouts.connect, headersTimeout: cfg.timeouts.response_headers, bodyTimeout: cfg.timeouts.idle,
      idleTimeout: cfg.keepalive.idle_timeout, maxHeaderSize: 16_384, replayStale: cfg.retries > 0,
    }, peer.maxConnections, peer.authority);
  }
  // A tcp:// server (stream/) is never sent HTTP: its pool stays unused (undici connects lazily), made only so
  // that the registry keeps every server alike.
  return new Pool(peer.origin.startsWith('tcp:') ? `http://${peer.authority}` : peer.origin, {
    connect: { timeout: cfg.timeouts.connect, ...(https ? tls : peer.h2 ? H2C : {}) },
    ...(peer.h2 ? { allowH2: true } : {}),
    headersTimeout: cfg.timeouts.response_headers,
    bodyTimeout: cfg.timeouts.idle,
    keepAliveTimeout: cfg.keepalive.idle_timeout,
    keepAliveMaxTimeout: Math.max(cfg.keepalive.idle_timeout, 1000),
    ...(peer.maxConnections ? { connections: peer.maxConnections } : {}),
  });
}
