/**
 * Cross-checks of layer 4 settings against the rest of the config (the root schema's crossCheck calls it):
 * a tcp or tls_passthrough listener names upstreams of tcp:// servers, and HTTP routes never name those.
 */
import { isCidr } from '../core/addresses.js';

type Loose = Record<string, unknown> | undefined;
const obj = (v: unknown): Loose => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

export interface StreamIssue { path: (string | number)[]; message: string }

function serverUrls(u: unknown): string[] {
  return list(obj(u)?.servers).map((s) => (typeof s === 'string' ? s : obj(s)?.url)).filter((s): s is string => typeof s === 'string');
}

/** Every problem found; `cfg` may be partly unparsed (other keys invalid), hence the defensive reads. */
export function streamIssues(cfg: Record<string, unknown>): StreamIssue[] {
  const issues: StreamIssue[] = [];
  const upstreams = obj(cfg.upstreams) ?? {};
  const isTcp = (name: string): boolean => {
    const urls = serverUrls(upstreams[name]);
    return urls.length > 0 && urls.every((u) => u.startsWith('tcp://'));
  };
  for (const [name, u] of Object.entries(upstreams)) {
    const urls = serverUrls(u);
    const tcp = urls.filter((x) => x.startsWith('tcp://')).length;
    if (tcp > 0 && tcp < urls.length) issues.push({ path: ['upstreams', name, 'servers'], message: 'an upstream has tcp:// servers or http(s):// servers, not both' });
    if (obj(u)?.proxy_protocol !== undefined && tcp === 0) issues.push({ path: ['upstreams', name, 'proxy_protocol'], message: 'proxy_protocol is for upstreams of tcp:// servers' });
  }
  const target = (name: unknown, path: (string | number)[]): void => {
    if (typeof name !== 'string') return;
    if (!Object.hasOwn(upstreams, name)) issues.push({ path, message: `unknown upstream "${name}"` });
    else if (!isTcp(name)) issues.push({ path, message: `upstream "${name}" must have tcp:// servers (e.g. tcp://127.0.0.1:6379)` });
  };
  list(cfg.listeners).forEach((raw, i) => {
    const l = obj(raw);
    if (!l) return;
    const protocol = l.protocol ?? 'http';
    if (protocol === 'http') {
      for (const k of ['upstream', 'sni', 'idle_timeout', 'access'] as const) {
        if (l[k] !== undefined) issues.push({ path: ['listeners', i, k], message: `${k} is for tcp and tls_passthrough listeners` });
      }
      return;
    }
    for (const k of ['tls', 'h2c', 'redirect_https'] as const) {
      if (l[k] !== undefined && l[k] !== false) issues.push({ path: ['listeners', i, k], message: `${k} is for http listeners` });
    }
    if (protocol === 'tcp') {
      if (l.upstream === undefined) issues.push({ path: ['listeners', i], message: 'a tcp listener needs `upstream`' });
      if (l.sni !== undefined) issues.push({ path: ['listeners', i, 'sni'], message: 'sni is for tls_passthrough listeners' });
    } else if (l.sni === undefined && l.upstream === undefined) {
      issues.push({ path: ['listeners', i], message: 'a tls_passthrough listener needs `sni`, `upstream` (the default), or both' });
    }
    for (const k of ['allow', 'deny'] as const) {
      list(obj(l.access)?.[k]).forEach((c, j) => {
        if (typeof c === 'string' && !isCidr(c)) issues.push({ path: ['listeners', i, 'access', k, j], message: `"${c}" is not an IP address or CIDR block (e.g. 10.0.0.0/8)` });
      });
    }
    target(l.upstream, ['listeners', i, 'upstream']);
    for (const [name, u] of Object.entries(obj(l.sni) ?? {})) target(u, ['listeners', i, 'sni', name]);
  });
  list(cfg.routes).forEach((raw, i) => {
    for (const k of ['proxy', 'mirror'] as const) {
      const name = obj(obj(raw)?.[k])?.upstream;
      if (typeof name === 'string' && Object.hasOwn(upstreams, name) && isTcp(name)) {
        issues.push({ path: ['routes', i, k, 'upstream'], message: `upstream "${name}" has tcp:// servers: an HTTP route cannot proxy to it (a tcp listener can)` });
      }
    }
  });
  return issues;
}
