/** Shared state for a fleet of instances (`state:`). */
import { isIP } from 'node:net';
import { z } from 'zod';
import { duration } from '../config/units.js';

/** Sentinel's own port (`port 26379` in sentinel.conf), used when an entry of `state.sentinels` gives none. */
export const SENTINEL_PORT = 26379;

/**
 * One entry of `state.sentinels` read as host and port, or a message saying what is wrong with it.
 * Forms: `host`, `host:port`, `[IPv6]`, `[IPv6]:port`; an IPv6 address without brackets is refused (is the
 * last group a port or part of the address?).
 */
export function parseSentinel(text: string): { host: string; port: number } | { error: string } {
  const m = /^(?:\[([^\]]*)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(text);
  if (!m) {
    if (isIP(text) === 6 || /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*:/.test(text)) return { error: 'an IPv6 address goes in brackets: [fd00::1]:26379' };
    return { error: 'host:port, e.g. 10.0.0.1:26379, sentinel-a.internal:26379 or [fd00::1]:26379' };
  }
  if (m[1] !== undefined && isIP(m[1]) !== 6) return { error: 'only an IPv6 address goes in brackets, e.g. [fd00::1]:26379' };
  const port = m[3] === undefined ? SENTINEL_PORT : Number(m[3]);
  if (port < 1 || port > 65535) return { error: 'a port from 1 to 65535' };
  return { host: m[1] ?? m[2]!, port };
}

// The pattern is for editors (JSON Schema); parseSentinel gives the messages.
const sentinel = z.string().superRefine((s, ctx) => {
  const r = parseSentinel(s);
  if ('error' in r) ctx.addIssue({ code: 'custom', message: `${r.error}, got "${s}"` });
}).meta({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$' });

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const stateSchema = z
  .strictObject({
    redis: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// (TLS) URL, e.g. redis://:PASSWORD@10.0.0.5:6379/0')
      // It may hold a password: shown as [redacted] by GET /api/config, never echoed by a config error.
      .meta({ writeOnly: true })
      .describe('Redis shared by every instance: rate limits are counted there, and the registry changes made through the admin API (servers added with their TTLs, drained, enabled, removed) are kept there and pushed to every instance (redis:// or rediss:// for TLS; a password as redis://:PASSWORD@host:port; docs/operations.md, Fleets). With sentinels, the URL gives the master\'s password, database and TLS, and its host is the master\'s name, without a port: redis://:PASSWORD@mymaster/0'),
    sentinels: z
      .array(sentinel)
      .min(1)
      .optional()
      .describe('Redis Sentinel: the sentinels to ask for the current master of sentinel_name, each host:port (port 26379 if left out; an IPv6 address in brackets, [fd00::1]:26379). Give several: any one that answers is enough, and the others it knows are asked too. The client follows a failover by itself'),
    sentinel_name: z
      .string()
      .regex(/^[^\s/@:?#[\]]+$/, 'the master\'s name, as in sentinel.conf\'s "sentinel monitor NAME HOST PORT QUORUM", e.g. mymaster')
      .optional()
      .describe('With sentinels: the name of the master the sentinels monitor ("sentinel monitor NAME …" in sentinel.conf); the host of the redis URL must be this name'),
    sentinel_password_env: z
      .string()
      .regex(ENV_NAME, 'an environment variable name, e.g. GATEHOUSE_SENTINEL_PASSWORD')
      .optional()
      .describe('With sentinels: environment variable holding the password of the sentinels themselves (requirepass in sentinel.conf), when they have one; read at start, which fails when it is unset or empty. The master\'s password is the one in the redis URL'),
    prefix: z.string().default('gatehouse:').describe('Prefix of every key Gatehouse writes, so several proxies can share one Redis'),
    timeout: duration
      .default(50)
      .describe('Longest wait for Redis on a request; past it (or while Redis is down) the instance decides alone, from its own memory'),
  })
  .superRefine((s, ctx) => {
    for (const issue of sentinelIssues(s)) ctx.addIssue({ code: 'custom', ...issue });
  })
  .describe('State shared between instances through Redis; without it everything stays in memory');

export type StateConfig = z.infer<typeof stateSchema>;

/** What is wrong with the sentinel keys taken together (each problem at the key to change). */
function sentinelIssues(s: { redis: string; sentinels?: string[] | undefined; sentinel_name?: string | undefined; sentinel_password_env?: string | undefined }): { path: string[]; message: string }[] {
  if (s.sentinels === undefined) {
    const stray = (['sentinel_name', 'sentinel_password_env'] as const).filter((k) => s[k] !== undefined);
    return stray.map((k) => ({ path: [k], message: `${k} is for Redis Sentinel: it needs sentinels (a list of host:port)` }));
  }
  if (s.sentinel_name === undefined) {
    return [{ path: ['sentinel_name'], message: 'sentinels need sentinel_name: the name of the master they monitor ("sentinel monitor NAME …" in sentinel.conf), e.g. mymaster' }];
  }
  let url: URL | undefined;
  try {
    url = new URL(s.redis);
  } catch {
    return []; // the URL's own check says what is wrong with it
  }
  // Never echo the URL: it may hold the password.
  if (url.hostname !== s.sentinel_name || url.port !== '') {
    return [{ path: ['redis'], message: `with sentinels, the URL's host is the master's name, without a port: redis://:PASSWORD@${s.sentinel_name}/0 (the address comes from the sentinels)` }];
  }
  return [];
}

/** `workers`: how many processes serve requests (`gatehouse run`); `auto` is one per core. */
export const workersSchema = z
  .union([z.literal('auto'), z.number().int().min(1).max(256)])
  .default(1)
  .describe('Worker processes serving requests (gatehouse run): a number, or auto for one per core; the primary process holds no request path. 1 = a single process (the default)');

export type WorkersConfig = z.infer<typeof workersSchema>;
