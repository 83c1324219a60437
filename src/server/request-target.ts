/**
 * RFC 9112 3.2: the request target, and its path's normal form. Origin-form (`/path?q`) is the norm; absolute-form
 * (`http://host/path`) is accepted, and its authority must agree with Host, or the request is refused
 * (a proxy that routes on one and forwards the other is a smuggling vector). Anything else but `*` is a 400.
 */
import { errors } from '../core/errors.js';
import { charCodeAt, includes } from '../core/strings.js';

/** The origin-form of an absolute-form target, or undefined when the target is already origin-form. */
export function originForm(target: string, hostHeader: string | undefined): string | undefined {
  if (charCodeAt(target, 0) === 47 /* / */) return undefined;
  if (target === '*') return undefined;
  const m = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(target);
  if (!m) throw errors.badRequest(new Error('request target is neither origin-form nor absolute-form'));
  const authority = m[1]!.toLowerCase();
  if (hostHeader === undefined || authority !== hostHeader.toLowerCase()) {
    throw errors.badRequest(new Error('absolute-form authority differs from Host'));
  }
  const rest = m[2]!;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The path every route, rule and backend sees (RFC 3986 6.2.2, as nginx normalises before matching): percent-
 * encoded unreserved characters decoded (`/%61dmin` is `/admin`) and other escapes upper-cased, repeated
 * slashes merged (nginx's merge_slashes), `.` segments removed. `..` is left for the request rules, which
 * refuse it. `%2F` stays encoded: it is data, not a separator.
 */
export function normalizePath(path: string): string {
  let out = path;
  if (out.includes('%')) {
    out = out.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
    });
  }
  if (out.includes('//')) out = out.replace(/\/{2,}/g, '/');
  if (out.includes('/.')) {
    const segs = out.split('/');
    const kept: string[] = [];
    for (let i = 0; i < segs.length; i++) {
      if (segs[i] !== '.') kept.push(segs[i]!);
      else if (i === segs.length - 1) kept.push(''); // `/a/.` is `/a/`
    }
    out = kept.join('/');
  }
  return out;
}

/**
 * The origin-form target routes and backends see, or undefined when `path` + `query` already is it: a fragment
 * dropped (RFC 9110 4.2.5: never part of a request target) and the path in its normal form.
 */
export function normalTarget(path: string, query: string): string | undefined {
  if (isNormal(path) && !includes(query, '#')) return undefined;
  let target = path + query;
  const hash = target.indexOf('#');
  if (hash !== -1) target = target.slice(0, hash);
  const q = target.indexOf('?');
  const p = q === -1 ? target : target.slice(0, q);
  const normal = normalizePath(p);
  if (normal === p && hash === -1) return undefined;
  return normal + (q === -1 ? '' : target.slice(q));
}

/** A path with nothing to normalise: no escape, fragment, `//` or `/.` (one pass instead of a search for each). */
function isNormal(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = charCodeAt(path, i);
    if (c === 37 /* % */ || c === 35 /* # */) return false;
    if (c === 47 /* / */) {
      const next = charCodeAt(path, i + 1);
      if (next === 47 || next === 46 /* . */) return false;
    }
  }
  return true;
}
