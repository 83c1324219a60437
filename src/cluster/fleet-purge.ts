/**
 * Cache purges shared by a fleet (`state.redis`): a purge or an RFC 9111 4.4 invalidation made on one instance
 * (the admin API, the route's PURGE method, an unsafe request) is published on `${prefix}purge` and applied by
 * every other instance. Nothing is stored: an object cached later comes from the origin anyway. While Redis
 * is down purges queue (at most FLEET_MAX_PURGES, the oldest dropped) and go out when it answers again.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withTimeout } from '../core/timeout.js';
import type { Logger } from 'pino';
import type { CachePurge } from '../core/services.js';

export const FLEET_MAX_PURGES = 1000;

export interface FleetPurges {
  /** Shares a purge made here (already normalised, as the cache indexes URLs). */
  publish(req: CachePurge): void;
  close(): Promise<void>;
}

function parsePurge(v: unknown): CachePurge | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const out: CachePurge = {};
  for (const k of ['url', 'prefix', 'tag'] as const) if (typeof r[k] === 'string') out[k] = r[k] as string;
  if (r.soft === true) out.soft = true;
  return out.url !== undefined || out.prefix !== undefined || out.tag !== undefined ? out : undefined;
}

export function fleetPurges(opts: { redis: Redis; prefix: string; log: Logger; apply(req: CachePurge): void }): FleetPurges {
  const channel = `${opts.prefix}purge`;
  const instance = randomUUID();
  const queue: string[] = [];
  let closed = false;
  let pumping = false;
  let dropped = false;
  const sub = opts.redis.duplicate();
  sub.on('error', (err: Error) => opts.log.debug({ err: err.message }, 'fleet: redis purge subscriber'));
  sub.on('ready', () => { sub.subscribe(channel).catch((err: Error) => opts.log.debug({ err: err.message }, 'fleet: subscribe failed')); });
  sub.on('message', (ch: string, text: string) => {
    if (ch !== channel) return;
    let m: unknown;
    try { m = JSON.parse(text); } catch { return; }
    if (typeof m !== 'object' || m === null || (m as { from?: unknown }).from === instance) return;
    const req = parsePurge((m as { purge?: unknown }).purge);
    if (req) opts.apply(req);
  });

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (queue.length && opts.redis.status === 'ready') {
        await withTimeout(opts.redis.publish(channel, queue[0]!), 1000);
        queue.shift();
      }
    } catch {
      // Tried again when Redis is ready.
    } finally {
      pumping = false;
    }
  }
  const onReady = (): void => { void pump(); };
  opts.redis.on('ready', onReady);

  return {
    publish(req) {
      if (closed) return;
      if (queue.length >= FLEET_MAX_PURGES) {
        queue.shift();
        if (!dropped) { dropped = true; opts.log.warn(`fleet: over ${FLEET_MAX_PURGES} cache purges wait for Redis; the oldest are dropped`); }
      }
      queue.push(JSON.stringify({ from: instance, purge: req }));
      void pump();
    },
    async close() {
      closed = true;
      opts.redis.off('ready', onReady);
      await pump();
      sub.disconnect();
    },
  };
}
