/**
 * Request rules. The defaults refuse what no backend should have to interpret (400): a path that climbs
 * out with `..` once percent-decoded (`/a/%2e%2e/admin`, `..%2f`, backslashes), a NUL byte anywhere in the
 * target, malformed percent-encoding, an oversized Cookie. Configured `deny` / `allow` rules match method,
 * decoded path, query, headers and user agent (403).
 */
import type { RequestCtx } from '../core/context.js';
import { errors } from '../core/errors.js';
import { denyReadings, spellingOf } from '../core/spelling.js';
import type { RequestRulesConfig } from './schema.js';

type Rule = RequestRulesConfig['deny'][number];
type Compiled = (ctx: RequestCtx, decodedPath: string) => boolean;

function compile(rule: Rule): Compiled {
  const methods = rule.method?.map((m) => m.toUpperCase());
  const path = rule.path !== undefined ? new RegExp(rule.path) : undefined;
  const query = rule.query !== undefined ? new RegExp(rule.query) : undefined;
  const ua = rule.user_agent !== undefined ? new RegExp(rule.user_agent) : undefined;
  const headers = Object.entries(rule.headers ?? {}).map(([n, re]) => [n.toLowerCase(), new RegExp(re)] as const);
  return (ctx, decodedPath) => {
    if (methods && !methods.includes(ctx.req.method)) return false;
    if (path && !path.test(decodedPath)) return false;
    if (query && !query.test(ctx.query.slice(1))) return false;
    if (ua && !ua.test(ctx.req.header('user-agent') ?? '')) return false;
    for (const [n, re] of headers) {
      const v = ctx.req.header(n);
      if (v === undefined || !re.test(v)) return false;
    }
    return true;
  };
}


/** Decodes the path as a backend would; undefined when the percent-encoding is malformed. */
function decodePath(path: string): string | undefined {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

const TRAVERSAL = /(^|[/\\])\.\.([/\\]|$)/;

export function requestRules(cfg: RequestRulesConfig): (ctx: RequestCtx) => undefined {
  const deny = cfg.deny.map(compile);
  const allow = cfg.allow?.map(compile);
  const maxCookie = cfg.max_cookie_size;
  return (ctx) => {
    const decoded = decodePath(ctx.path);
    if (cfg.defaults) {
      if (decoded === undefined) throw errors.requestBlocked(new Error('malformed percent-encoding'));
      if (decoded.includes('..') && TRAVERSAL.test(decoded)) throw errors.requestBlocked(new Error('path traversal'));
      if (decoded.includes('\0') || ctx.query.includes('%00')) throw errors.requestBlocked(new Error('NUL byte'));
      // From the head's single pass: reading req.headers here would build the headers object per request.
      if (ctx.head.cookieLength > maxCookie) throw errors.requestBlocked(new Error('oversized cookie'));
    }
    const path = decoded ?? ctx.path;
    for (let i = 0; i < deny.length; i++) if (deny[i]!(ctx, path)) throw errors.requestDenied();
    // A deny rule holds for every spelling a backend may read as the same path (case, ;params, decoded twice).
    if (deny.length && decoded !== undefined && spellingOf(ctx.path) !== undefined) {
      for (const alt of denyReadings(ctx.path)) for (const rule of deny) if (rule(ctx, alt)) throw errors.requestDenied();
    }
    if (allow && !allow.some((rule) => rule(ctx, path))) throw errors.requestDenied();
    return undefined;
  };
}
