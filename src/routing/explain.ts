/** Why a route does or does not match a request: the words `gatehouse explain` prints. */
import type { DownstreamRequest } from '../core/downstream.js';
import { conditionMismatch, type CompiledRoute } from './table.js';
import type { MatchConfig } from './schema.js';

const asList = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T]);

export interface RouteVerdict { matches: boolean; reason: string }

function hostVerdict(patterns: readonly string[], host: string): RouteVerdict {
  if (patterns.length === 0) return { matches: true, reason: 'any host' };
  for (const p of patterns.map((x) => x.toLowerCase())) {
    if (p === host) return { matches: true, reason: `host ${host} = ${p}` };
    if (p.startsWith('*.') && host.endsWith(p.slice(1))) return { matches: true, reason: `host ${host} matches wildcard ${p}` };
  }
  return { matches: false, reason: `host ${host || '(none)'} is not ${patterns.join(' or ')}` };
}

function pathVerdict(m: MatchConfig, path: string): RouteVerdict {
  if (m.path_exact !== undefined) {
    if (m.path_exact === path) return { matches: true, reason: `path = ${m.path_exact}` };
    const toggled = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
    return m.path_exact === toggled && path.length > 1
      ? { matches: true, reason: `path = ${m.path_exact} but for a trailing slash (one resource to Express and Spring)` }
      : { matches: false, reason: `path ${path} is not exactly ${m.path_exact}` };
  }
  if (m.path_regex !== undefined) {
    return new RegExp(m.path_regex).test(path)
      ? { matches: true, reason: `path matches /${m.path_regex}/` }
      : { matches: false, reason: `path ${path} does not match /${m.path_regex}/` };
  }
  const prefix = m.path ?? '/';
  const ok = path === prefix || (path.startsWith(prefix) && (prefix.endsWith('/') || path.charCodeAt(prefix.length) === 47));
  return ok
    ? { matches: true, reason: m.path === undefined ? 'any path' : `path has prefix ${prefix} (${prefix.length} chars)` }
    : { matches: false, reason: `path ${path} is not under ${prefix}` };
}

/** Every condition of one route against the request, in words. */
export function explainRoute<R>(
  route: CompiledRoute<R>, match: MatchConfig, req: { host: string; path: string; method: string; listener: string; msg: DownstreamRequest },
): RouteVerdict {
  const listeners = asList(match.listener);
  if (listeners.length && !listeners.includes(req.listener)) return { matches: false, reason: `only on listener ${listeners.join(', ')}` };
  const h = hostVerdict(asList(match.host), req.host);
  if (!h.matches) return h;
  const p = pathVerdict(match, req.path);
  if (!p.matches) return p;
  const c = conditionMismatch(route, req.method, req.msg);
  if (c) return { matches: false, reason: c };
  const extra = [route.methods ? `method ${req.method}` : '', route.headerChecks.length ? 'headers match' : ''].filter(Boolean);
  return { matches: true, reason: [h.reason, p.reason, ...extra].join('; ') };
}
