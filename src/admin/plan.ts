/**
 * What a reload would change: a pure diff of two validated configs' routes, upstreams and servers. Routes
 * are known by name (`routes[INDEX]` when unnamed), upstreams by name, servers by `host:port`.
 */
import { serverIdOf } from '../core/addresses.js';
import type { ReloadPlan } from '../core/services.js';

/** The parts of a config a plan looks at. */
export interface PlanConfig {
  routes: readonly { name?: string | undefined }[];
  upstreams: Readonly<Record<string, { servers: readonly (string | { url: string })[] }>>;
}

/** `host:port` of a server URL, the port spelled out (80/443 by default). */
export const serverId = serverIdOf;

function routeMap(cfg: PlanConfig): Map<string, string> {
  return new Map(cfg.routes.map((r, i) => [r.name ?? `routes[${i}]`, JSON.stringify(r)]));
}

function diffKeys(before: Map<string, string>, after: Map<string, string>): ReloadPlan['routes'] {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k));
  return { added, changed, removed };
}

function serverIds(cfg: PlanConfig, upstream: string): string[] {
  return (cfg.upstreams[upstream]?.servers ?? []).map((s) => serverId(typeof s === 'string' ? s : s.url));
}

/**
 * The plan from `before` to `after`. `inflight(upstream, id)` gives a server's requests in flight now (0 when
 * unknown), reported for the servers that would be drained.
 */
export function planReload(before: PlanConfig, after: PlanConfig, opts: { inflight?: (upstream: string, id: string) => number } = {}): ReloadPlan {
  const json = (cfg: PlanConfig): Map<string, string> =>
    new Map(Object.entries(cfg.upstreams).map(([name, u]) => [name, JSON.stringify(u)]));
  const plan: ReloadPlan = {
    routes: diffKeys(routeMap(before), routeMap(after)),
    upstreams: diffKeys(json(before), json(after)),
    drained: [],
    added_servers: [],
  };
  const names = new Set([...Object.keys(before.upstreams), ...Object.keys(after.upstreams)]);
  for (const upstream of names) {
    const old = serverIds(before, upstream);
    const next = new Set(serverIds(after, upstream));
    for (const id of old) {
      if (!next.has(id)) plan.drained.push({ upstream, id, inflight: opts.inflight?.(upstream, id) ?? 0 });
    }
    const had = new Set(old);
    for (const id of next) if (!had.has(id)) plan.added_servers.push({ upstream, id });
  }
  return plan;
}
