/**
 * The fleet's shared state (process lifetime): one Redis client per process, made when the config has
 * `state.redis` (one server, or the master Redis Sentinel names: redis.ts), used by rate limits (protect/stores/redis.ts) and, with an admin API, by the registry
 * changes the API makes (fleet.ts, fleet-registry.ts). Commands fail fast while Redis is away (no offline
 * queue): callers fall back to local state rather than wait.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redisClient, redisTargetKey, type RedisClient } from './redis.js';

export { stateSchema, type StateConfig } from './schema.js';
export { redisClient, redisOptions, type RedisClient, type RedisClientOptions, type RedisTarget } from './redis.js';
export { fleetSync, type FleetSync, type FleetSyncOptions, type RegistryChange } from './fleet.js';
export { fleetRegistry, type FleetRegistry } from './fleet-registry.js';
export { fleetPurges, type FleetPurges } from './fleet-purge.js';
export { redisCacheTier, type CacheTierOptions } from './cache-tier.js';

/** What rate limits need of the shared state. */
export interface SharedState { redis: Redis; prefix: string; timeoutMs: number }

/**
 * The process's Redis client, made when a config first has `state.redis` and kept across reloads (a changed
 * URL or sentinel list needs a restart: a warning says so). `close` quits it. `get` throws a ConfigError
 * when `state.sentinel_password_env` names an unset variable.
 */
export function sharedStateHolder(log: Logger): { get(cfg: { state?: import('./schema.js').StateConfig | undefined }): SharedState | undefined; close(): Promise<void> } {
  let client: RedisClient | undefined;
  let target: string | undefined;
  return {
    get(cfg) {
      const s = cfg.state;
      if (!s) return undefined;
      const key = redisTargetKey(s);
      if (!client) {
        client = redisClient(s, { log: log.child({ component: 'state' }) });
        target = key;
      } else if (target !== key) {
        log.warn('state.redis or its sentinels changed: restart to connect to the new Redis (the old one is still used)');
        target = key;
      }
      return { redis: client.redis, prefix: s.prefix, timeoutMs: s.timeout };
    },
    async close() {
      const c = client;
      client = undefined;
      if (c) await c.close();
    },
  };
}
