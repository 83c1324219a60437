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
   * A user plugin has a hook here that sees the request (any phase but connectionFilter): it may have changed
   * the client's fields or the values read from them, so the upstream client tests every field it sends.
   */
  readonly userHooks: boolean;
}

/** The hooks of user plugins (plugins.ts marks them): code that is not the kernel's own. */
const userHooks = new WeakSet<Hooks>();

/** Marks `hooks` as a user plugin's (CompiledPhases.userHooks). */
export function markUserHooks(hooks: Hooks): Hooks {
  userHooks.add(hooks);
  return hooks;
}

const PHASES = ['connectionFilter', 'earlyRequestFilter', 'requestFilter', 'upstreamPeer', 'upstreamRequestFilter', 'responseFilter', 'errorFilter', 'logging'] as const;

function empty(): CompiledPhases {
  return { connectionFilter: [], earlyRequestFilter: [], requestFilter: [], upstreamPeer: [], upstreamRequestFilter: [], responseFilter: [], errorFilter: [], logging: [], userHooks: false };
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
    if (!h) continue;
    (target[phase] as unknown[]).push(h);
    if (phase !== 'connectionFilter' && userHooks.has(hooks)) (target as { userHooks: boolean }).userHooks = true;
  }
}

export interface NamedInstance<R> { name: string; instance: PluginInstance<R> }

/** Phases for requests that match no route: the plugins' global hooks only. */
export function compileGlobal<R>(plugins: readonly NamedInstance<R>[]): CompiledPhases {
  const out = empty();
  for (const p of plugins) add(out, p.instance.global, p.name);
  return out;
}

/** Phases for one route: each plugin's global hooks and its hooks for this route, in registration order. */
export function compileRoute<R>(plugins: readonly NamedInstance<R>[], route: R, index: number): CompiledPhases {
  const out = empty();
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
