/**
 * The disk tier: bodies in files, streamed in and out (never held whole in memory), bounded in bytes with LRU
 * eviction. The index (key → meta, size, body file) lives in memory, so lookups are synchronous; it is rebuilt
 * from the directory at start (disk-files.ts has the layout and why a crash never shows a half object).
 *
 * The factory is async: `await diskStore({ path, maxBytes })` resolves once the index is rebuilt.
 *
 * The in-memory index is the truth for get(); the files follow it in the background. Writes of one key's meta
 * (commit, update, delete) are serialised per key so they land in call order; body files have a fresh name per
 * write, so they never race. Disk errors are logged and cost only the cache entry: nothing throws to the caller.
 */
import { close, createReadStream, open, read as fsRead } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { noteStreamed } from '../core/memory.js';
import { DiskLayout, hashKey, loadIndex, type MetaRecord } from './disk-files.js';
import { bodyWriter } from './disk-writer.js';
import { clampRange } from './memory-store.js';

/** Bytes per read of a body file: fewer, larger reads and socket writes than the 64 KiB default (bench/cache.ts). */
const READ_CHUNK = 256 * 1024;
import { lruGet, type CacheStore, type ObjectMeta, type ObjectWriter, type StoredObject, type StoreStats } from './store.js';

export interface DiskStoreOptions {
  /** Directory of the store (created if missing); only its objects/ and tmp/ subdirectories are used. */
  path: string;
  /** Bound on the body bytes kept. */
  maxBytes: number;
  log?: Logger;
  /** The warm-up's progress lines at most this often, in ms (1000 by default). */
  progressEveryMs?: number;
}

/** A committed disk object; `body` is the absolute path of its body file. */
class DiskObject implements StoredObject {
  readonly tier = 'disk';
  constructor(
    readonly key: string,
    readonly meta: ObjectMeta,
    readonly size: number,
    readonly body: string,
  ) {}
}

/**
 * fs functions for the read streams: every disk read allocates a fresh buffer, as a socket read does, so the
 * bytes count towards core/memory.ts's periodic minor GC; without it a large hit served from disk grows RSS
 * by tens of MB of dead buffers before V8 looks (the forward path counts upstream bytes the same way).
 */
const countingFs = {
  open,
  close,
  read(fd: number, buf: Buffer, off: number, len: number, pos: number | null, cb: (err: Error | null, n: number, b: Buffer) => void) {
    fsRead(fd, buf, off, len, pos, (err, n, b) => {
      if (n > 0) noteStreamed(n);
      cb(err, n, b);
    });
  },
};

const EMPTY_STATS: StoreStats = Object.freeze({ bytes: 0, maxBytes: 0, objects: 0 });

/** Opens the store at `path`, rebuilding the index from what is there. Never rejects for a bad file in it. */
export async function diskStore(opts: DiskStoreOptions): Promise<CacheStore> {
  const layout = new DiskLayout(opts.path);
  const { log, maxBytes } = opts;
  const index = new Map<string, DiskObject>();
  let bytes = 0;
  let closed = false;
  /** Background file work, awaited by close(). */
  const pending = new Set<Promise<unknown>>();
  /** Tail of each key's queue of meta writes (by hash). */
  const queues = new Map<string, Promise<unknown>>();
  /** Reads whose file is not open yet, by body path: an unlink waits for them, since an open fd survives
   * unlink on POSIX but an open after the unlink fails. */
  const opening = new Map<string, Set<Promise<void>>>();
  const writers = new Set<ObjectWriter>();

  function track<T>(p: Promise<T>): Promise<T> {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** Runs `fn` after every earlier task of the same hash. `fn` must not throw (each task catches and logs). */
  function serial<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    const next = (queues.get(hash) ?? Promise.resolve()).then(fn);
    const tail = next.catch(() => undefined);
    queues.set(hash, tail);
    void tail.then(() => { if (queues.get(hash) === tail) queues.delete(hash); });
    return track(next);
  }

  function unlinkBody(path: string): void {
    track((async () => {
      await Promise.all(opening.get(path) ?? []);
      await rm(path, { force: true });
    })().catch((err: unknown) => log?.warn({ err, file: path }, 'cache: could not remove a body file')));
  }

  /** Drops `key` from the index now; its files go in the background. */
  function remove(key: string): boolean {
    const obj = index.get(key);
    if (!obj) return false;
    index.delete(key);
    bytes -= obj.size;
    const hash = hashKey(key);
    void serial(hash, async () => {
      // A commit queued before this one may have put a newer object in place: its meta stays.
      if (index.has(key)) return;
      await rm(layout.metaPath(hash), { force: true }).catch((err: unknown) =>
        log?.warn({ err, key }, 'cache: could not remove a meta file'));
    });
    unlinkBody(obj.body);
    return true;
  }

  /** Puts `obj` in the index (replacing any older one) and evicts least recently used objects past the bound. */
  function insert(obj: DiskObject): void {
    const old = index.get(obj.key);
    if (old) {
      index.delete(obj.key);
      bytes -= old.size;
      if (old.body !== obj.body) unlinkBody(old.body);
    }
    index.set(obj.key, obj);
    bytes += obj.size;
    for (const victim of index.keys()) {
      if (bytes <= maxBytes) break;
      if (victim !== obj.key) remove(victim);
    }
  }

  function metaRecord(obj: DiskObject, bodyName: string): MetaRecord {
    return { v: 1, key: obj.key, size: obj.size, body: bodyName, meta: obj.meta };
  }

  /** Moves a finished temp body into place, writes its meta, then makes it visible. */
  function commit(key: string, meta: ObjectMeta, body: { name: string; path: string; tmp: string }, size: number) {
    const hash = hashKey(key);
    return serial(hash, async (): Promise<StoredObject | undefined> => {
      const obj = new DiskObject(key, meta, size, body.path);
      try {
        if (closed || size > maxBytes) throw new Error('store closed or object too large');
        await layout.ensureDir(hash);
        await rename(body.tmp, body.path);
        await layout.writeMeta(hash, metaRecord(obj, body.name));
      } catch (err) {
        if (!closed && size <= maxBytes) log?.warn({ err, key }, 'cache: could not commit to disk; the object is not cached');
        layout.forgetDir(hash);
        await Promise.all([rm(body.tmp, { force: true }), rm(body.path, { force: true })]).catch(() => undefined);
        return undefined;
      }
      if (closed) return undefined; // its files stay and are found again at the next start
      insert(obj);
      return obj;
    });
  }

  function create(key: string, meta: ObjectMeta, sizeHint: number): ObjectWriter | undefined {
    if (closed || sizeHint > maxBytes) return undefined;
    const body = layout.newBody(hashKey(key));
    let settle = (): void => undefined;
    track(new Promise<void>((resolve) => { settle = resolve; })); // close() waits for the temp file's fate
    const writer: ObjectWriter = bodyWriter({
      tmp: body.tmp,
      maxBytes,
      key,
      log,
      commit: (size) => commit(key, meta, body, size),
      settled: () => {
        writers.delete(writer);
        settle();
      },
    });
    writers.add(writer);
    return writer;
  }

  function update(key: string, meta: ObjectMeta): StoredObject | undefined {
    const old = index.get(key);
    if (!old || closed) return undefined;
    const obj = new DiskObject(key, meta, old.size, old.body);
    index.set(key, obj); // an existing key keeps its LRU place: an update is not a use
    const hash = hashKey(key);
    void serial(hash, async () => {
      // Only the latest meta of this body is written; an update overtaken by a delete or a new body is moot.
      const cur = index.get(key);
      if (cur !== obj) return;
      await layout.writeMeta(hash, metaRecord(cur, basename(cur.body))).catch((err: unknown) =>
        log?.warn({ err, key }, 'cache: could not rewrite a meta file'));
    });
    return obj;
  }

  function read(obj: StoredObject, range?: { start: number; end: number }): Readable {
    if (!(obj instanceof DiskObject)) return Readable.from([]).destroy(new Error('not a disk store object'));
    const r = clampRange(obj.size, range);
    if (r.end < r.start) return Readable.from([], { objectMode: false });
    const rs = createReadStream(obj.body, { start: r.start, end: r.end, fs: countingFs, highWaterMark: READ_CHUNK });
    const opened = new Promise<void>((resolve) => {
      rs.once('open', () => resolve());
      rs.once('close', () => resolve()); // an error closes it without 'open'
    });
    const set = opening.get(obj.body) ?? new Set();
    opening.set(obj.body, set.add(opened));
    void opened.then(() => {
      set.delete(opened);
      if (set.size === 0 && opening.get(obj.body) === set) opening.delete(obj.body);
    });
    rs.once('error', (err) => {
      // The file went missing or unreadable behind our back: forget the object so the next request refetches.
      log?.warn({ err, key: obj.key }, 'cache: could not read a body file');
      if (index.get(obj.key)?.body === obj.body) remove(obj.key);
    });
    return rs;
  }

  function stats(): StoreStats {
    return { bytes, maxBytes, objects: index.size };
  }

  async function close(): Promise<void> {
    closed = true;
    for (const w of [...writers]) w.abort();
    // Each round's work may queue a little more (a task's unlink); bounded rounds, as it always converges.
    for (let round = 0; round < 10 && pending.size > 0; round++) await Promise.allSettled([...pending]);
    index.clear();
    bytes = 0;
  }

  for (const { record, hash } of await loadIndex(layout, { log, ...(opts.progressEveryMs !== undefined ? { everyMs: opts.progressEveryMs } : {}) })) {
    insert(new DiskObject(record.key, record.meta, record.size, join(layout.dir(hash), record.body)));
  }

  return {
    get: (key) => lruGet(index, key),
    peek: (key) => index.get(key),
    create,
    update,
    delete: remove,
    entries: () => index.values(),
    read,
    stats: () => ({ memory: EMPTY_STATS, disk: stats() }),
    close,
  };
}
