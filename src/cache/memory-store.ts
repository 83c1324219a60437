/**
 * The memory tier: an LRU bounded in body bytes. Bodies are kept as the chunks they arrived in (no
 * concatenation) and read back by slicing those chunks, so neither a write nor a read copies a whole body.
 * The Map's insertion order is the LRU order: a hit moves the key to the end, eviction takes from the front.
 */
import { Readable } from 'node:stream';
import { lruGet, type CacheStore, type ObjectMeta, type ObjectWriter, type StoredObject, type StoreStats } from './store.js';

export interface MemoryStoreOptions {
  /** Bound on the body bytes held (committed objects only). */
  maxBytes: number;
}

/** A committed memory object. Holding its chunks here (not in the store's map) lets a reader finish a body
 * that was deleted or evicted meanwhile: the chunks live as long as the reader does. */
class MemoryObject implements StoredObject {
  readonly tier = 'memory';
  constructor(
    readonly key: string,
    readonly meta: ObjectMeta,
    readonly size: number,
    readonly chunks: readonly Buffer[],
  ) {}
}

/** Yields bytes [start, end] (inclusive) of `chunks` as views into them. */
export function* sliceChunks(chunks: readonly Buffer[], start: number, end: number): Generator<Buffer> {
  let offset = 0;
  for (const chunk of chunks) {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end + 1 - offset, chunk.length);
    offset += chunk.length;
    if (to > from) yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
    if (offset > end) return;
  }
}

/** Clamps a requested range to the body; an empty range reads nothing. */
export function clampRange(size: number, range?: { start: number; end: number }): { start: number; end: number } {
  if (!range) return { start: 0, end: size - 1 };
  return { start: Math.max(0, range.start), end: Math.min(size - 1, range.end) };
}

/**
 * A chunk that is a small view of a much larger buffer (socket reads are sliced out of bigger allocations)
 * would keep that whole allocation alive while we count only the view: copy those, keep the rest as is.
 */
function ownChunk(chunk: Buffer): Buffer {
  if (chunk.length * 2 >= chunk.buffer.byteLength) return chunk;
  const copy = Buffer.allocUnsafeSlow(chunk.length);
  chunk.copy(copy);
  return copy;
}

/** An LRU memory store bounded in body bytes. */
export function memoryStore(opts: MemoryStoreOptions): CacheStore {
  const maxBytes = opts.maxBytes;
  const index = new Map<string, MemoryObject>();
  let bytes = 0;
  let closed = false;

  function remove(key: string): boolean {
    const old = index.get(key);
    if (!old) return false;
    index.delete(key);
    bytes -= old.size;
    return true;
  }

  function commit(obj: MemoryObject): MemoryObject | undefined {
    if (closed || obj.size > maxBytes) return undefined;
    remove(obj.key);
    // Evict least recently used objects until the new one fits; it is at most maxBytes, so this ends.
    for (const victim of index.keys()) {
      if (bytes + obj.size <= maxBytes) break;
      remove(victim);
    }
    index.set(obj.key, obj);
    bytes += obj.size;
    return obj;
  }

  function create(key: string, meta: ObjectMeta, sizeHint: number): ObjectWriter | undefined {
    if (closed || sizeHint > maxBytes) return undefined;
    let chunks: Buffer[] | undefined = [];
    let written = 0;
    let result: Promise<MemoryObject | undefined> | undefined;
    return {
      write(chunk) {
        if (!chunks) return true; // refused or aborted: swallow the rest, end() resolves undefined
        written += chunk.length;
        // Refuse as soon as the body alone could never fit, rather than buffering it to the end.
        if (written > maxBytes) chunks = undefined;
        else chunks.push(ownChunk(chunk));
        return true;
      },
      onDrain(cb) {
        queueMicrotask(cb); // memory is never behind
      },
      end() {
        result ??= Promise.resolve(chunks ? commit(new MemoryObject(key, meta, written, chunks)) : undefined);
        chunks = undefined;
        return result;
      },
      abort() {
        chunks = undefined;
      },
    };
  }

  function read(obj: StoredObject, range?: { start: number; end: number }): Readable {
    if (!(obj instanceof MemoryObject)) return Readable.from([]).destroy(new Error('not a memory store object'));
    const r = clampRange(obj.size, range);
    return Readable.from(sliceChunks(obj.chunks, r.start, r.end), { objectMode: false });
  }

  function chunks(obj: StoredObject): readonly Buffer[] | undefined {
    return obj instanceof MemoryObject ? obj.chunks : undefined;
  }

  function stats(): StoreStats {
    return { bytes, maxBytes, objects: index.size };
  }

  return {
    get: (key) => lruGet(index, key),
    peek: (key) => index.get(key),
    create,
    update(key, meta) {
      const old = index.get(key);
      if (!old) return undefined;
      const obj = new MemoryObject(key, meta, old.size, old.chunks);
      index.set(key, obj); // set on an existing key keeps its LRU position: an update is not a use
      return obj;
    },
    delete: remove,
    entries: () => index.values(),
    read,
    chunks,
    stats: () => ({ memory: stats(), disk: undefined }),
    async close() {
      closed = true;
      index.clear();
      bytes = 0;
    },
  };
}
