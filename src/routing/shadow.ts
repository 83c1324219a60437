/**
 * Routes that can never be chosen: an earlier route has the same host, path and listener scope and no
 * narrower condition, so it wins every request the later one would match (ties go by config order).
 */
import type { MatchConfig } from './schema.js';

const asList = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T]);

/** The table key a route is filed under: its path kind and value. */
function pathKey(m: MatchConfig): string {
  if (m.path_exact !== undefined) return `exact ${m.path_exact}`;
  if (m.path_regex !== undefined) return `regex ${m.path_regex}`;
  return `prefix ${m.path ?? '/'}`;
}

const lower = (v: string | readonly string[] | undefined): string[] => asList(v).map((s) => s.toLowerCase());

/** Every request `later` matches, `earlier` matches too. */
function covers(earlier: MatchConfig, later: MatchConfig): boolean {
  if (pathKey(earlier) !== pathKey(later)) return false;
  const [eh, lh] = [lower(earlier.host), lower(later.host)];
  // A route with hosts is tried before one without: only the same kind of host condition can shadow.
  if ((eh.length === 0) !== (lh.length === 0) || !lh.every((h) => eh.includes(h))) return false;
  const [el, ll] = [asList(earlier.listener), asList(later.listener)];
  if (el.length && (ll.length === 0 || !ll.every((l) => el.includes(l)))) return false;
  const [em, lm] = [lower(earlier.method), lower(later.method)];
  if (em.length && (lm.length === 0 || !lm.every((m) => em.includes(m)))) return false;
  const laterHeaders = later.headers ?? {};
  return Object.entries(earlier.headers ?? {}).every(([name, cond]) => {
    const same = Object.entries(laterHeaders).find(([n]) => n.toLowerCase() === name.toLowerCase());
    return same !== undefined && JSON.stringify(same[1]) === JSON.stringify(cond);
  });
}

/** Each route that can never be chosen, with the earlier route that takes its requests. */
export function shadowedRoutes(routes: readonly { match: MatchConfig }[]): { index: number; by: number }[] {
  const out: { index: number; by: number }[] = [];
  routes.forEach((r, j) => {
    const by = routes.slice(0, j).findIndex((e) => covers(e.match, r.match));
    if (by !== -1) out.push({ index: j, by });
  });
  return out;
}
