/** Shared state for a fleet of instances (`state:`). */
import { z } from 'zod';
import { duration } from '../config/units.js';

export const stateSchema = z
  .strictObject({
    redis: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// (TLS) URL, e.g. redis://:PASSWORD@10.0.0.5:6379/0')
      .describe('Redis shared by every instance: rate limits are counted there, and the registry changes made through the admin API (servers added with their TTLs, drained, enabled, removed) are kept there and pushed to every instance (redis:// or rediss:// for TLS; a password as redis://:PASSWORD@host:port; docs/operations.md, Fleets)'),
    prefix: z.string().default('gatehouse:').describe('Prefix of every key Gatehouse writes, so several proxies can share one Redis'),
    timeout: duration
      .default(50)
      .describe('Longest wait for Redis on a request; past it (or while Redis is down) the instance decides alone, from its own memory'),
  })
  .describe('State shared between instances through Redis; without it everything stays in memory');

export type StateConfig = z.infer<typeof stateSchema>;

/** `workers`: how many processes serve requests (`gatehouse run`); `auto` is one per core. */
export const workersSchema = z
  .union([z.literal('auto'), z.number().int().min(1).max(256)])
  .default(1)
  .describe('Worker processes serving requests (gatehouse run): a number, or auto for one per core; the primary process holds no request path. 1 = a single process (the default)');

export type WorkersConfig = z.infer<typeof workersSchema>;
