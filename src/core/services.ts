/**
 * Contracts shared between capabilities. A capability provides or consumes these; none imports another.
 */

/** One upstream server as the balancer hands it to the forwarder. Mutable state is kept by its owners:
 * `inflight` and `ewmaMs` by the forwarder, `up` and `upSince` by the health checker. */
export interface Peer {
  /** Stable id, e.g. `app[0]`; used in logs and the status API, never sent to clients. */
  readonly id: string;
  /** The server URL as configured, e.g. `http://10.0.0.5:8080`. */
  readonly url: string;
  /** `http://host:port` origin of the server. */
  readonly origin: string;
  /** `host:port`; used to recognise backend addresses in Location headers. */
  readonly authority: string;
  readonly weight: number;
  /** Used only when no primary server is up. */
  readonly backup: boolean;
  /** Ramp-up time after the server comes back (0: none). */
  readonly slowStartMs: number;
  /** The name sent as SNI and checked against an https server's certificate: the upstream's `tls.server_name`,
   * else the URL's host name (unset for an IP address). Never the client's Host. Unused for plain http. */
  readonly servername?: string | undefined;
  /** Most connections to this server (0: unlimited); requests beyond wait in its queue. */
  readonly maxConnections: number;
  /** Requests in flight to this peer. */
  inflight: number;
  /** Eligible for traffic: passing health checks and not ejected. */
  up: boolean;
  /** performance.now() when it last came up (for slow start); 0 when it was up from the start. */
  upSince: number;
  /** Exponentially weighted moving average of response-head latency, in ms (0 until measured). */
  ewmaMs: number;
}

/** Picks a peer for one attempt. `exclude` lists peers already tried; `key` is the hash key, when one applies. */
export interface Selector {
  pick(exclude?: ReadonlySet<Peer>, key?: string): Peer | undefined;
  readonly peers: readonly Peer[];
}

/** What an attempt came to, as passive health checking sees it. */
export type AttemptOutcome = 'ok' | 'failure';

/** Receives the outcome of every attempt (passive health checking provides one). */
export interface PeerObserver {
  observe(peer: Peer, outcome: AttemptOutcome): void;
}

/** The weight a peer has now: its configured weight, ramped up linearly during slow start. */
export function effectiveWeight(peer: Peer, now: number): number {
  if (peer.slowStartMs === 0 || peer.upSince === 0) return peer.weight;
  const f = (now - peer.upSince) / peer.slowStartMs;
  return f >= 1 ? peer.weight : peer.weight * Math.max(0.05, f);
}

/** Where an upstream server came from: the config file, the admin API, or DNS discovery. */
export type ServerSource = 'file' | 'api' | 'dns';

/** One server of an upstream as the process-level registry reports it. */
export interface RegistryServer {
  /** `host:port` of the server: its identity within the upstream. */
  id: string;
  url: string;
  weight: number;
  backup: boolean;
  /** `up` (taking traffic), `down` (failing active checks) or `ejected` (by passive checks). */
  health: 'up' | 'down' | 'ejected';
  inflight: number;
  /** Latency EWMA of response heads, in ms (0 until measured). */
  latency_ms: number;
  /** Taking no new requests; in-flight ones finish. */
  draining: boolean;
  source: ServerSource;
}

/** One upstream and its servers. */
export interface RegistryUpstream { name: string; servers: RegistryServer[] }

/**
 * The process-level upstream registry (STYLE.md 9): servers by identity, outliving config generations. The
 * admin API and discovery change it; callers check that the upstream and server exist (via `list`) first.
 */
export interface UpstreamRegistry {
  list(): RegistryUpstream[];
  /** Adds a server (or renews its TTL when it is there already with a TTL); `ttl` in ms. */
  addServer(upstream: string, server: { url: string; weight?: number; ttl?: number; source: ServerSource }): Awaitable<RegistryServer>;
  drainServer(upstream: string, id: string): Awaitable<RegistryServer>;
  enableServer(upstream: string, id: string): Awaitable<RegistryServer>;
  /** Drains the server, then removes it. */
  removeServer(upstream: string, id: string): Awaitable<void>;
}

type Awaitable<T> = T | Promise<T>;

/** A route as the admin API lists it. */
export interface AdminRoute { id: string; index: number; match: unknown; action: 'proxy' | 'respond' | 'redirect' | 'none'; upstream?: string }

/** What a reload would change (or changed): by name, routes by id. */
export interface ReloadPlan {
  routes: { added: string[]; changed: string[]; removed: string[] };
  upstreams: { added: string[]; changed: string[]; removed: string[] };
  /** Servers that would leave their upstream (drained first), with their requests in flight now. */
  drained: { upstream: string; id: string; inflight: number }[];
  /** Servers that would join an upstream. */
  added_servers: { upstream: string; id: string }[];
}

/** The outcome of `AdminTarget.reload`: the plan, whether it was applied, and the version then in force. */
export interface ReloadResult { applied: boolean; plan: ReloadPlan; version: number }

/**
 * What the admin API (admin/) sees of a running proxy. The composition root provides it; the admin server
 * has the process's lifetime, not a config generation's.
 */
export interface AdminTarget {
  upstreams(): RegistryUpstream[];
  routes(): AdminRoute[];
  /** The config in force, its version (a counter, 1 at start) and a hash of its content. */
  config(): { version: number; hash: string; config: unknown };
  /** Re-reads the config file; `plan`: only says what would change. Throws a ConfigError for an invalid file. */
  reload(opts: { plan: boolean }): Promise<ReloadResult>;
  /** Listeners bound and not stopping. */
  ready(): boolean;
  /** The registry, when the proxy has one: server changes answer 501 without it. */
  registry?: UpstreamRegistry | undefined;
}
