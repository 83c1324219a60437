/**
 * Wires the process-lifetime upstream registry (upstream/registry.ts) to the capabilities it needs:
 * balancing (selectors, sticky cookies, hash keys) and health (active and passive checks); and feeds it
 * what service discovery finds.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createSelector, stickyCookie } from './balance/index.js';
import { createHealth } from './health/index.js';
import { discoverySource, startDiscovery, type DiscoveryHandle, type DiscoverySource } from './discovery/index.js';
import type { UpstreamConfig } from './schema.js';
import type { ProxyMeter } from './core/services.js';
import { createRegistry, type Registry } from './upstream/index.js';

export function upstreamRegistry(log: Logger, baseDir: string, drainTimeout: () => number, meter?: ProxyMeter): Registry<UpstreamConfig> {
  // Without a configured secret, one per upstream for the process: cookies stay valid when servers change.
  const secrets = new Map<string, string>();
  const secret = (name: string): string => secrets.get(name) ?? secrets.set(name, randomBytes(32).toString('hex')).get(name)!;
  return createRegistry<UpstreamConfig>({
    baseDir, log, drainTimeout, meter,
    selector: (u, peers) => createSelector(u.balance, peers),
    monitor: (name, u, peers, connect) => createHealth(name, peers, u.health, log, connect),
    affinity: (name, u, peers) => (u.sticky ? stickyCookie({ ...u.sticky, secret: u.sticky.secret ?? secret(name) }, peers) : undefined),
    hashKey: (u) => (u.balance === 'hash' ? u.hash?.key ?? 'client_ip' : undefined),
  });
}

/**
 * One discovery provider per upstream with `discovery` (process lifetime): kept across reloads while its
 * settings are unchanged, started for new ones, closed for removed ones, whose servers then drain.
 * Each list it finds replaces that source's servers in the registry.
 */
export function discoveryRunner(registry: Registry<UpstreamConfig>, log: Logger, baseDir: string): {
  sync(upstreams: Record<string, UpstreamConfig>): void;
  close(): void;
} {
  const running = new Map<string, { key: string; source: DiscoverySource; handle: DiscoveryHandle }>();
  const stop = (name: string, drain: boolean): void => {
    const r = running.get(name)!;
    running.delete(name);
    r.handle.close();
    if (drain && registry.get(name)) registry.setDiscovered(name, r.source, []);
  };
  return {
    sync(upstreams) {
      for (const name of [...running.keys()]) {
        const d = upstreams[name]?.discovery;
        if (!d || JSON.stringify(d) !== running.get(name)!.key) stop(name, true);
      }
      for (const [name, u] of Object.entries(upstreams)) {
        if (!u.discovery || running.has(name)) continue;
        const source = discoverySource(u.discovery);
        const handle = startDiscovery(u.discovery, {
          log, baseDir,
          onServers: (servers) => {
            if (!registry.get(name)) return;
            const diff = registry.setDiscovered(name, source, servers);
            if (diff.added.length || diff.drained.length) log.info({ upstream: name, source, ...diff }, 'discovered servers changed');
          },
        });
        running.set(name, { key: JSON.stringify(u.discovery), source, handle });
      }
    },
    close() {
      for (const name of [...running.keys()]) stop(name, false);
    },
  };
}
