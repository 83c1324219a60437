/** Path rewriting, compiled at config load into one function per route. */
import type { RewriteConfig } from './schema.js';
import { charCodeAt, slice, startsWith } from '../core/strings.js';

export type PathRewriter = (path: string) => string;

function stripPrefix(prefix: string): PathRewriter {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return (path) => {
    if (!startsWith(path, p)) return path;
    const c = charCodeAt(path, p.length);
    if (path.length === p.length) return '/';
    if (c !== 47 /* / */) return path; // `/api` strips from `/api/x`, not from `/apix`
    return slice(path, p.length);
  };
}

function addPrefix(prefix: string): PathRewriter {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return (path) => (path === '/' ? `${p}/` : p + path);
}

/** Builds the rewriter for a route; undefined when the route does not rewrite. Order: strip, replace, regex, add. */
export function compileRewrite(cfg: RewriteConfig | undefined): PathRewriter | undefined {
  if (!cfg) return undefined;
  const steps: PathRewriter[] = [];
  if (cfg.strip_prefix) steps.push(stripPrefix(cfg.strip_prefix));
  if (cfg.replace_prefix) {
    const { from, to } = cfg.replace_prefix;
    steps.push((path) => (path.startsWith(from) ? to + path.slice(from.length) : path));
  }
  if (cfg.regex) {
    const re = new RegExp(cfg.regex.pattern);
    const replacement = cfg.regex.replacement;
    steps.push((path) => path.replace(re, replacement));
  }
  if (cfg.add_prefix) steps.push(addPrefix(cfg.add_prefix));
  if (steps.length === 0) return undefined;
  if (steps.length === 1) return steps[0];
  return (path) => {
    for (const s of steps) path = s(path);
    return path;
  };
}

/**
 * The inverse of a route's rewrite, for a backend's own URLs in Location / Content-Location (nginx's
 * `proxy_redirect default`): a path the backend sees as `/x` after `strip_prefix: /api` is `/api/x` to the
 * client. Undefined when the route does not rewrite, or rewrites by regex (not invertible).
 */
export function compileUnrewrite(cfg: RewriteConfig | undefined): PathRewriter | undefined {
  if (!cfg || cfg.regex) return undefined;
  const steps: PathRewriter[] = [];
  if (cfg.add_prefix) steps.push(stripPrefix(cfg.add_prefix));
  if (cfg.replace_prefix) {
    const { from, to } = cfg.replace_prefix;
    steps.push((path) => (path.startsWith(to) ? from + path.slice(to.length) : path));
  }
  if (cfg.strip_prefix) steps.push(addPrefix(cfg.strip_prefix));
  if (steps.length === 0) return undefined;
  return (path) => {
    for (const s of steps) path = s(path);
    return path;
  };
}
