/**
 * Service discovery (issue #11): providers that find an upstream's servers by DNS (A/AAAA), SRV or a watched
 * file, and report each new list. No pipeline phase: this is control-plane code with a process lifetime
 * (STYLE.md 9). The composition root calls `startDiscovery` once per upstream that has `discovery`, feeds each
 * list to the upstream registry (`setDiscovered(upstream, discoverySource(cfg), servers)`) and `close()`s it
 * when the upstream goes away.
 */
import { isAbsolute, resolve } from 'node:path';
import { dnsLookup, makeResolver, srvLookup } from './dns.js';
import { fileProvider } from './file.js';
import { poll } from './poll.js';
import type { DiscoveryConfig } from './schema.js';
import type { DiscoveredServer, DiscoveryLog } from './types.js';

export { discoverySchema, type DiscoveryConfig } from './schema.js';
export { parseServersFile } from './file.js';
export type { DiscoveredServer, DiscoveryLog } from './types.js';

export interface DiscoveryOptions {
  /**
   * Called with the complete list each time it changes, and first when the first good answer arrives (never
   * before: until then the upstream has only its `servers`). Never called with the list of a failed lookup:
   * the last good list stays in force. An empty list is never reported by DNS providers (an empty answer is a
   * failure); a file may hold an empty list on purpose.
   */
  onServers(servers: DiscoveredServer[]): void;
  log: DiscoveryLog;
  /** Directory that a relative `file` is resolved against: the config file's. Default: the working directory. */
  baseDir?: string;
}

/** A running provider. */
export interface DiscoveryHandle {
  /** Stops lookups and watching; `onServers` is not called after it. Safe to call twice. */
  close(): void;
}

/**
 * Where servers found by this config come from, for the registry and `GET /api/upstreams`: `dns` (A/AAAA and
 * SRV) or `servers_file` (the `file` provider; not `file`, which names servers written in the config file).
 */
export type DiscoverySource = 'dns' | 'servers_file';

/** The source of the servers this config finds. */
export function discoverySource(cfg: DiscoveryConfig): DiscoverySource {
  return cfg.file !== undefined ? 'servers_file' : 'dns';
}

/**
 * Starts the provider `cfg` describes (an upstream's validated `discovery` section). The first lookup starts at
 * once; the answer comes through `onServers`. DNS answers are re-resolved at their TTL within min_ttl..max_ttl;
 * a failed lookup keeps the last good answer and is retried with a backoff from min_ttl to max_ttl.
 */
export function startDiscovery(cfg: DiscoveryConfig, opts: DiscoveryOptions): DiscoveryHandle {
  const { onServers, log } = opts;
  let closed = false;
  const report = (servers: DiscoveredServer[]): void => {
    if (!closed) onServers(servers);
  };
  let inner: DiscoveryHandle;
  if (cfg.file !== undefined) {
    const file = isAbsolute(cfg.file) ? cfg.file : resolve(opts.baseDir ?? process.cwd(), cfg.file);
    inner = fileProvider(file, { debounceMs: cfg.debounce, onServers: report, log });
  } else {
    const resolver = makeResolver(cfg);
    const pollOpts = { minMs: cfg.min_ttl, maxMs: cfg.max_ttl, onServers: report, log };
    const polling = cfg.srv !== undefined
      ? poll(srvLookup({ ...cfg, srv: cfg.srv }, resolver), { ...pollOpts, what: `srv ${cfg.srv}` })
      : poll(dnsLookup({ ...cfg, dns: cfg.dns!, port: cfg.port! }, resolver), { ...pollOpts, what: `dns ${cfg.dns}:${cfg.port}` });
    inner = { close: () => { polling.close(); resolver.cancel(); } };
  }
  return {
    close() {
      if (closed) return;
      closed = true;
      inner.close();
    },
  };
}
