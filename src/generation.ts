/**
 * One config generation: the plugins made for a config, each route's compiled phases and actions, the route
 * table of each listener. The composition root (gatehouse.ts) builds one per config swapped in and retires the
 * one it replaces.
 */
import { compileGlobal, compileRoute, type NamedInstance } from './core/pipeline.js';
import type { AppServices } from './core/plugin.js';
import { blockList } from './core/addresses.js';
import type { FailureLog, Metrics, RecentErrors } from './observe/index.js';
import { closePlugins, createPlugins, pluginSteps, type AnyPlugin } from './plugins.js';
import type { RateShared } from './protect/index.js';
import { RouteTable, type RouteInput } from './routing/index.js';
import type { RoutePipeline, Runtime } from './server/handler.js';
import { goAwayUpgrades } from './server/listen.js';
import type { GatehouseConfig, RouteConfig } from './schema.js';
import { hiddenResponseHeaders, type UpstreamRuntime } from './upstream/index.js';
import { cacheHolder, proxyAction, webSocketAction, type ActionDeps } from './actions.js';
import type { sharedStateHolder } from './cluster/index.js';
import type { upstreamRegistry } from './registry.js';

export interface Generation {
  config: GatehouseConfig;
  runtime: Runtime;
  upstreams: Map<string, UpstreamRuntime>;
  plugins: NamedInstance<RouteConfig>[];
  /** Counts this generation's requests in flight until it is retired. */
  metrics?: Metrics | undefined;
}

export type GenerationDeps = AppServices & {
  challenges: Map<string, string>; failures: FailureLog; userPlugins: readonly AnyPlugin[]; registry: ReturnType<typeof upstreamRegistry>;
  cache: ReturnType<typeof cacheHolder>; shared: ReturnType<typeof sharedStateHolder>; rates: RateShared | undefined;
  /** Each generation by its runtime (layer 4 listeners find their settings and upstreams through it). */
  generations: WeakMap<Runtime, Generation>;
  /** The instance's metrics (process lifetime): each generation's in-flight count is summed while it lives. */
  metrics?: Metrics | undefined;
  /** The instance's last 5xx requests (process lifetime), for the dashboard. */
  recentErrors?: RecentErrors | undefined;
};

export async function buildGeneration(config: GatehouseConfig, deps: GenerationDeps): Promise<Generation> {
  const { log, baseDir, challenges, failures } = deps;
  const app: AppServices = { log, baseDir, address: deps.address };
  await deps.cache.prepare(config);
  const plugins = await createPlugins(pluginSteps(config, { challenges, userPlugins: deps.userPlugins, shared: deps.shared.get(config) ?? deps.rates, metrics: deps.metrics, recentErrors: deps.recentErrors }), app);
  // References into the registry, which `apply` brings to this config when the generation is swapped in.
  const upstreams = new Map<string, UpstreamRuntime>();
  for (const [name, u] of Object.entries(config.upstreams)) upstreams.set(name, deps.registry.runtime(name, u));
  const hidden = hiddenResponseHeaders(config.hide_headers);
  const actionDeps: ActionDeps = { config, upstreams, hidden, cache: () => deps.cache.get() };

  const pipelines: RouteInput<RoutePipeline>[] = config.routes.map((route, index) => {
    const phases = compileRoute(plugins, route, index);
    const id = route.name ?? `routes[${index}]`;
    const action: RoutePipeline['action'] = route.proxy ? proxyAction({ ...route, proxy: route.proxy }, id, phases, actionDeps) : undefined;
    const upgrade = route.proxy ? webSocketAction({ ...route, proxy: route.proxy }, phases, actionDeps) : undefined;
    return { id, index, match: route.match, config: { ref: { id, index }, phases, action, upgrade } };
  });
  const tables = new Map<string, RouteTable<RoutePipeline>>();
  for (const l of config.listeners) {
    const mine = pipelines.filter((p) => {
      const only = p.match.listener;
      return only === undefined || (Array.isArray(only) ? only.includes(l.name) : only === l.name);
    });
    tables.set(l.name, new RouteTable(mine, { paths: config.paths }));
  }
  const trusted = config.trusted_proxies.length ? blockList(config.trusted_proxies) : undefined;
  const runtime: Runtime = {
    tables, global: compileGlobal(plugins), trusted, log, logFailure: failures.failed, draining: false, inflight: 0, idleWaiters: [],
    meter: deps.metrics?.meter,
  };
  const gen: Generation = { config, runtime, upstreams, plugins, metrics: deps.metrics };
  deps.generations.set(runtime, gen);
  deps.metrics?.track(runtime);
  return gen;
}

export async function retire(gen: Generation, timeoutMs: number): Promise<void> {
  // A retired config's WebSockets close (Close 1001) halfway through its grace, as Caddy's do on reload.
  goAwayUpgrades(gen.runtime, Math.floor(timeoutMs / 2));
  if (gen.runtime.inflight > 0) {
    await new Promise<void>((r) => {
      const t = setTimeout(r, timeoutMs); // ref'd: the retiring generation is waited for
      gen.runtime.idleWaiters.push(() => { clearTimeout(t); r(); });
    });
  }
  gen.metrics?.untrack(gen.runtime);
  await closePlugins(gen.plugins, gen.runtime);
}
