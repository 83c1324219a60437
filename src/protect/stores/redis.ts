/**
 * The Redis rate store (`state.redis`): the same GCRA as the memory store, decided in Redis by one Lua script
 * per request (one round trip, atomic across every instance sharing the server), on Redis's own clock so
 * instances with skewed clocks agree. When Redis is down or slower than `timeoutMs`, the decision is taken
 * by a local memory store instead (each instance then counts alone), logged once per outage, not per request.
 */
import type { Redis } from 'ioredis';
import { withTimeout } from '../../core/timeout.js';
import type { Logger } from 'pino';
import { memoryStore } from './memory.js';
import type { RateDecision, RateStore } from './store.js';

/** KEYS[1] = key; ARGV = interval (µs), burst. Returns allowed, retry-after, remaining, reset (µs). */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, allow_at - now, 0, tat - now}
end
local nxt = tat + interval
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
local remaining = math.floor((now + tolerance + interval - nxt) / interval + 0.000001)
if remaining < 0 then remaining = 0 end
return {1, 0, remaining, nxt - now}
`;

export interface RedisStoreOptions {
  redis: Redis;
  /** Key prefix, so several proxies (or configs) can share a Redis. */
  prefix: string;
  /** Longest wait for Redis before the local store decides. */
  timeoutMs: number;
  maxKeys: number;
  log: Logger;
}

/** Whether Redis is known to be out: shared by the stores of one client, so an outage is logged once. */
const outages = new WeakMap<Redis, { down: boolean }>();

export function redisStore(opts: RedisStoreOptions): RateStore {
  const local = memoryStore({ maxKeys: opts.maxKeys });
  let state = outages.get(opts.redis);
  if (!state) outages.set(opts.redis, (state = { down: false }));
  const s = state;
  const fallback = (key: string, intervalMs: number, burst: number, err: unknown): RateDecision => {
    if (!s.down) {
      s.down = true;
      opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'rate limits: Redis unavailable, counting locally until it answers again');
    }
    return local.take(key, intervalMs, burst) as RateDecision;
  };
  return {
    take(key, intervalMs, burst) {
      if (opts.redis.status !== 'ready') return fallback(key, intervalMs, burst, new Error(`redis ${opts.redis.status}`));
      const call = opts.redis.eval(GCRA, 1, opts.prefix + key, String(Math.round(intervalMs * 1000)), String(burst)) as Promise<number[]>;
      return withTimeout(call, opts.timeoutMs).then((r) => {
        if (s.down) {
          s.down = false;
          opts.log.info('rate limits: Redis answers again, counting shared');
        }
        return { allowed: r[0] === 1, retryAfterMs: r[1]! / 1000, remaining: r[2]!, resetMs: r[3]! / 1000 };
      }, (err: unknown) => fallback(key, intervalMs, burst, err));
    },
    size: () => local.size(),
    close() { local.close(); },
  };
}
