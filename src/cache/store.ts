/**
 * The cache's storage contract (process lifetime: it outlives every config generation). A store keeps an
 * index of its objects in memory, so a lookup is synchronous; bodies are streamed in and out, never held
 * whole by the caller. Stores: memory (LRU, bounded in bytes), disk (bounded in bytes, index rebuilt at start),
 * and the tiered store that puts small objects in memory and large ones on disk. A Redis-backed shared tier can
 * implement the same interface later.
 */
import type { Readable } from 'node:stream';

/** What the cache layer keeps with each object (JSON-serialisable: the disk store persists it). */
export interface ObjectMeta {
  /** Response status code. */
  status: number;
  /** Response header fields as stored, a flat [name, value, …] list, names lower-case. */
  headers: string[];
  /** When the request that got this response was sent, and when its head came back (ms since the epoch):
   * RFC 9111 4.2.3's request_time and response_time. */
  requestTime: number;
  responseTime: number;
  /** The URL it answers (scheme://host/path?query), for purge by URL or prefix. */
  url: string;
  /** Surrogate keys / cache tags (Surrogate-Key, Cache-Tag), for purge by tag. */
  tags: string[];
  /** Anything else the cache layer wants to keep (variants, soft purge…). */
  extra?: Record<string, unknown>;
}

/** A committed object: readable until it is deleted or evicted. */
export interface StoredObject {
  readonly key: string;
  /** Mutable only through `store.update`. */
  readonly meta: ObjectMeta;
  /** Body length in bytes. */
  readonly size: number;
  /** Which tier holds it. */
  readonly tier: 'memory' | 'disk';
}

/** Streams a body into the store. The object becomes visible to `get` only when `end` resolves. */
export interface ObjectWriter {
  /** Appends a chunk. false: the store is behind (disk); call `onDrain` before writing much more. */
  write(chunk: Buffer): boolean;
  /** Calls `cb` once when the store can take more (at once when it already can). */
  onDrain(cb: () => void): void;
  /** Commits: resolves with the stored object, or undefined when it could not be kept (too large, aborted,
   * a disk error). Replaces any object under the same key. */
  end(): Promise<StoredObject | undefined>;
  /** Drops what was written; nothing becomes visible. Safe to call after end() or twice. */
  abort(): void;
}

export interface StoreStats {
  /** Body bytes held, and the bound. */
  bytes: number;
  maxBytes: number;
  objects: number;
}

export interface CacheStore {
  /** The object under `key`, or undefined; a hit counts as a use for LRU eviction. */
  get(key: string): StoredObject | undefined;
  /** Looks without counting a use (purge, listing). */
  peek(key: string): StoredObject | undefined;
  /**
   * Starts writing an object. `sizeHint` is the Content-Length when known (-1 else): the tiered store sends
   * objects above its threshold to disk, and any store refuses (returns undefined) an object it can never hold.
   */
  create(key: string, meta: ObjectMeta, sizeHint: number): ObjectWriter | undefined;
  /** Replaces the metadata of a stored object (a 304's headers, a soft purge), keeping its body. */
  update(key: string, meta: ObjectMeta): StoredObject | undefined;
  /** Removes an object (a reader already streaming it finishes). true when there was one. */
  delete(key: string): boolean;
  /** Every committed object (purge by prefix or tag walks this). */
  entries(): IterableIterator<StoredObject>;
  /** The body, or bytes [start, end] (inclusive) of it, as a stream. An object deleted meanwhile still reads whole. */
  read(obj: StoredObject, range?: { start: number; end: number }): Readable;
  /** The body as the chunks held in memory, for a memory object (a hit is then written without a stream);
   * undefined for anything else. The chunks must not be changed. */
  chunks?(obj: StoredObject): readonly Buffer[] | undefined;
  stats(): { memory: StoreStats; disk: StoreStats | undefined };
  /** Waits for pending writes (the disk index) and releases files and timers. */
  close(): Promise<void>;
}

/** A Map used as an LRU index: the entry under `key`, moved to the most recently used end. */
export function lruGet<V>(index: Map<string, V>, key: string): V | undefined {
  const v = index.get(key);
  if (v !== undefined) {
    index.delete(key);
    index.set(key, v);
  }
  return v;
}
