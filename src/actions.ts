/**
 * Each proxy route's terminal action, wired by the composition root: forwarding (upstream/), with the cache
 * (cache/) in front of it when the route has `cache:`. The cache engine has the process's lifetime; it is
 * made when a config first asks for one.
 */
import { blockList } from './core/addresses.js';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { cacheAction, compressSettings, createCacheStore, createEngine, encoder, planEncoding, rangeServer, zoneOf, type CacheEngine, type CompressSettings, type PurgeRequest } from './cache/index.js';
import type { CompiledPhases } from './core/pipeline.js';
import type { RequestCtx } from './core/context.js';
import type { FieldNames } from './core/headers.js';
import type { SharedCacheTier } from './core/services.js';
import type { GatehouseConfig, RouteConfig } from './schema.js';
import { fail, reply } from './server/handler.js';
import { compileUnrewrite } from './routing/index.js';
import { fetchUpstream, forward, proxyWebSocket, type ForwardRoute, type UpstreamRuntime } from './upstream/index.js';
import { redisCacheTier, type SharedState } from './cluster/index.js';

export interface ActionDeps {
  readonly config: GatehouseConfig;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly hidden: FieldNames;
  /** The process's cache engine, made on first use. */
  readonly cache: () => CacheEngine;
}

/** The forwarder's compression hook for a route's `compress` settings. */
function encodeWith(s: CompressSettings | undefined): ForwardRoute['encode'] {
  if (!s) return undefined;
  return (ctx, head) => {
    const accept = ctx.req.header('accept-encoding');
    const i = head.headers.indexOf('content-length');
    const cl = i !== -1 && i % 2 === 0 ? Number(head.headers[i + 1]) : NaN;
    const enc = planEncoding(s, accept, head);
    if (!enc || ctx.req.method === 'HEAD') return undefined;
    return encoder(s, enc, Number.isFinite(cl) ? cl : undefined);
  };
}

/** The WebSocket action of a proxy route (on unless `websocket: false`): its upstream, its forwarding settings. */
export function webSocketAction(route: RouteConfig & { proxy: NonNullable<RouteConfig['proxy']> }, phases: CompiledPhases, deps: ActionDeps): ((ctx: RequestCtx) => void) | undefined {
  const ws = route.proxy.websocket;
  if (ws === false) return undefined;
  const settings = ws === true ? { idle_timeout: 60_000, max_lifetime: undefined } : ws;
  const upstream = deps.upstreams.get(route.proxy.upstream)!;
  const fwd: ForwardRoute = {
    upstream, fail, reply, peerFilters: phases.upstreamPeer, retryWithIdempotencyKey: false, bufferBodyUpTo: 0,
    responseBuffer: deps.config.limits.response_buffer, mirror: undefined,
    requestFilters: phases.upstreamRequestFilter, userHooks: phases.userHooks, responseFilters: phases.responseFilter,
    responseHeaders: { hidden: deps.hidden, authorities: upstream.authorities, unrewrite: compileUnrewrite(route.rewrite) },
  };
  const wsRoute = { forward: fwd, idleMs: settings.idle_timeout, maxLifetimeMs: settings.max_lifetime };
  return (ctx) => proxyWebSocket(ctx, wsRoute);
}

/** The action of a proxy route: forward, behind the cache when the route has one. */
export function proxyAction(route: RouteConfig & { proxy: NonNullable<RouteConfig['proxy']> }, id: string, phases: CompiledPhases, deps: ActionDeps): (ctx: RequestCtx) => void {
  const { config, upstreams } = deps;
  const upstream = upstreams.get(route.proxy.upstream)!;
  const ucfg = config.upstreams[route.proxy.upstream]!;
  const fwd: ForwardRoute = {
    upstream, fail, reply,
    peerFilters: phases.upstreamPeer,
    retryWithIdempotencyKey: route.proxy.retry_with_idempotency_key,
    bufferBodyUpTo: Math.max(config.limits.request_buffer, ucfg.retries > 0 || route.mirror ? ucfg.retry_buffer : 0),
    responseBuffer: config.limits.response_buffer,
    mirror: route.mirror ? { upstream: upstreams.get(route.mirror.upstream)!, percent: route.mirror.percent } : undefined,
    requestFilters: phases.upstreamRequestFilter,
    userHooks: phases.userHooks,
    responseFilters: phases.responseFilter,
    responseHeaders: { hidden: deps.hidden, authorities: upstream.authorities, unrewrite: compileUnrewrite(route.rewrite) },
    encode: encodeWith(compressSettings(route.compress)),
  };
  const c = route.cache;
  if (!c) return (ctx) => forward(ctx, fwd);
  return cacheAction({
    engine: deps.cache(), cfg: c, zone: zoneOf(id, route.proxy.upstream, c),
    serve: { statusHeader: c.status_header, responseFilters: phases.responseFilter, compress: compressSettings(route.compress), engine: deps.cache() },
    heuristic: { percent: c.heuristic.percent, maxMs: c.heuristic.max },
    range: rangeServer,
    forward: (ctx, tap) => forward(ctx, fwd, tap),
    fetch: (ctx, edit) => fetchUpstream(ctx, fwd, edit),
    fail, reply,
    purgers: c.purge ? blockList(c.purge.allow) : undefined,
  });
}

/** The shared cache tier a config asks for (`cache.redis`, with `state.redis`), on the process's Redis client. */
export function sharedCacheTier(cfg: GatehouseConfig, state: SharedState | undefined, log: Logger): SharedCacheTier | undefined {
  const r = cfg.cache?.redis;
  if (!r || !state) return undefined;
  return redisCacheTier({ redis: state.redis, prefix: state.prefix, timeoutMs: state.timeoutMs, maxObject: r.max_object, log: log.child({ component: 'cache' }) });
}

/** Whether a config has a cache: a top-level `cache:` or a route with `cache:`. */
export function needsCache(cfg: GatehouseConfig): boolean {
  return cfg.cache !== undefined || cfg.routes.some((r) => r.cache !== undefined);
}

/** The process's cache engine: made (with its store) when a config first needs one; later configs share it. */
export interface CacheHolder {
  /** Makes the engine if `cfg` needs one and there is none yet (the disk tier rebuilds its index first). */
  prepare(cfg: GatehouseConfig): Promise<void>;
  get(): CacheEngine;
  current(): CacheEngine | undefined;
  /** Applies a purge another worker or instance made (not announced again); how many objects went. */
  purgeRemote(req: PurgeRequest): number;
  close(): Promise<void>;
}

export interface CacheHolderOptions {
  /** A worker of a group keeps its disk tier in its own directory under the configured one. */
  diskSubdir?: string | undefined;
  /** Told of each purge and invalidation made here (to share it with other workers and instances). */
  onPurge?: (req: PurgeRequest) => void;
  /** Makes the shared tier a config asks for (`cache.redis`), once, with the engine. */
  tier?: (cfg: GatehouseConfig) => SharedCacheTier | undefined;
}

export function cacheHolder(log: Logger, baseDir: string, opts: CacheHolderOptions = {}): CacheHolder {
  const { diskSubdir, onPurge, tier } = opts;
  let engine: CacheEngine | undefined;
  let making: Promise<CacheEngine> | undefined;
  let applied: string | undefined;
  return {
    async prepare(cfg) {
      const settings = JSON.stringify(cfg.cache ?? {});
      if (engine || making) {
        await making;
        if (applied !== settings) log.warn('cache store settings changed: restart to apply them (cached objects are kept)');
        applied = settings;
        return;
      }
      if (!needsCache(cfg)) return;
      applied = settings;
      const c = cfg.cache;
      const clog = log.child({ component: 'cache' });
      making = createCacheStore({
        memory: c?.memory ?? 64 * 1024 ** 2, threshold: c?.memory_object_max ?? 1024 ** 2, log: clog,
        disk: c?.disk ? { path: resolve(baseDir, c.disk.path, diskSubdir ?? ''), size: c.disk.size } : undefined,
      }).then((store) => {
        const e = createEngine(store, clog, { tier: tier?.(cfg) });
        e.onPurge = onPurge;
        return e;
      });
      try {
        engine = await making;
      } finally {
        making = undefined;
      }
    },
    get() {
      if (!engine) throw new Error('the cache engine is made by prepare() first');
      return engine;
    },
    current: () => engine,
    purgeRemote: (req) => engine?.purge(req, { remote: true }) ?? 0,
    async close() {
      const e = engine;
      engine = undefined;
      await e?.close();
    },
  };
}
