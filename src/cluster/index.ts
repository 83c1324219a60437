/**
 * The fleet's shared state (process lifetime): one Redis client per process, made when the config has
 * `state.redis`, used by rate limits (protect/stores/redis.ts) and, with an admin API, by the registry
 * changes the API makes (fleet.ts, fleet-registry.ts). Commands fail fast while Redis is away (no offline
 * queue): callers fall back to local state rather than wait.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export { stateSchema, type StateConfig } from './schema.js';
export { fleetSync, type FleetSync, type FleetSyncOptions, type RegistryChange } from './fleet.js';
export { fleetRegistry, type FleetRegistry } from './fleet-registry.js';
export { fleetPurges, type FleetPurges } from './fleet-purge.js';
export { redisCacheTier, type CacheTierOptions } from './cache-tier.js';

export function redisClient(url: string, log: Logger): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect forever, at most once a second: Redis coming back restores shared counting.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    lazyConnect: false,
  });
  client.on('error', (err: Error) => log.debug({ err: err.message }, 'redis'));
  return client;
}

/** What rate limits need of the shared state. */
export interface SharedState { redis: Redis; prefix: string; timeoutMs: number }

/**
 * The process's Redis client, made when a config first has `state.redis` and kept across reloads (a changed
 * URL needs a restart: a warning says so). `close` quits it.
 */
export function sharedStateHolder(log: Logger): { get(cfg: { state?: import('./schema.js').StateConfig | undefined }): SharedState | undefined; close(): Promise<void> } {
  let client: Redis | undefined;
  let url: string | undefined;
  return {
    get(cfg) {
      const s = cfg.state;
      if (!s) return undefined;
      if (!client) {
        client = redisClient(s.redis, log.child({ component: 'state' }));
        url = s.redis;
      } else if (url !== s.redis) {
        log.warn('state.redis changed: restart to connect to the new Redis (the old one is still used)');
        url = s.redis;
      }
      return { redis: client, prefix: s.prefix, timeoutMs: s.timeout };
    },
    async close() {
      const c = client;
      client = undefined;
      if (c) await c.quit().catch(() => c.disconnect());
    },
  };
}
