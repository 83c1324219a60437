/**
 * The store the cache uses: small objects in memory, large ones on disk (when there is a disk tier). A body
 * of unknown length (no Content-Length) starts in memory and, once it passes the threshold, spills what it
 * holds to a disk writer and continues there, so a large chunked response never sits whole in memory.
 * Lookups span both tiers; a key lives in at most one of them (a commit removes it from the other).
 */
import type { Logger } from 'pino';
import { diskStore } from './disk-store.js';
import { memoryStore } from './memory-store.js';
import type { CacheStore, ObjectMeta, ObjectWriter, StoredObject } from './store.js';

export interface TieredStoreOptions {
  memory: CacheStore;
  disk?: CacheStore | undefined;
  /** Bodies larger than this (in bytes) go to disk, when there is a disk tier. */
  threshold: number;
}

/** Makes a committed object the only one under its key: drops the older one the other tier may hold. */
function exclusive(w: ObjectWriter | undefined, other: CacheStore | undefined, key: string): ObjectWriter | undefined {
  if (!w || !other) return w;
  let result: Promise<StoredObject | undefined> | undefined;
  return {
    write: (chunk) => w.write(chunk),
    onDrain: (cb) => w.onDrain(cb),
    end() {
      result ??= w.end().then((obj) => {
        if (obj) other.delete(key);
        return obj;
      });
      return result;
    },
    abort: () => w.abort(),
  };
}

/**
 * A writer for a body of unknown length: memory first, holding references to the chunks (no copies) so that
 * past `threshold` they can be replayed into a disk writer. If the disk tier refuses, it stays in memory.
 */
function spillingWriter(key: string, meta: ObjectMeta, tiers: { memory: CacheStore; disk: CacheStore; threshold: number }): ObjectWriter | undefined {
  let mem = tiers.memory.create(key, meta, -1);
  if (!mem) return exclusive(tiers.disk.create(key, meta, -1), tiers.memory, key);
  let held: Buffer[] | undefined = [];
  let heldBytes = 0;
  let disk: ObjectWriter | undefined;
  let result: Promise<StoredObject | undefined> | undefined;

  function spill(): boolean {
    held ??= [];
    const chunks = held;
    held = undefined; // from here on: no more holding, whichever tier it ends in
    const d = exclusive(tiers.disk.create(key, meta, -1), tiers.memory, key);
    if (!d) return true; // disk refused (closed, or an error): carry on in memory, bounded by its own limit
    disk = d;
    mem?.abort();
    mem = undefined;
    let ok = true;
    for (const c of chunks) ok = d.write(c) && ok; // at most threshold + one chunk: already in memory anyway
    return ok;
  }

  return {
    write(chunk) {
      if (disk) return disk.write(chunk);
      if (!mem) return true; // aborted
      mem.write(chunk);
      if (!held) return true;
      held.push(chunk);
      heldBytes += chunk.length;
      return heldBytes > tiers.threshold ? spill() : true;
    },
    onDrain(cb) {
      if (disk) disk.onDrain(cb);
      else queueMicrotask(cb);
    },
    end() {
      held = undefined;
      result ??= disk ? disk.end() : mem ? exclusive(mem, tiers.disk, key)!.end() : Promise.resolve(undefined);
      return result;
    },
    abort() {
      held = undefined;
      mem?.abort();
      disk?.abort();
      mem = undefined;
    },
  };
}

/** A store over a memory tier and an optional disk tier. */
export function tieredStore(opts: TieredStoreOptions): CacheStore {
  const { memory, disk } = opts;
  // Nothing larger than the memory tier's bound can go there, whatever the threshold says.
  const threshold = Math.min(opts.threshold, memory.stats().memory.maxBytes);

  function create(key: string, meta: ObjectMeta, sizeHint: number): ObjectWriter | undefined {
    if (!disk) return memory.create(key, meta, sizeHint); // one tier: nothing to keep exclusive
    if (sizeHint > threshold) return exclusive(disk.create(key, meta, sizeHint), memory, key);
    if (sizeHint >= 0) return exclusive(memory.create(key, meta, sizeHint), disk, key);
    return spillingWriter(key, meta, { memory, disk, threshold });
  }

  function read(obj: StoredObject, range?: { start: number; end: number }) {
    return obj.tier === 'disk' && disk ? disk.read(obj, range) : memory.read(obj, range);
  }

  return {
    get: (key) => memory.get(key) ?? disk?.get(key),
    peek: (key) => memory.peek(key) ?? disk?.peek(key),
    create,
    update: (key, meta) => memory.update(key, meta) ?? disk?.update(key, meta),
    delete(key) {
      const inMemory = memory.delete(key);
      const onDisk = disk?.delete(key) ?? false;
      return inMemory || onDisk;
    },
    *entries() {
      yield* memory.entries();
      if (disk) yield* disk.entries();
    },
    read,
    chunks: (obj) => (obj.tier === 'memory' ? memory.chunks?.(obj) : undefined),
    stats: () => ({ memory: memory.stats().memory, disk: disk?.stats().disk }),
    async close() {
      await Promise.all([memory.close(), disk?.close()]);
    },
  };
}

export interface CacheStoreOptions {
  /** Bytes of bodies kept in memory. */
  memory: number;
  /** A disk tier: its directory and its bound in bytes. */
  disk?: { path: string; size: number } | undefined;
  /** Bodies larger than this go to disk (default 1 MiB). */
  threshold?: number;
  log?: Logger | undefined;
}

/**
 * The cache's store (process lifetime). Async because the disk tier rebuilds its index first. A disk tier
 * that cannot be opened (permissions, a full or missing mount) is logged and left out: the cache keeps
 * working from memory rather than failing the proxy's start.
 */
export async function createCacheStore(opts: CacheStoreOptions): Promise<CacheStore> {
  const memory = memoryStore({ maxBytes: opts.memory });
  let disk: CacheStore | undefined;
  if (opts.disk) {
    try {
      disk = await diskStore({ path: opts.disk.path, maxBytes: opts.disk.size, log: opts.log });
    } catch (err) {
      opts.log?.error({ err, path: opts.disk.path }, 'cache: the disk tier could not be opened; caching in memory only');
    }
  }
  return tieredStore({ memory, disk, threshold: opts.threshold ?? 1024 * 1024 });
}
