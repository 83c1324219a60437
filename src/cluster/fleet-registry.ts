/**
 * The admin API's registry in a fleet (`state.redis` with `admin`): every change the API makes succeeds here
 * first, then is shared through `fleetSync` (fleet.ts); changes from other instances are applied to the
 * registry the API's own changes are recorded in (the overlay: the state file keeps them), never published
 * again. Applying is idempotent: a change that is already in force does nothing (and is not logged).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RegistryError, type AdminRegistry, type ServerInfo } from '../core/services.js';
import { serverIdOf } from '../core/addresses.js';
import { fleetSync, type FleetSync, type RegistryChange } from './fleet.js';

export interface FleetRegistry {
  /** The registry for the admin API: as the local one, each successful change also published. */
  registry: AdminRegistry;
  /** Reads the shared state and applies it (at start, after a reload); never throws. */
  rebuild(): Promise<void>;
  close(): Promise<void>;
}

/** An API-added server's expiry at two instances may differ by the ms it took to apply it. */
const SAME_EXPIRY_MS = 5;

/** The fleet's registry, or undefined without shared state. `local` is where remote changes are applied. */
export function fleetRegistry(local: AdminRegistry, state: { redis: Redis; prefix: string; timeoutMs: number } | undefined, log: Logger): FleetRegistry | undefined {
  if (!state) return undefined;
  const flog = log.child({ component: 'fleet' });
  const sync = fleetSync({
    redis: state.redis, prefix: state.prefix, log: flog, timeoutMs: Math.max(state.timeoutMs, 1000),
    apply: async (c) => { await applyChange(local, c, flog); },
  });
  return { registry: publishing(local, sync), rebuild: () => sync.rebuild(), close: () => sync.close() };
}

/** `local`, with each successful change made through it published (what failed throws, as before). */
export function publishing(local: AdminRegistry, sync: Pick<FleetSync, 'publish'>): AdminRegistry {
  return {
    get: (name) => local.get(name),
    async addServer(name, spec) {
      const s = await local.addServer(name, spec);
      if (spec.source === 'api') {
        sync.publish({
          op: 'add', upstream: name, url: s.url,
          ...(spec.weight !== undefined ? { weight: spec.weight } : {}), ...(s.expires_at !== undefined ? { expires_at: s.expires_at } : {}),
        });
      }
      return s;
    },
    async drainServer(name, id) {
      const s = await local.drainServer(name, id);
      sync.publish({ op: 'drain', upstream: name, id });
      return s;
    },
    async enableServer(name, id) {
      const s = await local.enableServer(name, id);
      sync.publish({ op: 'enable', upstream: name, id });
      return s;
    },
    async removeServer(name, id) {
      // An unknown server throws here, before anything is published.
      await local.removeServer(name, id);
      sync.publish({ op: 'remove', upstream: name, id });
    },
  };
}

/**
 * Applies one change from another instance; false when there was nothing to do (already in force) or it could
 * not be applied (an upstream or server this instance does not have: logged at debug). Never throws.
 */
export async function applyChange(registry: AdminRegistry, c: RegistryChange, log: Logger): Promise<boolean> {
  const id = c.op === 'add' ? serverIdOf(c.url) : c.id;
  const skip = (why: string): false => { log.debug({ upstream: c.upstream, server: id, op: c.op }, `fleet: registry change skipped: ${why}`); return false; };
  try {
    const upstream = await registry.get(c.upstream);
    if (!upstream) return skip('no such upstream here');
    const s: ServerInfo | undefined = upstream.servers.find((x) => x.id === id && !x.removing);
    if (c.op === 'add') {
      const ttl = c.expires_at !== undefined ? c.expires_at - Date.now() : undefined;
      if (ttl !== undefined && ttl <= 0) return skip('expired');
      const same = s?.sources.includes('api') && (c.weight === undefined || c.weight === s.weight)
        && (c.expires_at === undefined ? s.expires_at === undefined : s.expires_at !== undefined && Math.abs(s.expires_at - c.expires_at) <= SAME_EXPIRY_MS);
      if (same) return false;
      await registry.addServer(c.upstream, { url: c.url, source: 'api', ...(c.weight !== undefined ? { weight: c.weight } : {}), ...(ttl !== undefined ? { ttl } : {}) });
    } else {
      if (!s) return skip('no such server here');
      if (c.op === 'drain') {
        if (s.draining) return false;
        await registry.drainServer(c.upstream, id);
      } else if (c.op === 'enable') {
        if (!s.draining) return false;
        await registry.enableServer(c.upstream, id);
      } else {
        await registry.removeServer(c.upstream, id);
      }
    }
  } catch (err) {
    if (err instanceof RegistryError) return skip(err.message);
    log.warn({ upstream: c.upstream, server: id, op: c.op, err: (err as Error).message }, 'fleet: registry change from Redis failed');
    return false;
  }
  log.info({ upstream: c.upstream, server: id, op: c.op }, 'fleet: registry change from Redis applied');
  return true;
}
