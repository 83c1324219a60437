/**
 * The upstream registry: process lifetime (STYLE.md 9). It holds every upstream server by identity (upstream
 * name + URL + the settings its pool is built from) with its undici pool, health and ejection state, latency
 * EWMA and in-flight counter, and one stable `UpstreamRuntime` per upstream that compiled routes refer to.
 *
 * A reload applies the config's upstreams as a diff (`apply`):
 * - a server whose URL, pool settings (tls, h2, timeouts, keepalive, its max_connections) are unchanged is
 *   kept: same pool, same health and ejection, same EWMA; weight, backup and slow_start change in place;
 * - a server with a changed pool setting is replaced: the old one drains, a new one takes the traffic;
 * - new servers are added; servers no source names any more drain (no new requests; the in-flight ones finish,
 *   up to `drainTimeout`), then their pool closes;
 * - the selector, sticky cookie and hash key are rebuilt whenever the set of serving servers or the upstream's
 *   settings change (balancer counters start over, the hash ring keeps most keys where they were);
 * - a changed `health` section starts health over for that upstream (every server up, no ejection), as its
 *   thresholds and probes differ; an unchanged one keeps each kept server's state.
 * Servers carry the sources that name them (file, api, dns, servers_file): a reload replaces only the
 * file's, the admin API and discovery only theirs, and a server leaves when no source names it.
 */
import type { Engine } from '../core/services.js';
import {
  RegistryError, type Peer, type PeerMonitor, type ProxyMeter, type Selector, type ServerDiff, type ServerInfo, type ServerSource,
  type ServerSpec, type UpstreamInfo, type UpstreamRegistry,
} from '../core/services.js';
import { createPeer, createPool, hashKeyOf, poolKey, serverSpec, tlsOptions, type Affinity, type UpstreamPool, type UpstreamRuntime } from './pool.js';
import { retryBudget } from './retry-budget.js';
import type { UpstreamBaseConfig } from './schema.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface RegistryDeps<C extends UpstreamBaseConfig> {
  /** Directory that relative TLS file paths resolve against. */
  baseDir?: string;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  selector(cfg: C, peers: readonly Peer[]): Selector;
  /** `connect`: the TLS options (and `allowH2`) for health probes. */
  monitor(name: string, cfg: C, peers: readonly Peer[], connect: Record<string, unknown>): PeerMonitor;
  affinity?(name: string, cfg: C, peers: readonly Peer[]): Affinity | undefined;
  hashKey?(cfg: C): string | undefined;
  /** Longest wait for a removed server's in-flight requests before its pool is destroyed (ms). */
  drainTimeout(): number;
  /** Counts each upstream's attempts and retries (metrics). */
  meter?: ProxyMeter | undefined;
}

interface Server {
  peer: Peer;
  pool: UpstreamPool;
  key: string;
  sources: ServerSource[];
  /** The source that first named it (reported while it leaves, when no source names it any more). */
  origin: ServerSource;
  /** Drained through the API: kept, but given no new requests. */
  drained: boolean;
  /** Leaving: drained, then closed. */
  removing?: Promise<void>;
  ttl?: { timer: NodeJS.Timeout; at: number };
}

interface Entry<C extends UpstreamBaseConfig> {
  name: string;
  cfg: C;
  /** Still in the config (false: leaving with its last servers). */
  configured: boolean;
  runtime: Mutable<UpstreamRuntime>;
  servers: Map<string, Server>;
  retiring: Set<Server>;
  monitor?: PeerMonitor;
  healthKey?: string;
  budgetKey?: string;
  tls: Record<string, unknown>;
  poolKey: string;
}

const URL_RE = /^(?:https?|h2c?|tcp):\/\/[^/?#\s]+\/?$/;
const NONE: Selector = { peers: [], pick: () => undefined };

/** The registry; `apply` is the reload's diff, `runtime` the stable handle a route refers to. */
export interface Registry<C extends UpstreamBaseConfig> extends UpstreamRegistry {
  /** The upstream's runtime for a route: the existing one, or a new one that `apply` fills. */
  runtime(name: string, cfg: C): UpstreamRuntime;
  /** Applies a config's upstreams: servers added, kept, drained; upstreams no longer named leave. */
  apply(upstreams: Record<string, C>, engine?: Engine): void;
  /** Drops runtimes that `runtime` made for a config that was never applied (a failed reload). */
  prune(): void;
  /** Starts health checks (at start); after it, new upstreams' checks start at once. */
  start(): void;
  /** Closes every pool and health checker now. */
  close(): Promise<void>;
}

export function createRegistry<C extends UpstreamBaseConfig>(deps: RegistryDeps<C>): Registry<C> {
  const entries = new Map<string, Entry<C>>();
  const pools = new WeakMap<Peer, UpstreamPool>();
  let started = false;
  let engine: Engine = 'node';
  let closed = false;

  function entryOf(name: string): Entry<C> {
    const e = entries.get(name);
    if (!e?.configured) throw new RegistryError(`no upstream "${name}"`, 'not_found');
    return e;
  }
  function serverOf(e: Entry<C>, id: string): Server {
    for (const s of e.servers.values()) if (s.peer.id === id) return s;
    throw new RegistryError(`no server "${id}" in upstream "${e.name}"`, 'not_found');
  }

  function newEntry(name: string, cfg: C): Entry<C> {
    const runtime: Mutable<UpstreamRuntime> = {
      name, config: cfg, peers: [], selector: NONE, observer: undefined, affinity: undefined, hashKey: undefined,
      budget: retryBudget({ percent: 100, windowMs: 1000, minRetries: 0 }), meter: deps.meter, authorities: new Set<string>(), inflight: 0, pending: 0,
      pool: (peer) => pools.get(peer)!,
      tls: () => e.tls,
    };
    const e: Entry<C> = { name, cfg, configured: false, runtime, servers: new Map(), retiring: new Set(), tls: {}, poolKey: '' };
    entries.set(name, e);
    return e;
  }

  /** The serving peers changed: the selector and everything built from the peers are made again. */
  function rebuild(e: Entry<C>): void {
    const peers = [...e.servers.values()].filter((s) => !s.drained).map((s) => s.peer);
    const r = e.runtime;
    r.peers = peers;
    r.selector = deps.selector(e.cfg, peers);
    r.affinity = deps.affinity?.(e.name, e.cfg, peers);
    const auth = r.authorities as Set<string>;
    auth.clear();
    for (const s of [...e.servers.values(), ...e.retiring]) {
      auth.add(s.peer.authority.toLowerCase());
      // `http://host` without a port is also `host:80`.
      if (!/:\d+$/.test(s.peer.authority)) auth.add(`${s.peer.authority.toLowerCase()}:80`);
    }
  }

  function addPeer(e: Entry<C>, spec: Exclude<C['servers'][number], string>, sources: ServerSource[]): Server {
    const peer = createPeer(spec, e.cfg);
    const pool = createPool(peer, e.cfg, e.tls, engine);
    pools.set(peer, pool);
    const s: Server = { peer, pool, key: poolIdentity(e.cfg, spec, engine), sources, origin: sources[0] ?? 'file', drained: false };
    e.servers.set(peer.url, s);
    e.monitor?.add(peer);
    return s;
  }

  /** Takes a server out of service, then closes it once its in-flight requests end (or drainTimeout passes). */
  function retire(e: Entry<C>, s: Server): Promise<void> {
    if (s.removing) return s.removing;
    if (e.servers.get(s.peer.url) === s) e.servers.delete(s.peer.url);
    if (s.ttl) clearTimeout(s.ttl.timer);
    e.retiring.add(s);
    rebuild(e);
    deps.log.info({ upstream: e.name, server: s.peer.id }, 'server draining');
    s.removing = (async () => {
      const deadline = Date.now() + deps.drainTimeout();
      while (s.peer.inflight > 0 && Date.now() < deadline && !closed) await new Promise((r) => setTimeout(r, 25));
      if (s.peer.inflight > 0) await s.pool.destroy().catch(() => undefined);
      else await s.pool.close().catch(() => s.pool.destroy());
      await e.monitor?.remove(s.peer);
      e.retiring.delete(s);
      rebuild(e);
      deps.log.info({ upstream: e.name, server: s.peer.id }, 'server removed');
      if (!e.configured && e.servers.size === 0 && e.retiring.size === 0 && entries.get(e.name) === e) {
        entries.delete(e.name);
        await e.monitor?.close();
      }
    })();
    return s.removing;
  }

  function dropSource(e: Entry<C>, s: Server, source: ServerSource): void {
    s.sources = s.sources.filter((x) => x !== source);
    if (source === 'api' && s.ttl) { clearTimeout(s.ttl.timer); delete s.ttl; }
    if (s.sources.length === 0) void retire(e, s);
  }

  /** Adds or refreshes one server from one source; true when it was new. */
  function upsert(e: Entry<C>, spec: ServerSpec, source: ServerSource): { server: Server; added: boolean } {
    if (!URL_RE.test(spec.url)) throw new RegistryError(`"${spec.url}" is not an http://, https://, h2c:// or h2:// URL with a host and port and no path`, 'invalid');
    if (spec.ttl !== undefined && !(spec.ttl > 0)) throw new RegistryError('ttl must be a positive number of ms', 'invalid');
    if (spec.weight !== undefined && !(Number.isInteger(spec.weight) && spec.weight >= 1 && spec.weight <= 1000)) throw new RegistryError('weight must be an integer from 1 to 1000', 'invalid');
    const url = spec.url.replace(/\/$/, '');
    let s = e.servers.get(url);
    const added = s === undefined;
    if (!s) s = addPeer(e, { url, weight: spec.weight ?? 1, backup: spec.backup ?? false } as Exclude<C['servers'][number], string>, [source]);
    else {
      if (!s.sources.includes(source)) s.sources.push(source);
      const p = s.peer as Mutable<Peer>;
      if (spec.weight !== undefined) p.weight = spec.weight;
      if (spec.backup !== undefined) p.backup = spec.backup;
    }
    if (source === 'api' && spec.ttl !== undefined) setTtl(e, s, spec.ttl);
    return { server: s, added };
  }

  /** Without renewal, the API's claim on the server ends in `ms` (it leaves if no other source names it). */
  function setTtl(e: Entry<C>, s: Server, ms: number): void {
    if (s.ttl) clearTimeout(s.ttl.timer);
    const timer = setTimeout(() => { if (!s.removing) { dropSource(e, s, 'api'); rebuild(e); } }, ms);
    timer.unref();
    s.ttl = { timer, at: Date.now() + ms };
  }

  /** A new or changed config for one upstream: pools, health, budget, then the file's servers. */
  function configure(e: Entry<C>, cfg: C): void {
    e.cfg = cfg;
    e.configured = true;
    e.runtime.config = cfg;
    const pk = poolKey(cfg);
    if (pk !== e.poolKey) { e.tls = tlsOptions(e.name, cfg, deps); e.poolKey = pk; }
    const hk = JSON.stringify((cfg as { health?: unknown }).health ?? null);
    if (hk !== e.healthKey) {
      const old = e.monitor;
      for (const s of e.servers.values()) Object.assign(s.peer as Mutable<Peer>, { up: true, upSince: 0 });
      e.monitor = deps.monitor(e.name, cfg, [...e.servers.values()].map((s) => s.peer), cfg.h2 ? { ...e.tls, allowH2: true } : e.tls);
      e.healthKey = hk;
      e.runtime.observer = e.monitor;
      void old?.close();
      if (started) e.monitor.start();
    }
    const bk = JSON.stringify(cfg.retry_budget);
    if (bk !== e.budgetKey) {
      e.runtime.budget = retryBudget({ percent: cfg.retry_budget.percent, windowMs: cfg.retry_budget.window, minRetries: cfg.retry_budget.min_retries });
      e.budgetKey = bk;
    }
    const hash = deps.hashKey?.(cfg);
    e.runtime.hashKey = hash !== undefined ? hashKeyOf(hash) : undefined;
    setFileServers(e, cfg);
  }

  function setFileServers(e: Entry<C>, cfg: C): void {
    const wanted = new Map((cfg.servers ?? []).map((x) => { const s = serverSpec(x); return [s.url.replace(/\/$/, ''), s] as const; }));
    for (const s of [...e.servers.values()]) {
      const spec = wanted.get(s.peer.url);
      const p = s.peer;
      if (s.key !== poolIdentity(cfg, spec ?? {}, engine) && (spec || !s.sources.includes('file'))) {
        // Pool settings changed: a new server takes over, this one drains.
        const ttl = s.ttl ? Math.max(0, s.ttl.at - Date.now()) : undefined;
        void retire(e, s);
        const again = spec ?? { url: p.url, weight: p.weight, backup: p.backup };
        const next = addPeer(e, again as Exclude<C['servers'][number], string>, spec && !s.sources.includes('file') ? [...s.sources, 'file'] : s.sources);
        next.drained = s.drained;
        if (ttl !== undefined) setTtl(e, next, ttl);
      } else if (spec) {
        if (!s.sources.includes('file')) s.sources.push('file');
        Object.assign(s.peer as Mutable<Peer>, { weight: spec.weight, backup: spec.backup, slowStartMs: spec.slow_start ?? cfg.slow_start ?? 0 });
      } else if (s.sources.includes('file')) dropSource(e, s, 'file');
    }
    for (const [url, spec] of wanted) if (!e.servers.has(url)) addPeer(e, spec as Exclude<C['servers'][number], string>, ['file']);
    // Config order first, then servers from other sources.
    const ordered = [...wanted.keys()].map((u) => e.servers.get(u)!).concat([...e.servers.values()].filter((s) => !wanted.has(s.peer.url)));
    e.servers = new Map(ordered.map((s) => [s.peer.url, s]));
    rebuild(e);
  }

  function info(e: Entry<C>, s: Server): ServerInfo {
    const p = s.peer;
    const draining = s.drained || s.removing !== undefined;
    return {
      id: p.id, url: p.url, weight: p.weight, backup: p.backup, up: p.up && !draining,
      health: e.monitor?.status(p) ?? { active: true, ejectedUntil: 0, ejections: 0, consecutiveFailures: 0 },
      inflight: p.inflight, latency_ms: Math.round(p.ewmaMs * 1000) / 1000, draining, idle: draining && p.inflight === 0,
      source: s.sources[0] ?? s.origin, sources: [...s.sources], ...(s.ttl ? { expires_at: s.ttl.at } : {}),
      ...(s.removing ? { removing: true as const } : {}),
    };
  }
  const upstreamInfo = (e: Entry<C>): UpstreamInfo => ({ name: e.name, servers: [...e.servers.values(), ...e.retiring].map((s) => info(e, s)) });

  return {
    runtime: (name, cfg) => (entries.get(name) ?? newEntry(name, cfg)).runtime,
    apply(upstreams, next = 'node') {
      engine = next;
      for (const [name, cfg] of Object.entries(upstreams)) configure(entries.get(name) ?? newEntry(name, cfg), cfg);
      for (const e of entries.values()) {
        if (e.name in upstreams) continue;
        e.configured = false;
        if (e.servers.size === 0 && e.retiring.size === 0) { entries.delete(e.name); void e.monitor?.close(); }
        for (const s of [...e.servers.values()]) void retire(e, s);
      }
    },
    prune() {
      for (const e of entries.values()) if (!e.configured && e.monitor === undefined) entries.delete(e.name);
    },
    start() {
      started = true;
      closed = false;
      for (const e of entries.values()) e.monitor?.start();
    },
    async close() {
      closed = true;
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map(async (e) => {
        for (const s of [...e.servers.values(), ...e.retiring]) if (s.ttl) clearTimeout(s.ttl.timer);
        await e.monitor?.close();
        await Promise.all([...e.servers.values(), ...e.retiring].map((s) => s.pool.close().catch(() => s.pool.destroy())));
      }));
    },
    list: () => [...entries.values()].filter((e) => e.configured).map(upstreamInfo),
    get(name) {
      const e = entries.get(name);
      return e?.configured ? upstreamInfo(e) : undefined;
    },
    addServer(name, spec) {
      const e = entryOf(name);
      const { server } = upsert(e, spec, spec.source);
      rebuild(e);
      return info(e, server);
    },
    drainServer(name, id) {
      const e = entryOf(name);
      const s = serverOf(e, id);
      s.drained = true;
      rebuild(e);
      return info(e, s);
    },
    enableServer(name, id) {
      const e = entryOf(name);
      const s = serverOf(e, id);
      s.drained = false;
      rebuild(e);
      return info(e, s);
    },
    removeServer(name, id) {
      const e = entryOf(name);
      for (const s of e.servers.values()) if (s.peer.id === id) return retire(e, s);
      // Removed again while it drains: the same departure.
      for (const s of e.retiring) if (s.peer.id === id && s.removing) return s.removing;
      return retire(e, serverOf(e, id));
    },
    setDiscovered(name, source, servers) {
      const e = entryOf(name);
      const diff: ServerDiff = { added: [], kept: [], drained: [] };
      const named = new Set<Server>();
      for (const spec of servers) {
        const { server, added } = upsert(e, spec, source);
        named.add(server);
        (added ? diff.added : diff.kept).push(server.peer.id);
      }
      for (const s of [...e.servers.values()]) {
        if (named.has(s) || !s.sources.includes(source)) continue;
        dropSource(e, s, source);
        if (s.removing) diff.drained.push(s.peer.id);
      }
      rebuild(e);
      return diff;
    },
  };
}

/** A server's pool identity within its upstream: the upstream's pool settings and its own max_connections. */
function poolIdentity(cfg: UpstreamBaseConfig, spec: { max_connections?: number | undefined }, engine: Engine): string {
  return `${poolKey(cfg)}|${spec.max_connections ?? ''}|${engine}`;
}
