/**
 * The cache engine (process lifetime, STYLE.md 9): the store, the indexes that find objects by URL and by tag,
 * the Vary field names last seen for each base key, the fills in flight (request collapsing), and counters.
 * Config generations come and go; routes reach their objects through their zone, so a reload that keeps a
 * route's cache settings keeps its objects.
 */
import type { Logger } from 'pino';
import { freshness, fieldsOf, type Freshness, type HeuristicOptions } from './policy.js';
import type { CacheStats, CacheTierStats, SharedCacheTier } from '../core/services.js';
import type { CacheStore, ObjectMeta, StoreStats, StoredObject } from './store.js';

/** What the cache layer keeps in `meta.extra`. */
export interface CacheExtra {
  zone: string;
  base: string;
  vary: string[];
  /** Soft-purged: stale from now on (stale-while-revalidate and stale-if-error may still serve it). */
  soft?: boolean;
}

export function extraOf(meta: ObjectMeta): CacheExtra {
  return meta.extra as unknown as CacheExtra;
}

/** A fill in flight: requests for the same object wait on it (request collapsing). */
export interface Waiting {
  /** Resolves when the fill ended: stored or not, the waiters look again. */
  readonly settled: Promise<void>;
  waiters: number;
}

export interface PurgeRequest { url?: string; prefix?: string; tag?: string; soft?: boolean }

export interface CacheCounters { hits: number; misses: number; stale: number; revalidated: number; stored: number; bypass: number }

export interface CacheEngine {
  readonly store: CacheStore;
  readonly log: Logger;
  /** The shared tier (`cache.redis`), consulted on a local miss; undefined without one (no cost then). */
  readonly tier: SharedCacheTier | undefined;
  /** The shared tier's counters (reported only with one). */
  readonly shared: NonNullable<CacheStats['shared']>;
  /** The Vary field names last stored for a base key. */
  readonly vary: Map<string, string[]>;
  readonly fills: Map<string, Waiting>;
  /** Keys being revalidated in the background (once each). */
  readonly refreshing: Set<string>;
  readonly counters: CacheCounters;
  /** Indexes a committed object (URL, tags, Vary). */
  add(obj: StoredObject): void;
  /** The object's freshness, computed once per stored head. */
  freshnessOf(obj: StoredObject, h: HeuristicOptions): Freshness;
  /**
   * Removes (or, soft, marks stale) what a purge names; returns how many objects. `remote`: a purge another
   * worker or instance made (not announced again through `onPurge`, nor applied to the shared tier: the one
   * that made it did). A purge made here also deletes the objects in the shared tier (a soft one too).
   */
  purge(req: PurgeRequest, opts?: { remote?: boolean }): number;
  /** Told of every purge and invalidation made here, so other workers and instances can do the same. */
  onPurge: ((req: PurgeRequest) => void) | undefined;
  /** RFC 9111 4.4: drops every stored response for a URL (all zones, all variants). */
  invalidate(url: string): number;
  /** Sizes, bounds, objects, hit ratio and counters (`GET /api/cache`). */
  report(): CacheStats;
  close(): Promise<void>;
}

function addTo(index: Map<string, Set<string>>, name: string, key: string): void {
  let set = index.get(name);
  if (!set) index.set(name, (set = new Set()));
  set.add(key);
}

export function createEngine(store: CacheStore, log: Logger, opts: { tier?: SharedCacheTier | undefined } = {}): CacheEngine {
  const byUrl = new Map<string, Set<string>>();
  const byTag = new Map<string, Set<string>>();
  const fresh = new WeakMap<ObjectMeta, Freshness>();
  const counters: CacheCounters = { hits: 0, misses: 0, stale: 0, revalidated: 0, stored: 0, bypass: 0 };

  const engine: CacheEngine = {
    store, log, vary: new Map(), fills: new Map(), refreshing: new Set(), counters,
    tier: opts.tier, shared: { hits: 0, misses: 0, errors: 0, stored: 0 },
    add(obj) {
      const x = extraOf(obj.meta);
      addTo(byUrl, obj.meta.url, obj.key);
      for (const t of obj.meta.tags) addTo(byTag, t, obj.key);
      engine.vary.set(x.base, x.vary);
    },
    freshnessOf(obj, h) {
      let f = fresh.get(obj.meta);
      if (!f) {
        f = freshness(obj.meta.status, fieldsOf(obj.meta.headers), obj.meta, h);
        fresh.set(obj.meta, f);
      }
      return f;
    },
    onPurge: undefined,
    purge(req, how) {
      if (!how?.remote) {
        engine.onPurge?.(req);
        engine.tier?.purge(req);
      }
      const keys = new Set<string>();
      const take = (set: Set<string> | undefined): void => { for (const k of set ?? []) keys.add(k); };
      if (req.url !== undefined) take(byUrl.get(req.url));
      if (req.tag !== undefined) take(byTag.get(req.tag));
      if (req.prefix !== undefined) {
        for (const [url, set] of byUrl) if (url.startsWith(req.prefix)) take(set);
      }
      let n = 0;
      for (const k of keys) {
        const obj = store.peek(k);
        if (!obj) continue;
        if (req.soft) {
          store.update(k, { ...obj.meta, extra: { ...obj.meta.extra, soft: true } });
        } else {
          store.delete(k);
        }
        n++;
      }
      if (!req.soft) {
        if (req.url !== undefined) byUrl.delete(req.url);
        if (req.tag !== undefined) byTag.delete(req.tag);
      }
      return n;
    },
    invalidate(url) {
      return engine.purge({ url });
    },
    report() {
      const { memory, disk } = store.stats();
      const tier = (t: StoreStats): CacheTierStats => ({ bytes: t.bytes, max_bytes: t.maxBytes, objects: t.objects });
      const lookups = counters.hits + counters.stale + counters.revalidated + counters.misses;
      let softPurged = 0;
      for (const obj of store.entries()) if ((obj.meta.extra as Partial<CacheExtra> | undefined)?.soft === true) softPurged++;
      return {
        enabled: true,
        objects: memory.objects + (disk?.objects ?? 0), bytes: memory.bytes + (disk?.bytes ?? 0),
        memory: tier(memory), disk: disk ? tier(disk) : null,
        hit_ratio: lookups === 0 ? 0 : (counters.hits + counters.stale + counters.revalidated) / lookups,
        counters: { ...counters }, soft_purged: softPurged, urls: byUrl.size, tags: byTag.size,
        inflight_fills: engine.fills.size, revalidating: engine.refreshing.size,
        ...(engine.tier ? { shared: { ...engine.shared } } : {}),
      };
    },
    close: () => store.close(),
  };
  // Objects kept on disk from an earlier run are indexed again.
  for (const obj of store.entries()) if (obj.meta.extra) engine.add(obj);
  // Index entries of evicted objects are pruned now and then, so the indexes stay bounded by the store.
  const prune = setInterval(() => {
    for (const index of [byUrl, byTag]) {
      for (const [name, set] of index) {
        for (const k of set) if (!store.peek(k)) set.delete(k);
        if (set.size === 0) index.delete(name);
      }
    }
    // The Vary names of base keys no object is stored under any more: without this, each URL ever stored
    // (`?r=1`, `?r=2`…) kept an entry for the process's life.
    const live = new Set<string>();
    for (const obj of store.entries()) {
      const base = (obj.meta.extra as Partial<CacheExtra> | undefined)?.base;
      if (base !== undefined) live.add(base);
    }
    for (const base of engine.vary.keys()) if (!live.has(base)) engine.vary.delete(base);
  }, 60_000);
  prune.unref();
  const close = engine.close;
  engine.close = async () => {
    clearInterval(prune);
    await engine.tier?.close();
    await close();
  };
  return engine;
}
