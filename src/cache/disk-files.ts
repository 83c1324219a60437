/**
 * The disk store's files. Under the store's directory:
 *   tmp/                         bodies and metas being written; emptied at every start
 *   objects/<h0h1>/<h>.meta      JSON: key, size, body file name, ObjectMeta  (h = sha256 hex of the key)
 *   objects/<h0h1>/<h>-<id>.body the body, a fresh name per write
 * Every file reaches objects/ by a rename from tmp/, so a crash never leaves a half-written file visible. The
 * meta names its body, and a new body gets a new name, so replacing an object is one atomic rename of the
 * meta: a crash between steps leaves either the old or the new object, plus an unreferenced body that the
 * next start removes. Nothing outside objects/ and tmp/ is ever touched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { progress } from '../core/progress.js';
import type { ObjectMeta } from './store.js';

/** What a `.meta` file holds. */
export interface MetaRecord {
  v: 1;
  key: string;
  size: number;
  /** File name of the body, in the same directory. */
  body: string;
  meta: ObjectMeta;
}

/** A record found at start, with the time its meta was last written (the LRU order across a restart). */
export interface LoadedRecord {
  record: MetaRecord;
  hash: string;
  mtimeMs: number;
}

/** File names are hashes: keys are URLs of any length and alphabet, and sha256 spreads them evenly. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Paths inside one store's directory. */
export class DiskLayout {
  readonly objects: string;
  readonly tmp: string;
  readonly #made = new Set<string>();

  constructor(readonly root: string) {
    this.objects = join(root, 'objects');
    this.tmp = join(root, 'tmp');
  }

  /** Two hex digits of subdirectory keep any one directory to 1/256th of the objects. */
  dir(hash: string): string {
    return join(this.objects, hash.slice(0, 2));
  }

  metaPath(hash: string): string {
    return join(this.dir(hash), `${hash}.meta`);
  }

  /** A new body file name for `hash`, and a temp path to write it under. */
  newBody(hash: string): { name: string; path: string; tmp: string } {
    const name = `${hash}-${randomBytes(6).toString('hex')}.body`;
    return { name, path: join(this.dir(hash), name), tmp: join(this.tmp, name) };
  }

  /** Creates the object's subdirectory once per store lifetime. */
  async ensureDir(hash: string): Promise<void> {
    const dir = this.dir(hash);
    if (this.#made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.#made.add(dir);
  }

  /** After a failed commit: the subdirectory may have been removed behind our back, so check it again next time. */
  forgetDir(hash: string): void {
    this.#made.delete(this.dir(hash));
  }

  /** Writes a meta under a temp name and renames it into place (atomic on POSIX filesystems). */
  async writeMeta(hash: string, record: MetaRecord): Promise<void> {
    await this.ensureDir(hash);
    const tmp = join(this.tmp, `${hash}-${randomBytes(6).toString('hex')}.meta`);
    try {
      await writeFile(tmp, JSON.stringify(record), { flag: 'wx' });
      await rename(tmp, this.metaPath(hash));
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined); // best effort: the next start empties tmp/ anyway
      throw err;
    }
  }
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isObjectMeta(v: unknown): v is ObjectMeta {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m.status === 'number' && isStringArray(m.headers) && typeof m.requestTime === 'number'
    && typeof m.responseTime === 'number' && typeof m.url === 'string' && isStringArray(m.tags)
    && (m.extra === undefined || (typeof m.extra === 'object' && m.extra !== null));
}

/** A meta file's content, when it is one of ours and belongs to `hash`; undefined for anything else. */
export function parseRecord(text: string, hash: string): MetaRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (r.v !== 1 || typeof r.key !== 'string' || hashKey(r.key) !== hash) return undefined;
  if (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0) return undefined;
  if (typeof r.body !== 'string' || !r.body.startsWith(`${hash}-`) || !r.body.endsWith('.body')) return undefined;
  return isObjectMeta(r.meta) ? (v as MetaRecord) : undefined;
}

/** Runs `fn` over `items` 64 at a time: a directory may hold thousands of files, and this bounds the open ones. */
async function inBatches<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 64) out.push(...await Promise.all(items.slice(i, i + 64).map(fn)));
  return out;
}

/** Reads one meta and checks its body is there whole (a body shorter than recorded is a torn write). */
async function loadOne(dir: string, file: string): Promise<LoadedRecord | undefined> {
  const hash = file.slice(0, -'.meta'.length);
  if (basename(dir) !== hash.slice(0, 2)) return undefined;
  const path = join(dir, file);
  const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  const record = parseRecord(text, hash);
  if (!record) return undefined;
  const body = await stat(join(dir, record.body)).catch(() => undefined);
  if (!body?.isFile() || body.size !== record.size) return undefined;
  return { record, hash, mtimeMs: st.mtimeMs };
}

/** Loads one subdirectory: keeps whole objects, removes everything else in it. `metas`: the meta files seen. */
async function loadDir(dir: string, log: Logger | undefined): Promise<{ found: LoadedRecord[]; metas: number }> {
  const names = await readdir(dir);
  const metas = names.filter((n) => n.endsWith('.meta'));
  const loaded = await inBatches(metas, (m) => loadOne(dir, m).catch((err: unknown) => {
    log?.warn({ err, file: join(dir, m) }, 'cache: unreadable meta file; dropping the object');
    return undefined;
  }));
  const keep = new Set<string>();
  const found: LoadedRecord[] = [];
  for (const l of loaded) {
    if (!l) continue;
    found.push(l);
    keep.add(`${l.hash}.meta`).add(l.record.body);
  }
  await inBatches(names.filter((n) => !keep.has(n)), (n) => rm(join(dir, n), { recursive: true, force: true }));
  return { found, metas: metas.length };
}

/** How the warm-up reports its progress: its log, and at most one line per `everyMs` (1 s by default). */
export interface WarmUpLog { log: Logger | undefined; everyMs?: number }

/**
 * Prepares the directory and reads the index back: empties tmp/, drops metas without a whole body and
 * bodies no meta names. Returns the objects oldest-written first. A large cache takes a while (one meta read
 * per object): the objects checked so far are logged as it goes, then the count kept and the time taken.
 */
export async function loadIndex(layout: DiskLayout, { log, everyMs }: WarmUpLog): Promise<LoadedRecord[]> {
  await rm(layout.tmp, { recursive: true, force: true });
  await mkdir(layout.tmp, { recursive: true });
  await mkdir(layout.objects, { recursive: true });
  // A first pass counts the objects, for the progress lines (names are not kept: memory stays one directory's).
  const dirs: string[] = [];
  let total = 0;
  for (const entry of await readdir(layout.objects, { withFileTypes: true })) {
    const path = join(layout.objects, entry.name);
    if (!entry.isDirectory() || !/^[0-9a-f]{2}$/.test(entry.name)) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    dirs.push(path);
    for (const name of await readdir(path)) if (name.endsWith('.meta')) total++;
  }
  const shown = log && total > 0 ? progress(log, { what: 'cache: warm-up from disk', total, unit: 'objects', ...(everyMs !== undefined ? { everyMs } : {}) }) : undefined;
  const found: LoadedRecord[] = [];
  let checked = 0;
  for (const path of dirs) {
    // One directory at a time bounds the open files to one directory's worth.
    const dir = await loadDir(path, log);
    found.push(...dir.found);
    checked += dir.metas;
    shown?.step(checked);
  }
  shown?.end(found.length, { checked });
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs);
}
