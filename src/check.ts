/**
 * Checks beyond the schema, so `gatehouse validate` catches what `run` would refuse or get wrong:
 * - errors: the files a config names (certificates and keys as pairs, CA bundles, JWT public keys, error
 *   pages), read and parsed by the same code that loads them at run time;
 * - warnings: what is valid but surely not meant (an unused upstream, a route an earlier one shadows, a
 *   listener without routes). They are printed by `validate` and logged by a running proxy.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import { formatPath, type ConfigIssue, type ConfigPath } from './config/errors.js';
import type { PlacedMessage } from './config/issues.js';
import { placeIssues } from './config/load.js';
import { readPublicKey } from './protect/index.js';
import { shadowedRoutes } from './routing/index.js';
import { readErrorPage } from './server/error-pages.js';
import type { GatehouseConfig } from './schema.js';
import { pemFileProblems, type PemProblem } from './tls/index.js';

const applies = (only: string | readonly string[] | undefined, listener: string): boolean =>
  only === undefined || (Array.isArray(only) ? only.includes(listener) : only === listener);

/** Problems with the files the config names, each at the key that names the file. */
export function fileProblems(cfg: GatehouseConfig, baseDir: string): PlacedMessage[] {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const out: PlacedMessage[] = [];
  const add = (base: ConfigPath, problems: readonly PemProblem[]): void => {
    for (const p of problems) out.push({ path: [...base, p.key], message: p.message });
  };
  cfg.listeners.forEach((l, i) => {
    const t = l.tls;
    if (!t) return;
    t.certificates.forEach((c, j) => add(['listeners', i, 'tls', 'certificates', j], pemFileProblems({ cert: abs(c.cert), key: abs(c.key) })));
    if (t.client_auth) add(['listeners', i, 'tls', 'client_auth'], pemFileProblems({ ca: abs(t.client_auth.ca) }));
    if (t.acme?.ca) add(['listeners', i, 'tls', 'acme'], pemFileProblems({ ca: abs(t.acme.ca) }));
  });
  for (const [name, u] of Object.entries(cfg.upstreams)) {
    const t = u.tls;
    if (!t) continue;
    if ((t.cert === undefined) !== (t.key === undefined)) {
      out.push({ path: ['upstreams', name, 'tls'], message: `a client certificate needs both tls.cert and tls.key (only tls.${t.cert ? 'cert' : 'key'} is given)` });
    }
    add(['upstreams', name, 'tls'], pemFileProblems({
      ...(t.cert !== undefined && t.key !== undefined ? { cert: abs(t.cert), key: abs(t.key) } : {}),
      ...(t.ca !== undefined ? { ca: abs(t.ca) } : {}),
    }));
  }
  cfg.routes.forEach((r, i) => {
    for (const [status, page] of Object.entries(r.error_pages ?? {})) {
      if (page.file === undefined) continue;
      try {
        readErrorPage(page.file, baseDir);
      } catch (err) {
        out.push({ path: ['routes', i, 'error_pages', status, 'file'], message: (err as Error).message });
      }
    }
    const key = r.auth?.jwt?.public_key;
    if (key === undefined) return;
    try {
      readPublicKey(key, baseDir);
    } catch (err) {
      out.push({ path: ['routes', i, 'auth', 'jwt', 'public_key'], message: (err as Error).message });
    }
  });
  return out;
}

/** What is valid but surely not meant. */
export function warningsOf(cfg: GatehouseConfig): PlacedMessage[] {
  const out: PlacedMessage[] = [];
  const used = new Set(cfg.routes.flatMap((r) => [r.proxy?.upstream, r.mirror?.upstream]));
  // Layer 4 listeners use upstreams too (stream/).
  for (const l of cfg.listeners) for (const u of [l.upstream, ...Object.values(l.sni ?? {})]) used.add(u);
  for (const name of Object.keys(cfg.upstreams)) {
    if (!used.has(name)) out.push({ path: ['upstreams', name], useKey: true, message: `upstream "${name}" is not used by any route` });
  }
  const id = (i: number): string => cfg.routes[i]!.name ?? `routes[${i}]`;
  for (const { index, by } of shadowedRoutes(cfg.routes)) {
    out.push({
      path: ['routes', index, 'match'], useKey: true,
      message: `route ${id(index)} can never be chosen: ${id(by)} comes first with the same host, path and listener and no narrower method or header condition`,
    });
  }
  cfg.listeners.forEach((l, i) => {
    // A listener that redirects everything to https needs no routes; a layer 4 one takes none.
    if (l.redirect_https || l.protocol !== 'http' || cfg.routes.some((r) => applies(r.match.listener, l.name))) return;
    out.push({ path: ['listeners', i], message: `listener "${l.name}" has no routes: every request to it is answered 404` });
  });
  const tokenEnv = cfg.admin?.token_env;
  if (tokenEnv !== undefined && !process.env[tokenEnv]) {
    out.push({ path: ['admin', 'token_env'], message: `environment variable ${tokenEnv} is not set here: the admin API will not start without its token` });
  }
  const sentinelEnv = cfg.state?.sentinel_password_env;
  if (sentinelEnv !== undefined && !process.env[sentinelEnv]) {
    out.push({ path: ['state', 'sentinel_password_env'], message: `environment variable ${sentinelEnv} is not set here: the proxy will not start without the sentinels' password` });
  }
  return out;
}

/** The warnings of a config, placed at file, line and column when it came from a file. */
export function configWarnings(cfg: GatehouseConfig): ConfigIssue[] {
  return placeIssues(cfg, warningsOf(cfg)).sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

/** Logs a config's warnings, one line each, when a proxy starts or reloads. */
export function logWarnings(cfg: GatehouseConfig, log: Logger): void {
  for (const w of configWarnings(cfg)) {
    log.warn({ ...(w.file ? { file: w.file } : {}), ...(w.line ? { line: w.line, col: w.col } : {}), key: formatPath(w.path) }, `config warning: ${w.message}`);
  }
}
