/**
 * The Redis client of `state:` (process lifetime): one server named by `state.redis`, or, with
 * `state.sentinels`, the master that Redis Sentinel names, followed through failovers.
 * Commands fail fast while Redis is away (no offline queue, no retries per request): callers fall back to
 * local state rather than wait. `duplicate()` (the fleet's subscriber) copies every option, sentinels included.
 * The client (not its duplicates) also moves to a new master as soon as a sentinel announces one (sentinel-watch.ts).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { parseSentinel, type StateConfig } from './schema.js';
import { followSwitches } from './sentinel-watch.js';

/** The keys of `state:` that say where Redis is. */
export type RedisTarget = Pick<StateConfig, 'redis' | 'sentinels' | 'sentinel_name' | 'sentinel_password_env'>;

export interface RedisClientOptions {
  log: Logger;
  /** Where `sentinel_password_env` is read; `process.env` by default. */
  env?: Readonly<Record<string, string | undefined>>;
}

// Reconnect forever, at most once a second: Redis coming back restores shared counting.
const retry = (times: number): number => Math.min(times * 100, 1000);

/**
 * The ioredis options besides the URL (which gives password, database and TLS). Throws a ConfigError naming
 * `state.sentinel_password_env` when that variable is unset or empty.
 */
export function redisOptions(target: RedisTarget, env: Readonly<Record<string, string | undefined>> = process.env): RedisOptions {
  const base: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: retry, lazyConnect: false };
  if (!target.sentinels) return base;
  const sentinels = target.sentinels.map((s) => {
    const r = parseSentinel(s);
    if ('error' in r) throw new ConfigError([{ path: ['state', 'sentinels'], message: `${r.error}, got "${s}"` }]);
    return r;
  });
  let sentinelPassword: string | undefined;
  if (target.sentinel_password_env !== undefined) {
    sentinelPassword = env[target.sentinel_password_env];
    if (!sentinelPassword) {
      throw new ConfigError([{ path: ['state', 'sentinel_password_env'], message: `environment variable ${target.sentinel_password_env} (the sentinels' password) is not set or empty` }]);
    }
  }
  // rediss:// means TLS to the master (and the replica that replaces it) and to the sentinels alike.
  const tls = target.redis.startsWith('rediss:');
  return {
    ...base,
    sentinels,
    name: target.sentinel_name!,
    ...(sentinelPassword ? { sentinelPassword } : {}),
    ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // All sentinels away: ask them again at the same pace as a lost connection is retried.
    sentinelRetryStrategy: retry,
    // A master that a failover turned into a replica refuses writes (READONLY): reconnect, and so ask the
    // sentinels for the new master. A dead master closes the connection, which asks them too.
    reconnectOnError: (err) => err.message.includes('READONLY'),
  };
}

/** The process's connection for `state:`: the client, and `close`, which quits it (and stops watching the sentinels). */
export interface RedisClient { redis: Redis; close(): Promise<void> }

/** Connects to the Redis of `state:`; its errors are logged at debug (callers see the outage themselves). */
export function redisClient(target: RedisTarget, opts: RedisClientOptions): RedisClient {
  const options = redisOptions(target, opts.env);
  const redis = new Redis(target.redis, options);
  redis.on('error', (err: Error) => opts.log.debug({ err: err.message }, 'redis'));
  const unwatch = options.sentinels ? followSwitches(redis, options, opts.log) : undefined;
  return {
    redis,
    async close() {
      unwatch?.();
      // quit() refuses while disconnected (no offline queue): then just drop the connection attempts.
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** What identifies the Redis a config names: a change of it needs a restart. */
export function redisTargetKey(target: RedisTarget): string {
  return JSON.stringify([target.redis, target.sentinels ?? null, target.sentinel_name ?? null, target.sentinel_password_env ?? null]);
}
