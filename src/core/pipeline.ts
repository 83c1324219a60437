/**
 * The pipeline, compiled at config load: per route, one array per phase holding only the hooks that apply.
 * A hook that returns a plain value continues synchronously; only a returned promise is awaited, so a request
 * that needs nothing asynchronous makes no microtask hops.
 */
import type { RequestCtx } from './context.js';
import type { Awaitable, Hooks, Phases, PluginInstance, Verdict } from './plugin.js';

export interface CompiledPhases {
  readonly connectionFilter: Phases['connectionFilter'][];
  readonly earlyRequestFilter: Phases['earlyRequestFilter'][];
  readonly requestFilter: Phases['requestFilter'][];
  readonly upstreamPeer: Phases['upstreamPeer'][];
  readonly upstreamRequestFilter: Phases['upstreamRequestFilter'][];
  readonly responseFilter: Phases['responseFilter'][];
  readonly errorFilter: Phases['errorFilter'][];
  readonly logging: Phases['logging'][];
  /**
   * A user plugin with hooks runs in this generation (on any route, in any phase): it may have changed the
   * client's fields, the values read from them or the connection's own (its address), on this request or on an
   * earlier one of the same connection, so the upstream client tests every field it sends.
   */
  readonly userHooks: boolean;
}

/** User plugins with hooks (plugins.ts marks them): code that is not the kernel's own. */
const userPlugins = new WeakSet<PluginInstance<unknown>>();

/** Marks `instance` as a user plugin's with hooks (CompiledPhases.userHooks). */
export function markUserPlugin<R>(instance: PluginInstance<R>): PluginInstance<R> {
  userPlugins.add(instance as PluginInstance<unknown>);
  return instance;
}

const PHASES = ['connectionFilter', 'earlyRequestFilter', 'requestFilter', 'upstreamPeer', 'upstreamRequestFilter', 'responseFilter', 'errorFilter', 'logging'] as const;

function empty<R>(plugins: readonly NamedInstance<R>[]): CompiledPhases {
  const userHooks = plugins.some((p) => userPlugins.has(p.instance as PluginInstance<unknown>));
  return { connectionFilter: [], earlyRequestFilter: [], requestFilter: [], upstreamPeer: [], upstreamRequestFilter: [], responseFilter: [], errorFilter: [], logging: [], userHooks };
}

/** Why `hooks` cannot be compiled (a phase that does not exist: a typo would otherwise never run), or undefined. */
export function hooksProblem(hooks: Hooks): string | undefined {
  const bad = Object.keys(hooks).find((key) => !(PHASES as readonly string[]).includes(key));
  if (bad !== undefined) return `unknown phase "${bad}" (phases: ${PHASES.join(', ')})`;
  const notFn = Object.entries(hooks).find(([, h]) => h !== undefined && typeof h !== 'function');
  return notFn && `${notFn[0]} is not a function`;
}

function add(target: CompiledPhases, hooks: Hooks | undefined, plugin: string): void {
  if (!hooks) return;
  const problem = hooksProblem(hooks);
  if (problem) throw new Error(`plugin ${plugin}: ${problem}`);
  for (const phase of PHASES) {
    const h = hooks[phase];
    if (h) (target[phase] as unknown[]).push(h);
  }
}

export interface NamedInstance<R> { name: string; instance: PluginInstance<R> }

/** Phases for requests that match no route: the plugins' global hooks only. */
export function compileGlobal<R>(plugins: readonly NamedInstance<R>[]): CompiledPhases {
  const out = empty(plugins);
  for (const p of plugins) add(out, p.instance.global, p.name);
  return out;
}

/** Phases for one route: each plugin's global hooks and its hooks for this route, in registration order. */
export function compileRoute<R>(plugins: readonly NamedInstance<R>[], route: R, index: number): CompiledPhases {
  const out = empty(plugins);
  for (const p of plugins) {
    add(out, p.instance.global, p.name);
    add(out, p.instance.forRoute?.(route, index), p.name);
  }
  return out;
}

/** Runs verdict filters from `from`; the first Reply wins. Stays synchronous until a hook returns a promise. */
export function runVerdicts(
  filters: readonly ((ctx: RequestCtx) => Awaitable<Verdict>)[], ctx: RequestCtx, from = 0,
): Awaitable<Verdict> {
  for (let i = from; i < filters.length; i++) {
    const v = filters[i]!(ctx);
    if (v instanceof Promise) return v.then((r) => r ?? runVerdicts(filters, ctx, i + 1));
    if (v !== undefined) return v;
  }
  return undefined;
}
