/**
 * The plugin registry: the built-in plugins in pipeline order, then the user's (`createGatehouse(config,
 * { plugins })`, `gatehouse run --plugin FILE`); the config schema composed from the user plugins' schemas;
 * the creation of every plugin of a generation, with cleanup when one fails. A user plugin's hooks are
 * guarded: a throw is logged with the plugin's name and fails only the request it happened in.
 *
 * Plugin order (= the order of hooks in every phase): tracing (every request gets its trace before any filter
 * can answer it), overload, tls (redirect_https, HSTS), access,
 * request_rules, auth, rate_limit, limits, routing, error_pages, then the user's plugins in the order given
 * (docs/plugins.md), access_log, metrics, recent_errors — refusals before any answer (a `respond` route is protected too), user
 * code after them, logging last.
 */
import { z } from 'zod';
import { errors, ProxyError } from './core/errors.js';
import type { RequestCtx } from './core/context.js';
import { hooksProblem, markUserPlugin, type NamedInstance } from './core/pipeline.js';
import type { AppServices, Awaitable, Hooks, Phases, PluginDef, PluginInstance } from './core/plugin.js';
import type { Logger } from 'pino';
import { accessLog, metricsPlugin, recentErrorsPlugin, tracing, type Metrics, type RecentErrors } from './observe/index.js';
import { packageVersion } from './admin-target.js';
import { access, auth, limits, rateLimits, rules, shedding, type RateShared } from './protect/index.js';
import { routing } from './routing/index.js';
import { errorPages } from './server/error-pages.js';
import { configSchemaWith, type configSchema, type GatehouseConfig, type RouteConfig } from './schema.js';
import { tls } from './tls/index.js';

/** Any plugin, whatever its config types: what `createGatehouse(config, { plugins })` takes. */
export type AnyPlugin = PluginDef<unknown, unknown>;

const NAME = /^[a-z][a-z0-9_]*$/;

function isZod(s: unknown): boolean {
  return typeof s === 'object' && s !== null && '_zod' in s && typeof (s as { safeParse?: unknown }).safeParse === 'function';
}

/** The built-in plugins' names, which user plugins may not take. */
const BUILT_IN = [tracing, shedding, tls, access, rules, auth, rateLimits, limits, routing, errorPages, accessLog, metricsPlugin, recentErrorsPlugin].map((p) => p.name);

/** Every plugin of a generation, in pipeline order: the built-ins with their parts of the config, then the user's. */
export function pluginSteps(
  config: GatehouseConfig, deps: { challenges: Map<string, string>; userPlugins: readonly AnyPlugin[]; shared?: RateShared | undefined; metrics?: Metrics | undefined;
    recentErrors?: RecentErrors | undefined },
): PluginStep[] {
  return [
    builtIn(tracing, { tracing: config.tracing, version: config.tracing?.otlp && packageVersion(), meter: deps.metrics?.meter }),
    builtIn(shedding, config.overload),
    builtIn(tls, { listeners: config.listeners, challenges: deps.challenges }),
    builtIn(access, config.access),
    builtIn(rules, config.request_rules),
    builtIn(auth, undefined),
    builtIn(rateLimits, deps.shared),
    builtIn(limits, config.limits),
    builtIn(routing, undefined),
    builtIn(errorPages, undefined),
    ...userSteps(deps.userPlugins, config),
    builtIn(accessLog, { ...config.access_log, trace_ids: config.tracing !== undefined }),
    builtIn(metricsPlugin, deps.metrics && { metrics: deps.metrics, upstreams: config.routes.map((r) => r.proxy?.upstream ?? '') }),
    builtIn(recentErrorsPlugin, deps.recentErrors),
  ];
}

/** The config schema for these user plugins (docs/plugins.md). Throws a TypeError for a malformed plugin list. */
export function configSchemaFor(plugins: readonly AnyPlugin[] = []): typeof configSchema {
  checkPlugins(plugins, BUILT_IN);
  return composeSchema(plugins);
}

/** Throws when a plugin is malformed, misnamed, or named like a built-in or another plugin. */
function checkPlugins(plugins: readonly AnyPlugin[], reserved: readonly string[]): void {
  const seen = new Set<string>();
  for (const p of plugins as readonly Partial<AnyPlugin>[]) {
    const name = p?.name;
    if (typeof name !== 'string' || typeof p.create !== 'function') {
      throw new TypeError(`not a plugin: ${String(name ?? p)} (expected definePlugin({ name, create, … }))`);
    }
    const bad = !NAME.test(name) ? 'a name must be snake_case (a-z, 0-9, _), as it is a config key'
      : reserved.includes(name) ? 'the name of a built-in plugin'
        : seen.has(name) ? 'given twice'
          : p.schema !== undefined && !isZod(p.schema) ? 'schema is not a zod 4 schema'
            : p.routeSchema !== undefined && !isZod(p.routeSchema) ? 'routeSchema is not a zod 4 schema' : undefined;
    if (bad) throw new TypeError(`plugin "${name}": ${bad}`);
    seen.add(name);
  }
}

/** The config schema for these plugins: `plugins.<name>` and `routes[].plugins.<name>` take their schemas,
 * and any other name there is an unknown key (with a did-you-mean). */
function composeSchema(plugins: readonly AnyPlugin[]): typeof configSchema {
  const global: Record<string, z.ZodType> = {};
  const route: Record<string, z.ZodType> = {};
  for (const p of plugins) {
    if (p.schema) global[p.name] = p.schema as z.ZodType;
    if (p.routeSchema) route[p.name] = (p.routeSchema as z.ZodType).optional();
  }
  return configSchemaWith({
    global: z.strictObject(global).prefault({}).describe('Settings of user plugins, by plugin name; see docs/plugins.md'),
    route: z.strictObject(route).optional().describe("This route's settings of user plugins, by plugin name; see docs/plugins.md"),
  });
}

/** Options of `loadConfig` and `parseConfig`. */
export interface ConfigOptions {
  /** The user plugins whose settings (`plugins.<name>`, `routes[].plugins.<name>`) the config may hold; give
   * `createGatehouse` the same list. Without it, any plugin settings are unknown keys. */
  plugins?: readonly AnyPlugin[] | undefined;
}

/** True when a config validated for `seen` plugins may be used with `plugins` (the same ones, in order). */
export function validatedFor(seen: readonly AnyPlugin[], plugins: readonly AnyPlugin[]): true {
  if (seen.length === plugins.length && seen.every((p, i) => p === plugins[i])) return true;
  const names = (l: readonly AnyPlugin[]): string => `[${l.map((p) => p.name).join(', ')}]`;
  throw new TypeError(`this config was validated for plugins ${names(seen)}, not ${names(plugins)}: give loadConfig/parseConfig the plugins given to createGatehouse`);
}

/** One plugin to create for a generation. */
export interface PluginStep { name: string; create(app: AppServices): Awaitable<PluginInstance<RouteConfig>> }

/** A built-in plugin with its part of the config; its `forRoute` reads the whole route (R: the part it reads). */
function builtIn<C, R>(def: PluginDef<C, R> & (RouteConfig extends R ? unknown : never), cfg: C): PluginStep {
  return { name: def.name, create: (app) => def.create(cfg, app) as Awaitable<PluginInstance<RouteConfig>> };
}

/** The user plugins, each with its `plugins.<name>` settings and a logger that names it. */
function userSteps(plugins: readonly AnyPlugin[], config: GatehouseConfig): PluginStep[] {
  return plugins.map((p) => ({
    name: p.name,
    async create(app) {
      const own: AppServices = { ...app, log: app.log.child({ plugin: p.name }) };
      const inst = await p.create(config.plugins[p.name], own);
      try {
        return userInstance(p.name, inst, own.log, config.routes);
      } catch (err) {
        await inst.close?.();
        throw err;
      }
    },
  }));
}

/** Creates the plugins in order; when one fails, closes those already created and names the failing one. */
export async function createPlugins(steps: readonly PluginStep[], app: AppServices): Promise<NamedInstance<RouteConfig>[]> {
  const out: NamedInstance<RouteConfig>[] = [];
  for (const s of steps) {
    try {
      out.push({ name: s.name, instance: await s.create(app) });
    } catch (err) {
      await closePlugins(out, app);
      throw new Error(`plugin "${s.name}" failed to start: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
  return out;
}

/** Closes plugins in reverse order of creation; a failing close() is logged, not thrown. */
export async function closePlugins(plugins: readonly NamedInstance<RouteConfig>[], app: Pick<AppServices, 'log'>): Promise<void> {
  for (const p of [...plugins].reverse()) {
    try {
      await p.instance.close?.();
    } catch (err) {
      app.log.error({ err, plugin: p.name }, 'plugin close failed');
    }
  }
}

/**
 * A user plugin as the pipeline sees it. Its route hooks are asked for now, with `routes[].plugins.<name>`,
 * so that a bad hook (an unknown phase, a throwing forRoute) fails the plugin's creation; all are guarded.
 */
function userInstance(name: string, inst: PluginInstance<unknown>, log: Logger, routes: readonly RouteConfig[]): PluginInstance<RouteConfig> {
  const blame = blamer(name, log);
  const checked = (hooks: Hooks | undefined): Hooks | undefined => {
    if (!hooks) return undefined;
    const problem = hooksProblem(hooks);
    if (problem) throw new TypeError(problem);
    return guard(blame, hooks);
  };
  const global = checked(inst.global);
  const perRoute = routes.map((route, index) => {
    const own = route.plugins?.[name];
    return own === undefined ? undefined : checked(inst.forRoute?.(own, index));
  });
  const out: PluginInstance<RouteConfig> = {
    ...(global ? { global } : {}),
    forRoute: (_route, index) => perRoute[index],
    close: () => inst.close?.(),
  };
  // With hooks anywhere, it may change what the proxy's own fields are made of (CompiledPhases.userHooks).
  return global || perRoute.some((h) => h !== undefined) ? markUserPlugin(out) : out;
}

type Blame = (ctx: RequestCtx | undefined, phase: string, err: unknown) => ProxyError;

function blamer(plugin: string, log: Logger): Blame {
  return (ctx, phase, err) => {
    // A ProxyError is the plugin's answer (401, 429…); anything else is a bug, logged with the plugin's name.
    if (err instanceof ProxyError) return err;
    (ctx ? ctx.log : log).error({ err, plugin, phase }, 'plugin hook failed');
    return errors.internal(err);
  };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | undefined)?.then === 'function';
}

/** Only earlyRequestFilter and requestFilter are awaited; a promise from another phase is a bug. */
function notAwaited(blame: Blame, ctx: RequestCtx, phase: string, v: unknown): ProxyError | undefined {
  if (!isThenable(v)) return undefined;
  Promise.resolve(v).catch(() => {});
  return blame(ctx, phase, new TypeError(`${phase} returned a promise: this phase is synchronous and does not wait for it`));
}

function guardVerdict(blame: Blame, phase: 'earlyRequestFilter' | 'requestFilter', h: Phases[typeof phase]): Phases[typeof phase] {
  return (ctx) => {
    try {
      const v = h(ctx);
      return v instanceof Promise ? v.catch((err: unknown) => { throw blame(ctx, phase, err); }) : v;
    } catch (err) {
      // A synchronous throw becomes a rejection, which the pipeline turns into the error reply.
      return Promise.reject(blame(ctx, phase, err));
    }
  };
}

/** Wraps each hook so that a throw is logged with the plugin's name and fails only its request. */
function guard(blame: Blame, hooks: Hooks): Hooks {
  const out: Record<string, unknown> = { ...hooks }; // unknown phases stay, for the pipeline to refuse
  const h = hooks;
  if (h.earlyRequestFilter) out.earlyRequestFilter = guardVerdict(blame, 'earlyRequestFilter', h.earlyRequestFilter);
  if (h.requestFilter) out.requestFilter = guardVerdict(blame, 'requestFilter', h.requestFilter);
  if (h.connectionFilter) {
    const f = h.connectionFilter;
    out.connectionFilter = ((socket) => {
      try { return f(socket) !== false; } catch (err) { blame(undefined, 'connectionFilter', err); return false; }
    }) satisfies Phases['connectionFilter'];
  }
  if (h.upstreamPeer) {
    const f = h.upstreamPeer;
    out.upstreamPeer = ((ctx, choice) => {
      try {
        const p = f(ctx, choice);
        return notAwaited(blame, ctx, 'upstreamPeer', p) ? undefined : p;
      } catch (err) { blame(ctx, 'upstreamPeer', err); return undefined; }
    }) satisfies Phases['upstreamPeer'];
  }
  if (h.upstreamRequestFilter) {
    const f = h.upstreamRequestFilter;
    // Fails closed: the request is not sent without the plugin's changes (a signature, a credential).
    out.upstreamRequestFilter = ((ctx, req) => {
      let v: unknown;
      try { v = f(ctx, req); } catch (err) { throw blame(ctx, 'upstreamRequestFilter', err); }
      const late = notAwaited(blame, ctx, 'upstreamRequestFilter', v);
      if (late) throw late;
    }) satisfies Phases['upstreamRequestFilter'];
  }
  if (h.responseFilter) {
    const f = h.responseFilter;
    out.responseFilter = ((ctx, res) => {
      try { notAwaited(blame, ctx, 'responseFilter', f(ctx, res)); } catch (err) { blame(ctx, 'responseFilter', err); }
    }) satisfies Phases['responseFilter'];
  }
  if (h.errorFilter) {
    const f = h.errorFilter;
    out.errorFilter = ((ctx, err) => {
      try {
        const r = f(ctx, err);
        return notAwaited(blame, ctx, 'errorFilter', r) ? undefined : r;
      } catch (e) { blame(ctx, 'errorFilter', e); return undefined; }
    }) satisfies Phases['errorFilter'];
  }
  if (h.logging) {
    const f = h.logging;
    out.logging = ((ctx, err) => {
      try { f(ctx, err); } catch (e) { blame(ctx, 'logging', e); }
    }) satisfies Phases['logging'];
  }
  return out as Hooks;
}
