/**
 * Contracts shared between capabilities. A capability provides or consumes these; none imports another.
 */
import type { ConfigLoad, MetricFamily, RecentError, ReloadRecord } from './figures.js';

/** One upstream server as the balancer hands it to the forwarder. Mutable state is kept by its owners:
 * `inflight` and `ewmaMs` by the forwarder, `up` and `upSince` by the health checker; the upstream registry
 * (process lifetime) keeps the object across reloads and sets a new `weight`, `backup` or `slowStartMs` in place. */
export interface Peer {
  /** Stable id, `host:port`; used in logs and the status API, never sent to clients. */
  readonly id: string;
  /** The server URL as configured, e.g. `http://10.0.0.5:8080`. */
  readonly url: string;
  /** `http://host:port` origin of the server (`https:` for TLS, also for an `h2://` URL). */
  readonly origin: string;
  /** Speaks HTTP/2 to it: an `h2c://` or `h2://` URL, or the upstream's `h2`. */
  readonly h2?: boolean;
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

/**
 * Why the proxy refused a request or a connection itself (`gatehouse_rejections_total{reason}`): a closed list,
 * so that the metric's labels stay bounded.
 */
export type RejectReason =
  | 'rate_limited' | 'connection_limit' | 'overloaded' | 'upstream_overflow' | 'body_too_large' | 'headers_too_large'
  | 'uri_too_long' | 'ip_denied' | 'auth_failed' | 'request_rules' | 'client_timeout' | 'bad_request';

/**
 * What the listeners and the forwarder report for metrics, outside a request's `logging` phase (observe/metrics.ts
 * provides it). Every call is cheap, builds no label string and never throws.
 */
export interface ProxyMeter {
  /**
   * One attempt to a server ended. `status`: the response's, or 0 for a failure on the server's side (connect,
   * timeout, reset, a cut body); `seconds`: to the response head, or to the failure.
   */
  attempt(upstream: string, peer: Peer, status: number, seconds: number): void;
  /** A retry sent to another server (`sent`), or one the retry budget refused. */
  retry(upstream: string, sent: boolean): void;
  /** A connection accepted by an HTTP listener. */
  connection(listener: string): void;
  /** A TLS handshake on a listener completed (`ok`) or failed. */
  handshake(ok: boolean): void;
  /** A refusal made outside a request's pipeline (connection filters, node:http's parser and timeouts). */
  rejected(reason: RejectReason): void;
  /** Spans handed to the OTLP receiver (`exported`), dropped from a full queue, or in a batch that failed. */
  spans(result: 'exported' | 'dropped' | 'failed', n: number): void;
}

/** A certificate a TLS listener serves: its host names and when it expires (notAfter, unix seconds). */
export interface CertificateExpiry { names: readonly string[]; notAfter: number }

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
  /** Every upstream and its servers (in a group of workers, every worker's view merged: cluster/). */
  upstreams(): UpstreamInfo[] | Promise<UpstreamInfo[]>;
  routes(): AdminRoute[];
  /** The config in force, its version (a counter, 1 at start), a hash of its content and the last reload. */
  config(): { version: number; hash: string; config: unknown; last_reload?: ReloadRecord };
  /** Re-reads the config file; `plan`: only says what would change. Throws a ConfigError for an invalid file. */
  reload(opts: { plan: boolean }): Promise<ReloadResult>;
  /** Listeners bound and not stopping. */
  ready(): boolean;
  /** The registry, when the proxy has one: server changes answer 501 without it. */
  registry?: AdminRegistry | undefined;
  /** The shared cache, once a config has made it (a route with `cache:`, or `cache:`); undefined without one. */
  cache?(): AdminCache | undefined;
  /** Replaces the worker processes one by one (`POST /api/restart`); undefined in a single process. */
  restart?(): Promise<{ workers: number }>;
  /** `GET /metrics`: the Prometheus text format and its content type (a group of workers: every worker's, merged). */
  metrics?(): Promise<{ contentType: string; text: string }>;
  /** The same figures as JSON, which the dashboard samples (core/figures.ts). */
  metricsJson?(): Promise<readonly MetricFamily[]>;
  /** The last requests answered with a 5xx, newest first (a group of workers: every worker's, merged). */
  recentErrors?(): readonly RecentError[] | Promise<readonly RecentError[]>;
  /** The last config load (the start, or a reload, successful or not), for the dashboard. */
  lastReload?(): ConfigLoad | undefined;
}

/**
 * The registry as the admin API changes it: this process's (`adminRegistry`), or every worker's at once
 * (cluster/primary.ts), hence the promises.
 */
export interface AdminRegistry {
  get(upstream: string): UpstreamInfo | undefined | Promise<UpstreamInfo | undefined>;
  addServer(upstream: string, spec: ServerSpec & { source: ServerSource }): ServerInfo | Promise<ServerInfo>;
  drainServer(upstream: string, id: string): ServerInfo | Promise<ServerInfo>;
  enableServer(upstream: string, id: string): ServerInfo | Promise<ServerInfo>;
  /**
   * Begins removing a server: returns (resolves) once it is draining, throws (rejects) a RegistryError for an
   * unknown one; the server leaves its upstream once idle, which this does not wait for.
   */
  removeServer(upstream: string, id: string): void | Promise<void>;
}

/** This process's registry as the admin API changes it. */
export function adminRegistry(registry: UpstreamRegistry): AdminRegistry {
  return {
    get: (name) => registry.get(name),
    addServer: (name, spec) => registry.addServer(name, spec),
    drainServer: (name, id) => registry.drainServer(name, id),
    enableServer: (name, id) => registry.enableServer(name, id),
    removeServer(name, id) {
      // A refusal (unknown server) is thrown here; the promise is the server's departure, not waited for.
      registry.removeServer(name, id).catch(() => undefined);
    },
  };
}

/** The cache as the admin API sees it: `CacheControl`, or every worker's cache at once (cluster/). */
export interface AdminCache {
  purge(req: CachePurge): number | Promise<number>;
  stats(): CacheStats | Promise<CacheStats>;
}

/** What to purge: exactly one of `url`, `prefix` (of URLs) or `tag` (Surrogate-Key / Cache-Tag). */
export interface CachePurge {
  /** An absolute http(s) URL; host case and port do not matter (`http://Example.com:8080/a` = `http://example.com/a`). */
  url?: string;
  /** Every URL starting with this (normalised as `url`; no path = the whole host). */
  prefix?: string;
  tag?: string;
  /** Mark the objects stale instead of removing them: stale-while-revalidate and stale-if-error may still serve them. */
  soft?: boolean;
}

/**
 * A second, shared tier of the HTTP cache (`cache.redis`): small whole objects kept where every instance and
 * worker finds them, consulted on a local miss. cluster/cache-tier.ts keeps it in Redis; the cache (cache/
 * shared-tier.ts) encodes objects, the tier stores bytes and the indexes purges need. Never throws.
 */
export interface SharedCacheTier {
  /** Objects larger than this (bytes) are not shared. */
  readonly maxObject: number;
  /**
   * The object stored under `key` (`object`), and with `base` the Vary field names last stored for that base key
   * (`vary`), in one round trip; a field is undefined when there is none. Undefined when the tier is down or did
   * not answer in time (the caller goes on without it).
   */
  get(key: string, base?: string): Promise<{ object?: Buffer | undefined; vary?: string[] | undefined } | undefined>;
  /**
   * Stores an object with its indexes, in the background (bounded in time; a failure is only logged); false when
   * it was not sent (Redis away, too many writes waiting, closed).
   */
  put(entry: SharedCacheEntry): boolean;
  /** Deletes what a purge names, in the background (prefixes: a bounded scan). */
  purge(req: CachePurge): void;
  close(): Promise<void>;
}

/** One object for the shared tier: its key, what indexes it, how long to keep it, and its encoded bytes. */
export interface SharedCacheEntry {
  key: string;
  /** Its base key and the Vary field names stored with it (another instance computes the same variant key). */
  base: string;
  vary: readonly string[];
  /** For purges by URL and prefix, and by tag. */
  url: string;
  tags: readonly string[];
  /** Expiry in ms (its indexes are kept at least as long). */
  ttlMs: number;
  object: Buffer;
}

/** A tier of the cache store: body bytes held, its bound, and objects. */
export interface CacheTierStats { bytes: number; max_bytes: number; objects: number }

/** The shared cache's figures since the process started (`GET /api/cache`). */
export interface CacheStats {
  enabled: true;
  /** Objects and body bytes over both tiers. */
  objects: number;
  bytes: number;
  memory: CacheTierStats;
  /** null without a disk tier. */
  disk: CacheTierStats | null;
  /** (hits + stale + revalidated) / lookups that found or missed an object; 0 before the first. */
  hit_ratio: number;
  counters: { hits: number; misses: number; stale: number; revalidated: number; stored: number; bypass: number };
  /** Objects soft-purged and not refreshed yet. */
  soft_purged: number;
  /** Distinct URLs and tags indexed for purging. */
  urls: number;
  tags: number;
  /** Fills running (requests collapsed onto them wait) and background revalidations. */
  inflight_fills: number;
  revalidating: number;
  /** With `cache.redis`: local misses found in the shared tier (`hits`) or not (`misses`), lookups it did not
   * answer in time (`errors`), objects written to it (`stored`). */
  shared?: { hits: number; misses: number; errors: number; stored: number };
}

/** The shared cache as the admin API and the library see it. */
export interface CacheControl {
  /**
   * Removes the objects a purge names (every variant, every route), or with `soft` marks them stale; returns
   * how many. Throws a `PurgeError` when it names none or several of url/prefix/tag, or a URL is not http(s).
   */
  purge(req: CachePurge): number;
  /** Sizes, bounds, objects, hit ratio and counters. */
  stats(): CacheStats;
}

/** A purge request that cannot be carried out as given (the admin API answers 400 with its message). */
export class PurgeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PurgeError';
  }
}

/** The weight a peer has now: its configured weight, ramped up linearly during slow start. */
export function effectiveWeight(peer: Peer, now: number): number {
  if (peer.slowStartMs === 0 || peer.upSince === 0) return peer.weight;
  const f = (now - peer.upSince) / peer.slowStartMs;
  return f >= 1 ? peer.weight : peer.weight * Math.max(0.05, f);
}

/** Where an upstream server came from: the config file, the admin API, DNS (A/AAAA or SRV) or a discovery file (`discovery.file`). */
export type ServerSource = 'file' | 'api' | 'dns' | 'servers_file';

/** A server's health as its monitor keeps it. */
export interface ServerHealth {
  /** Passing active checks (true when there are none). */
  active: boolean;
  /** Ejected by passive checks until this performance.now() time (0: not ejected). */
  ejectedUntil: number;
  ejections: number;
  consecutiveFailures: number;
  lastCheck?: string;
}

/** Watches servers' health (health/ provides it); the registry adds and removes servers live. */
export interface PeerMonitor extends PeerObserver {
  start(): void;
  status(peer: Peer): ServerHealth;
  add(peer: Peer): void;
  remove(peer: Peer): Promise<void>;
  close(): Promise<void>;
}

/** One server as the registry reports it (the admin API's `GET /api/upstreams`). */
export interface ServerInfo {
  /** `host:port`. */
  id: string;
  url: string;
  weight: number;
  backup: boolean;
  /** Taking traffic: passing active checks, not ejected and not draining. */
  up: boolean;
  health: ServerHealth;
  inflight: number;
  /** Latency EWMA of response heads, in ms. */
  latency_ms: number;
  /** Takes no new requests. */
  draining: boolean;
  /** Draining, and its in-flight requests have ended (safe to stop). */
  idle: boolean;
  /** Every source that names it; the first is where it came from first. */
  source: ServerSource;
  sources: ServerSource[];
  /** ms since the epoch when an API-added server with a TTL leaves, unless renewed. */
  expires_at?: number;
  /** Being removed: it drains, then leaves its upstream (a server at the same URL may be added meanwhile). */
  removing?: true;
}

export interface UpstreamInfo { name: string; servers: ServerInfo[] }

/** A server to add: `ttl` in ms (for the API's `"10s"`, the caller parses the duration). */
export interface ServerSpec { url: string; weight?: number; backup?: boolean; ttl?: number }

/** What changed in an upstream's servers. Ids are `host:port`. */
export interface ServerDiff { added: string[]; kept: string[]; drained: string[] }

/**
 * The process-lifetime upstream registry (STYLE.md 9): every server by identity with its pool, health,
 * ejection, latency EWMA and counters. Reloads, the admin API and discovery change it; compiled route
 * tables hold references into it. Errors (unknown upstream or server, bad URL) throw `RegistryError`.
 */
export interface UpstreamRegistry {
  list(): UpstreamInfo[];
  get(upstream: string): UpstreamInfo | undefined;
  /** Adds a server from `source`; when it exists, adds the source, applies a given weight or backup, renews an API TTL. */
  addServer(upstream: string, spec: ServerSpec & { source: ServerSource }): ServerInfo;
  /** Takes no new requests for the server; in-flight ones finish. It stays listed, `draining`. */
  drainServer(upstream: string, id: string): ServerInfo;
  /** Takes a drained server back. */
  enableServer(upstream: string, id: string): ServerInfo;
  /**
   * Drains the server at once (before this returns; an unknown one throws a RegistryError here), then closes
   * its pool and forgets it once its in-flight requests end: the promise resolves then. Calling it again while
   * the server drains returns the same promise.
   */
  removeServer(upstream: string, id: string): Promise<void>;
  /** Replaces the servers one source names for an upstream: new ones added, missing ones drained and removed. */
  setDiscovered(upstream: string, source: ServerSource, servers: readonly ServerSpec[]): ServerDiff;
}

/** A registry call on something that does not exist (`code`: the admin API answers 404) or is invalid (400). */
export class RegistryError extends Error {
  constructor(message: string, readonly code: 'not_found' | 'invalid') {
    super(message);
    this.name = 'RegistryError';
  }
}

/**
 * How a response tap (the cache, cache/) takes part in one forwarded exchange (upstream/forward.ts). The
 * forwarder asks it at each step; a tap never writes to the client while the forwarder does.
 * - `copy`: the client gets the response and the tap gets its body too (a cache fill).
 * - `pass`: the client gets the response; the tap is done (not storable).
 * - `take`: the client does not get it; the tap answers the client itself (a 304 from a revalidation, a 5xx
 *   replaced by a stale object). The forwarder drops the body.
 */
export type TapMode = 'copy' | 'pass' | 'take';

export interface ResponseTap {
  /** Per attempt, after the route's request filters: change what goes upstream (conditional headers). */
  request?(req: { method: string; path: string; headers: string[] }): void;
  /** The final response head, before the route's response filters: may change `headers` (in place). */
  head(status: number, headers: string[]): TapMode;
  /** A body chunk (`copy`); false: pause the upstream until the tap calls the function given to `onDrain`. */
  data(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  /** The body ended whole (`copy`). */
  end(): void;
  /**
   * The exchange failed. Before a head went out (`headSent` false) a tap may answer the client itself (a stale
   * object): true means it did, and the error page is not sent.
   */
  error(err: Error & { status?: number }, headSent: boolean): boolean;
  /** The client went away during `copy`: true keeps the upstream response coming for the tap (others wait on it). */
  keepFilling(): boolean;
}

/** A response fetched upstream for the cache itself (a background revalidation or fill): no client attached. */
export interface FetchedResponse {
  status: number;
  /** As the client would get them (hop-by-hop and hidden fields removed), names lower-case. */
  headers: string[];
  body: import('node:stream').Readable;
}

/** Which HTTP/1.1 engine carries requests (the config's `engine`): node:http + undici, or Gatehouse's own. */
export type Engine = 'node' | 'native';
