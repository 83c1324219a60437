/**
 * What the admin API (admin/) sees of a running Gatehouse: the `AdminTarget` the composition root hands it.
 * Servers are listed, and changed, through the process-level upstream registry (upstream/registry.ts); without
 * one (an AdminTarget made elsewhere) the listing falls back to `upstreams()` and changes answer 501.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { AdminError, createOverlay, planReload, serverId, type Overlay } from './admin/index.js';
import { normalUrl, type CacheEngine, type PurgeRequest } from './cache/index.js';
import { PurgeError, type AdminCache, type AdminRegistry, type CachePurge, type AdminRoute, type AdminTarget, type CacheControl, type UpstreamInfo } from './core/services.js';
import { isSecret, toJsonSchema, type JsonSchema } from './config/json-schema.js';
import { configSchema, type GatehouseConfig } from './schema.js';
import type { UpstreamStatus } from './gatehouse.js';
import type { ConfigLoad, MetricFamily, RecentError } from './core/figures.js';
import type { ReloadLog } from './observe/index.js';

export interface TargetDeps {
  config(): GatehouseConfig;
  /** 1 at start, one more for each config swapped in. */
  version(): number;
  /** Every upstream (a group of workers answers later: cluster/primary.ts). */
  upstreams(): UpstreamStatus[] | Promise<UpstreamStatus[]>;
  ready(): boolean;
  /** Reads and validates the config file; undefined when the proxy has none. */
  load: (() => Promise<GatehouseConfig>) | undefined;
  apply(config: GatehouseConfig): Promise<void>;
  /** The registry the admin API changes (with the overlay recording its changes). */
  registry?: AdminRegistry | undefined;
  /** The cache, when a config has made one. */
  cache?: () => AdminCache | undefined;
  /** Replaces the worker processes one by one (`POST /api/restart`): a group of workers only. */
  restart?: () => Promise<{ workers: number }>;
  /** `GET /metrics` (observe/metrics.ts). */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /** The same as JSON, and the last 5xx requests: the dashboard's figures (admin/ui/). */
  metricsJson?: () => Promise<readonly MetricFamily[]>;
  recentErrors?: () => readonly RecentError[] | Promise<readonly RecentError[]>;
  /** Where reloads are counted: `apply` counts its own; a file that fails to load is counted here. */
  reloads?: Pick<ReloadLog, 'failed' | 'last'> | undefined;
}

/**
 * The overlay of API changes (admin/overlay.ts) for a proxy with an admin API: `admin.state_file` (relative to
 * the config file), by default the config file's path + `.state.json`; none without either.
 */
export function adminOverlay(cfg: GatehouseConfig, configPath: string | undefined, log: Logger, opts: { readOnly?: boolean } = {}): Overlay | undefined {
  const f = cfg.admin?.state_file;
  if (!cfg.admin || (f === undefined && configPath === undefined)) return undefined;
  const file = f !== undefined ? resolve(configPath ? dirname(resolve(configPath)) : process.cwd(), f) : `${resolve(configPath!)}.state.json`;
  return createOverlay(file, log, opts);
}

/** The package's version, for the OpenAPI document. */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

async function listUpstreams(deps: TargetDeps): Promise<UpstreamInfo[]> {
  return (await deps.upstreams()).map((u) => ({
    name: u.name,
    servers: u.servers.map((s) => ({
      id: serverId(s.url), url: s.url, weight: s.weight, backup: s.backup, up: s.up, health: s.health,
      inflight: s.inflight, latency_ms: s.latency_ms, draining: false, idle: false, source: 'file' as const, sources: ['file' as const],
    })),
  }));
}

function listRoutes(cfg: GatehouseConfig): AdminRoute[] {
  return cfg.routes.map((r, index) => {
    const action = r.proxy ? 'proxy' : r.respond ? 'respond' : r.redirect ? 'redirect' : 'none';
    return { id: r.name ?? `routes[${index}]`, index, match: r.match, action, ...(r.proxy ? { upstream: r.proxy.upstream } : {}) };
  });
}

/**
 * A purge request checked and normalised as the cache indexes URLs (cache/keys.ts `urlOf`): exactly one of url,
 * prefix or tag; throws a PurgeError otherwise.
 */
export function normalPurge(req: CachePurge): PurgeRequest {
  const kinds = (['url', 'prefix', 'tag'] as const).filter((k) => req[k] !== undefined);
  if (kinds.length !== 1) {
    throw new PurgeError(`a purge names exactly one of "url", "prefix" or "tag" (got ${kinds.length ? kinds.map((k) => `"${k}"`).join(', ') : 'none'})`);
  }
  const kind = kinds[0]!;
  const value = req[kind];
  if (typeof value !== 'string' || value.trim() === '') throw new PurgeError(`"${kind}" must be a non-empty string`);
  if (req.soft !== undefined && typeof req.soft !== 'boolean') throw new PurgeError('"soft" must be true or false');
  const soft = req.soft === true;
  if (kind === 'tag') return { tag: value, soft };
  const url = normalUrl(value);
  if (url === undefined) {
    throw new PurgeError(`"${kind}" must be an absolute http:// or https:// URL such as http://example.com/img/a.png (got ${JSON.stringify(value)})`);
  }
  return { [kind]: url, soft };
}

export function cacheControl(engine: CacheEngine): CacheControl {
  return {
    purge: (req) => engine.purge(normalPurge(req)),
    stats: () => engine.report(),
  };
}

let schemaJson: JsonSchema | undefined;

/** The config with every secret (`writeOnly` in the schema: JWT secrets, password hashes) shown as `[redacted]`. */
function redact(v: unknown, path: (string | number)[] = []): unknown {
  schemaJson ??= toJsonSchema(configSchema);
  if (path.length && isSecret(schemaJson, path)) return '[redacted]';
  if (Array.isArray(v)) return v.map((x, i) => redact(x, [...path, i]));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redact(x, [...path, k])]));
  return v;
}

export function adminTarget(deps: TargetDeps): AdminTarget {
  let queue: Promise<unknown> = Promise.resolve();
  // The start, until the reload log (`deps.reloads`, which every reload goes through) has an entry.
  const started: ConfigLoad = { time: Date.now(), ok: true, version: deps.version(), source: 'start' };
  const hashOf = (cfg: GatehouseConfig): string => createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 16);
  return {
    upstreams: () => (deps.registry ? deps.upstreams() : listUpstreams(deps)),
    routes: () => listRoutes(deps.config()),
    config() {
      const last = deps.reloads?.last();
      return { version: deps.version(), hash: hashOf(deps.config()), config: redact(deps.config()), ...(last ? { last_reload: last } : {}) };
    },
    ready: () => deps.ready(),
    registry: deps.registry,
    cache: () => deps.cache?.(),
    ...(deps.restart ? { restart: deps.restart } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.metricsJson ? { metricsJson: deps.metricsJson } : {}),
    ...(deps.recentErrors ? { recentErrors: deps.recentErrors } : {}),
    // Every reload (SIGHUP, file, API) as the reload log has it; before the first, the start.
    lastReload() {
      const r = deps.reloads?.last();
      if (!r) return started;
      return { time: Date.parse(r.at), ok: r.result === 'success', version: r.version, source: 'reload', ...(r.error ? { error: r.error.split('\n')[0]! } : {}) };
    },
    reload({ plan: only }) {
      const load = deps.load;
      if (!load) return Promise.reject(new AdminError(409, 'GH_ADMIN_NO_CONFIG_FILE', 'this proxy was not started from a config file: there is nothing to reload'));
      // One reload at a time: each plan is made against the config the previous one left in force.
      const run = queue.then(async () => {
        const next = await load().catch((err: unknown) => {
          if (!only) deps.reloads?.failed(err);
          throw err;
        });
        const inflight = new Map((await listUpstreams(deps)).flatMap((u) => u.servers.map((s) => [`${u.name} ${s.id}`, s.inflight] as const)));
        const plan = planReload(deps.config(), next, { inflight: (u, id) => inflight.get(`${u} ${id}`) ?? 0 });
        if (!only) await deps.apply(next);
        return { applied: !only, plan, version: deps.version() };
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
