/**
 * The composition root: the only module that imports every capability. It validates the config, creates
 * the plugins in pipeline order, compiles each route's phases, and swaps whole config generations on reload.
 * Upstream servers live for the process in the registry (registry.ts): a reload applies a diff to it.
 *
 * The plugins and their order (= the order of hooks in every phase) are registered in plugins.ts.
 */
import { dirname, resolve } from 'node:path';
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { fileProblems, logWarnings } from './check.js';
import { ConfigError } from './config/errors.js';
import { placeIssues, validate } from './config/load.js';
import { loadConfigFile as loadFile } from './config/load.js';
import { configSchemaFor, validatedFor, type AnyPlugin, type ConfigOptions } from './plugins.js';
import type { RateShared } from './protect/index.js';
import { createFailureLog, createLogger, createMetrics, createRecentErrors, type Metrics } from './observe/index.js';
import { createAcme, createCertStore, helloInterceptor, ocspStapler, type AcmeManager } from './tls/index.js';
import type { Runtime } from './server/handler.js';
import { closeListeners, openListener, type Listener, type SecureOptions } from './server/listen.js';
import { engineOf, type GatehouseConfig, type GatehouseConfigInput } from './schema.js';
import { cacheHolder, sharedCacheTier } from './actions.js';
import { buildGeneration, retire, type Generation, type GenerationDeps } from './generation.js';
import { listenerUrl, routeHosts, serverOptions } from './listeners.js';
import { fleetPurges, fleetRegistry, sharedStateHolder, type FleetPurges, type FleetRegistry } from './cluster/index.js';
import { adminRegistry, type CacheControl, type CachePurge, type ServerInfo, type UpstreamInfo, type UpstreamRegistry } from './core/services.js';
import type { RecentError } from './core/figures.js';
import { discoveryRunner, upstreamRegistry } from './registry.js';
import { startAdmin, type AdminServer, type Overlay } from './admin/index.js';
import { adminOverlay, adminTarget, cacheControl, packageVersion } from './admin-target.js';
import { httpProxyAccept, openStream } from './streams.js';

export { createLogger } from './observe/index.js';
export { configSchemaFor } from './plugins.js';

/** Each validated config, with the user plugins it was validated for. */
const validated = new WeakMap<object, readonly AnyPlugin[]>();

/**
 * Reads and validates a YAML/JSON config file, and the certificate and key files it names (throws
 * ConfigError listing every problem).
 */
export async function loadConfig(file: string, opts: ConfigOptions = {}): Promise<GatehouseConfig> {
  const cfg = await loadFile(configSchemaFor(opts.plugins), file);
  const problems = fileProblems(cfg, dirname(resolve(file)));
  if (problems.length) throw new ConfigError(placeIssues(cfg, problems));
  validated.set(cfg, opts.plugins ?? []);
  return cfg;
}

/** Validates a config object (throws ConfigError listing every problem). */
export function parseConfig(input: GatehouseConfigInput | GatehouseConfig, opts: ConfigOptions = {}): GatehouseConfig {
  const seen = validated.get(input);
  if (seen && validatedFor(seen, opts.plugins ?? [])) return input as GatehouseConfig;
  const cfg = validate(configSchemaFor(opts.plugins), input);
  validated.set(cfg, opts.plugins ?? []);
  return cfg;
}

export interface GatehouseOptions {
  /** The config file's path: relative paths in the config resolve against its directory. */
  configPath?: string;
  /** The process logger; by default stderr at `log.level`, in `log.format` (observe/logger.ts). */
  logger?: Logger;
  /**
   * User plugins (`definePlugin`), run after the built-in ones in this order (see docs/plugins.md). Their
   * settings are `plugins.<name>` and `routes[].plugins.<name>` in the config, checked by their schemas.
   */
  plugins?: readonly AnyPlugin[];
  /**
   * Set in a worker process of a group (`gatehouse run` with `workers:`, cluster/worker.ts): its primary holds
   * the admin API (the overlay of API changes is applied, never written, here), and `rates` counts rate limits
   * for the group when the config has no `state.redis`.
   */
  worker?: WorkerHooks | undefined;
}

/** What a worker of a group (cluster/, workers.ts) gives its Gatehouse, and gets from it. */
export interface WorkerHooks {
  /** Rate limits counted for the group (without `state.redis`). */
  rates: RateShared;
  /** The worker's number (1-based): its disk cache tier is `cache.disk.path/worker-N`. */
  slot: number;
  /** Told of each purge and invalidation this worker's cache makes (the other workers do the same). */
  purged(req: CachePurge): void;
  /** Receives what applies a purge made elsewhere (not announced again). */
  bind(h: { purgeRemote(req: CachePurge): number }): void;
}

/** A server in `upstreams()`: the registry's report (core/services.ts). */
export type ServerStatus = ServerInfo;
export type UpstreamStatus = UpstreamInfo;

export interface Gatehouse {
  /** Binds every listener. Rejects (binding nothing) when one cannot be bound. */
  start(): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish up to `shutdown.timeout` (or `timeoutMs`), closes. `lingerMs`:
   * idle HTTP/1.1 connections stay open up to this long, their next request answered with `Connection: close`
   * (for a hand-off to another process, as a rolling restart of workers does); by default they close at once.
   * `drained`: awaited once requests are done, before the rest (which metrics read) closes: a worker's last metrics.
   */
  stop(opts?: { timeoutMs?: number; lingerMs?: number; drained?: () => Promise<void> }): Promise<void>;
  /** Swaps in a new config; on error the old one keeps serving and the error is thrown. */
  reload(config: GatehouseConfigInput | GatehouseConfig): Promise<void>;
  /** The config in force. */
  readonly config: GatehouseConfig;
  /** Bound addresses by listener name, e.g. `{ public: '127.0.0.1:18080' }`. */
  addresses(): Record<string, string>;
  /** `http://ADDRESS` of a listener (`https://` with TLS; the first listener by default). */
  url(listener?: string): string;
  /** Upstreams and their servers, with requests in flight (as `registry.list()`). */
  upstreams(): UpstreamStatus[];
  /** The process-lifetime upstream registry: add, drain, enable and remove servers live. */
  readonly registry: UpstreamRegistry;
  /** `http://ADDRESS` of the admin API (`admin:` in the config), once started; undefined without one. */
  adminUrl(): string | undefined;
  /** Orders new ACME certificates for every listener that has `tls.acme` now (renewal does this by itself). */
  renewCertificates(): Promise<void>;
  /**
   * The shared cache (process lifetime): made at start, or by the first reload, when a route has `cache:` or
   * the config has `cache:`; undefined before that, without one, and after stop(). `purge({ url | prefix | tag,
   * soft? })` returns how many objects it removed (soft: marked stale); `stats()` is `GET /api/cache`.
   */
  readonly cache: CacheControl | undefined;
  /** The instance's Prometheus metrics (process lifetime): `GET /metrics` on the admin API answers `metrics.text()`. */
  readonly metrics: Metrics;
  /** The last requests (50 at most) answered with a 5xx, newest first: what the dashboard lists. */
  recentErrors(): RecentError[];
}

export function createGatehouse(input: GatehouseConfigInput | GatehouseConfig, opts: GatehouseOptions = {}): Gatehouse {
  const userPlugins = opts.plugins ?? [];
  let config = parseConfig(input, { plugins: userPlugins });
  const log = opts.logger ?? createLogger(config.log);
  // Per instance, across reloads: an outage that spans a reload is still summarised, not logged afresh.
  const failures = createFailureLog(log);
  const baseDir = opts.configPath ? dirname(resolve(opts.configPath)) : process.cwd();
  let gen: Generation | undefined;
  const listeners = new Map<string, Listener>();
  const boundAddress = (name: string): string | undefined => listeners.get(name)?.address();
  const challenges = new Map<string, string>();
  // Process lifetime, per instance (never prom-client's global registry): `GET /metrics` on the admin API. Read
  // when scraped; a worker's reloads are counted by its primary.
  const metrics = createMetrics({
    servers: () => registry.list(), cache: () => cache.current()?.counters,
    listeners: () => [...listeners.values()].map((l) => ({ name: l.config.name, open: l.open?.(), certificates: l.certificates?.() ?? [] })),
  }, { reloads: !opts.worker });
  // Process lifetime: servers, pools and health outlive every config (STYLE.md 9).
  const registry = upstreamRegistry(log, baseDir, () => config.shutdown.timeout, metrics.meter);
  const discovery = discoveryRunner(registry, log, baseDir);
  // Process lifetime too: cached objects outlive configs (a route whose cache settings stay keeps its own).
  // Purges and invalidations made here reach the other workers (through the primary) or instances (Redis).
  let purges: FleetPurges | undefined;
  const cache = cacheHolder(log, baseDir, {
    diskSubdir: opts.worker && `worker-${opts.worker.slot}`,
    onPurge: (req) => {
      opts.worker?.purged(req);
      purges?.publish(req);
    },
    // With `cache.redis`, small objects are shared with every instance and worker through Redis too.
    tier: (cfg) => sharedCacheTier(cfg, shared.get(cfg), log),
  });
  opts.worker?.bind({ purgeRemote: (req) => cache.purgeRemote(req) });
  // The last 5xx requests, for the dashboard (`GET /ui` on the admin API); process lifetime.
  const recentErrors = createRecentErrors();
  const shared = sharedStateHolder(log);
  const generations = new WeakMap<Runtime, Generation>();
  const deps: GenerationDeps = { log, baseDir, address: boundAddress, challenges, failures, userPlugins, registry, cache, shared, rates: opts.worker?.rates, generations, metrics, recentErrors };
  /** The generation an HTTP listener's PROXY protocol step reads its settings from. */
  const current = (): { config: GatehouseConfig; runtime: Runtime } | undefined => gen && { config: gen.config, runtime: gen.runtime };
  const alpnChallenges = new Map<string, SecureContext>();
  const acmeManagers = new Map<string, AcmeManager>();
  // The admin API has the process's lifetime: started with the proxy, stopped last; `version` counts configs.
  let admin: AdminServer | undefined, version = 1;
  // API changes, kept in a state file and applied on top of the file's config at start and after each reload.
  let overlay: Overlay | undefined;
  // With `state.redis` too, API changes are shared with every instance on that Redis (cluster/fleet.ts).
  let fleet: FleetRegistry | undefined;

  // The names each ACME listener was last set up to certify (route hosts change them on reload too).
  const appliedAcmeNames = new Map<string, string | undefined>();
  const acmeNames = (l: GatehouseConfig['listeners'][number], cfg: GatehouseConfig): string[] | undefined =>
    l.tls?.acme ? l.tls.acme.domains ?? routeHosts(cfg, l.name) : undefined;

  /** A TLS listener's certificate store, ACME manager and server options. */
  async function secureFor(l: GatehouseConfig['listeners'][number], cfg: GatehouseConfig, ordering: AcmeManager[]): Promise<SecureOptions | undefined> {
    const names = acmeNames(l, cfg);
    appliedAcmeNames.set(l.name, JSON.stringify(names));
    if (!l.tls) return undefined;
    const store = createCertStore(l.tls, baseDir, log);
    let manager: AcmeManager | undefined;
    if (l.tls.acme) {
      manager = createAcme({ cfg: l.tls.acme, names: names!, baseDir, log, store, challenges, alpnChallenges });
      acmeManagers.set(l.name, manager);
      // A certificate (stored, or the stand-in) is installed before the socket is bound.
      await manager.ready;
      ordering.push(manager);
    }
    const options = store.serverOptions();
    // tls-alpn-01 is validated on port 443, whichever TLS listener holds it: all of them answer.
    const alpn = cfg.listeners.some((x) => x.tls?.acme?.challenge === 'tls-alpn-01');
    const routeNoSni = store.noSniContext() !== undefined;
    return {
      options, sni: store.sni, h2: l.tls.h2, ocsp: ocspStapler().onRequest, certificates: store.expiry,
      ...(alpn || routeNoSni ? { intercept: helloInterceptor({ challenges: alpn ? alpnChallenges : undefined, routeNoSni }), noSniContext: store.noSniContext } : {}),
      close: () => { store.close(); manager?.close(); if (acmeManagers.get(l.name) === manager) acmeManagers.delete(l.name); },
    };
  }

  async function openAll(g: Generation, cfg: GatehouseConfig): Promise<void> {
    const opened: Listener[] = [];
    const ordering: AcmeManager[] = [];
    try {
      for (const l of cfg.listeners) {
        const existing = listeners.get(l.name);
        if (existing && existing.config.address === l.address && (existing.config as typeof l).protocol !== l.protocol) {
          log.warn({ listener: l.name }, 'listener protocol changed on a bound address: restart to apply');
          continue;
        }
        // Layer 4 listeners read their settings per connection from the generation (streams.ts).
        if (existing && existing.config.address === l.address && l.protocol !== 'http') continue;
        if (existing && existing.config.address === l.address) {
          if (existing.engine !== (l.engine ?? engineOf(cfg.engine))) log.warn({ listener: l.name }, 'engine changed for a bound listener: restart to apply');
          // Same socket: TLS settings change in place. A listener with certificate files is set up again on
          // every reload (its files are read afresh); an ACME one when its settings or names change (not to
          // order twice); any other when it changes.
          const tlsChanged = JSON.stringify((existing.config as typeof l).tls) !== JSON.stringify(l.tls);
          const namesChanged = JSON.stringify(acmeNames(l, cfg)) !== appliedAcmeNames.get(l.name);
          if ((l.tls !== undefined && !l.tls.acme) || tlsChanged || existing.config.h2c !== l.h2c || namesChanged) {
            const secure = await secureFor(l, cfg, ordering);
            if (!existing.updateTls(l, secure)) {
              secure?.close();
              log.warn({ listener: l.name }, 'TLS or HTTP/2 switched on or off for a bound listener: restart to apply');
            }
          }
          continue;
        }
        const accept = httpProxyAccept(l.name, () => current() ?? { config: cfg, runtime: g.runtime });
        opened.push(l.protocol !== 'http' ? await openStream(l, g.runtime, { generationOf: (rt) => generations.get(rt) })
          : await openListener(l, g.runtime, { ...serverOptions(cfg), accept }, await secureFor(l, cfg, ordering)));
      }
    } catch (err) {
      await closeListeners(opened, [], 0);
      throw err;
    }
    // Orders start once every listener is bound (the CA's challenge may come to any of them).
    for (const m of ordering) m.begin();
    for (const l of opened) {
      const old = listeners.get(l.config.name);
      if (old) void closeListeners([old], [], cfg.shutdown.timeout);
      listeners.set(l.config.name, l);
      log.info({ listener: l.config.name }, `listening on ${listenerUrl(l)}`);
    }
  }

  let stopping: Promise<void> | undefined;
  async function stopGeneration(g: Generation, timeoutMs: number | undefined, lingerMs = 0, drained?: () => Promise<void>): Promise<void> {
    const timeout = timeoutMs ?? config.shutdown.timeout;
    await closeListeners([...listeners.values()], [g.runtime], timeout, lingerMs).then(drained);
    listeners.clear();
    await admin?.close();
    admin = undefined;
    await overlay?.flush();
    await fleet?.close();
    fleet = undefined;
    await purges?.close();
    purges = undefined;
    discovery.close();
    await retire(g, 0);
    await registry.close();
    await cache.close();
    await shared.close();
    failures.close();
    log.info('gatehouse stopped');
  }

  const targetDeps = {
    config: () => config, version: () => version, upstreams: () => self.upstreams(), ready: () => gen !== undefined, registry, cache: () => self.cache,
    load: opts.configPath ? () => loadConfig(opts.configPath!, { plugins: userPlugins }) : undefined,
    apply: (c: GatehouseConfig) => self.reload(c),
    metrics: () => metrics.text(), reloads: metrics.reloads,
    metricsJson: () => metrics.json(),
    recentErrors: () => recentErrors.list(),
  };
  const self: Gatehouse = {
    get config() { return config; },
    get cache() { const e = cache.current(); return e && cacheControl(e); },
    async start() {
      if (gen) return;
      if (config.admin && opts.worker) overlay ??= adminOverlay(config, opts.configPath, log, { readOnly: true });
      else if (config.admin && !admin) {
        overlay = adminOverlay(config, opts.configPath, log);
        const recorded = overlay ? overlay.record(adminRegistry(registry)) : adminRegistry(registry);
        fleet = fleetRegistry(recorded, shared.get(config), log);
        admin = await startAdmin(config.admin, adminTarget({ ...targetDeps, registry: fleet?.registry ?? recorded }), { log, version: packageVersion() });
      }
      const st = opts.worker ? undefined : shared.get(config);
      if (st && !purges) purges = fleetPurges({ redis: st.redis, prefix: st.prefix, log, apply: (req) => { cache.purgeRemote(req); } });
      let g: Generation | undefined;
      try {
        g = await buildGeneration(config, deps);
        // Servers are in place before the first request can come.
        registry.apply(config.upstreams, engineOf(config.engine));
        overlay?.apply(registry, 'start');
        await fleet?.rebuild();
        await openAll(g, config);
      } catch (err) {
        if (g) await retire(g, 0);
        await registry.close();
        await cache.close();
        await fleet?.close();
        fleet = undefined;
        await purges?.close();
        purges = undefined;
        await shared.close();
        await admin?.close().finally(() => { admin = undefined; });
        throw err;
      }
      gen = g;
      registry.start();
      discovery.sync(config.upstreams);
      log.info('gatehouse started');
      logWarnings(config, log);
    },
    stop(o = {}) {
      // A stop called while one runs (a signal, then the primary's word) waits for the same one.
      const g = gen;
      if (!g) return stopping ?? Promise.resolve();
      gen = undefined;
      stopping = stopGeneration(g, o.timeoutMs, o.lingerMs, o.drained).finally(() => { stopping = undefined; });
      return stopping;
    },
    async reload(next) {
      const cfg = parseConfig(next, { plugins: userPlugins });
      if (!gen) { config = cfg; return; }
      const g = await buildGeneration(cfg, deps);
      // The upstreams this config adds get their servers before a listener it opens can take a request
      // (else a brief 503); nothing in force uses them yet. The rest of the diff waits for the listeners.
      const prior = config.upstreams;
      const fresh = Object.entries(cfg.upstreams).filter(([name]) => !Object.hasOwn(prior, name));
      if (fresh.length) registry.apply({ ...prior, ...Object.fromEntries(fresh) }, engineOf(config.engine));
      try {
        await openAll(g, cfg);
      } catch (err) {
        await retire(g, 0);
        if (fresh.length) registry.apply(prior, engineOf(config.engine));
        registry.prune();
        throw err;
      }
      // The diff: unchanged servers kept (pools, health, ejection), new ones added, removed ones drained.
      registry.apply(cfg.upstreams, engineOf(cfg.engine));
      overlay?.apply(registry, 'reload');
      void fleet?.rebuild();
      discovery.sync(cfg.upstreams);
      const old = gen;
      const wanted = new Set(cfg.listeners.map((l) => l.name));
      for (const [name, l] of listeners) {
        if (!wanted.has(name)) {
          listeners.delete(name);
          void closeListeners([l], [], cfg.shutdown.timeout);
        } else {
          l.state.runtime = g.runtime;
        }
      }
      gen = g;
      config = cfg;
      version++;
      if (JSON.stringify(cfg.admin) !== JSON.stringify(old.config.admin)) log.warn('admin settings changed: restart to apply them');
      if (!opts.logger) log.level = cfg.log.level;
      log.info('config reloaded');
      logWarnings(cfg, log);
      void retire(old, cfg.shutdown.timeout);
    },
    addresses() {
      const out: Record<string, string> = {};
      for (const [name, l] of listeners) out[name] = l.address();
      return out;
    },
    url(listener) {
      const l = listener ? listeners.get(listener) : listeners.values().next().value;
      if (!l) throw new Error(listener ? `no listener "${listener}"` : 'gatehouse is not started');
      return listenerUrl(l);
    },
    adminUrl: () => admin?.url,
    async renewCertificates() {
      await Promise.all([...acmeManagers.values()].map((m) => m.renew()));
    },
    upstreams: () => registry.list(),
    registry,
    metrics,
    recentErrors: () => recentErrors.list(),
  };
  // Every reload is counted (metrics, `GET /api/config` last_reload), whatever asked for it: SIGHUP, the file
  // watcher, the admin API or the library; a worker's by its primary.
  const swap = self.reload;
  self.reload = (next) => { const done = swap(next); return metrics.reloads?.track(done, () => version) ?? done; };
  return self;
}
