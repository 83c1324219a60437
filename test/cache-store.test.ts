import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { diskStore } from '../src/cache/disk-store.js';
import { hashKey } from '../src/cache/disk-files.js';
import { memoryStore } from '../src/cache/memory-store.js';
import type { CacheStore } from '../src/cache/store.js';
import { createCacheStore, tieredStore } from '../src/cache/tiered-store.js';
import { bytesOf, meta, put, readAll, storeContract, totals } from './helpers/store-contract.js';
import { tempDir } from './helpers/tmp.js';

function closing(t: TestContext, store: CacheStore): CacheStore {
  t.after(() => store.close());
  return store;
}

/** A pino logger whose lines land in an array. */
function captureLog(level = 'warn'): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } });
  return { log: pino({ level }, sink), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath ?? d.path, d.name).slice(dir.length + 1));
}

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

storeContract('memory store', async (t, maxBytes) => closing(t, memoryStore({ maxBytes })));
storeContract('disk store', async (t, maxBytes) => closing(t, await diskStore({ path: tempDir('cache'), maxBytes })));
storeContract('tiered store', async (t, maxBytes) =>
  closing(t, await createCacheStore({ memory: maxBytes, disk: { path: tempDir('cache'), size: maxBytes }, threshold: maxBytes / 2 })));
// A tiny threshold sends nearly everything to disk, and bodies of unknown length spill there mid-write.
storeContract('tiered store (spilling)', async (t, maxBytes) =>
  closing(t, await createCacheStore({ memory: maxBytes, disk: { path: tempDir('cache'), size: maxBytes }, threshold: 4 })));
storeContract('tiered store (memory only)', async (t, maxBytes) => closing(t, await createCacheStore({ memory: maxBytes })));

test('disk store: objects survive a restart; temp files, orphan bodies, torn and foreign files are removed', async (t) => {
  const dir = tempDir('cache');
  const first = await diskStore({ path: dir, maxBytes: 10_000 });
  await put(first, 'a', ['alpha', '-body']);
  await put(first, 'b', ['beta']);
  await put(first, 'gone', ['x']);
  first.update('b', meta('http://x.test/b', { soft: true }));
  first.delete('gone');
  await first.close();

  const hb = hashKey('b');
  writeFileSync(join(dir, 'tmp', 'half-written.body'), 'junk');
  writeFileSync(join(dir, 'objects', hb.slice(0, 2), `${hb}-dead.body`), 'orphan');
  writeFileSync(join(dir, 'objects', 'stray.txt'), 'not ours');
  const ht = hashKey('torn');
  mkdirSync(join(dir, 'objects', ht.slice(0, 2)), { recursive: true });
  writeFileSync(join(dir, 'objects', ht.slice(0, 2), `${ht}.meta`), JSON.stringify({ v: 1, key: 'torn', size: 99, body: `${ht}-1.body`, meta: meta('u') }));
  writeFileSync(join(dir, 'objects', ht.slice(0, 2), `${ht}-1.body`), 'short'); // a body shorter than its meta says

  const store = closing(t, await diskStore({ path: dir, maxBytes: 10_000 }));
  assert.deepEqual([...store.entries()].map((o) => o.key).sort(), ['a', 'b']);
  assert.equal((await readAll(store.read(store.get('a')!))).toString(), 'alpha-body');
  assert.deepEqual(store.get('b')!.meta, meta('http://x.test/b', { soft: true }));
  assert.equal((await readAll(store.read(store.get('b')!))).toString(), 'beta');
  assert.deepEqual(store.stats().disk, { bytes: 14, maxBytes: 10_000, objects: 2 });
  assert.deepEqual(filesUnder(join(dir, 'tmp')), []);
  // Left: one meta and one body per object, nothing else.
  assert.deepEqual(filesUnder(join(dir, 'objects')).map((f) => f.replace(/-[0-9a-f]+\.body$/, '.body')).sort(),
    [`${hashKey('a').slice(0, 2)}/${hashKey('a')}.body`, `${hashKey('a').slice(0, 2)}/${hashKey('a')}.meta`, `${hb.slice(0, 2)}/${hb}.body`, `${hb.slice(0, 2)}/${hb}.meta`].sort());
});

test('disk store: a smaller bound at restart evicts down to it', async (t) => {
  const dir = tempDir('cache');
  const first = await diskStore({ path: dir, maxBytes: 10_000 });
  for (const k of ['a', 'b', 'c']) await put(first, k, [bytesOf(400)]);
  await first.close();
  const store = closing(t, await diskStore({ path: dir, maxBytes: 900 }));
  assert.equal(store.stats().disk!.objects, 2);
  assert.ok(store.stats().disk!.bytes <= 900);
});

test('disk store: abort, eviction and delete remove their files; a deleted body goes once its readers have it open', async (t) => {
  const dir = tempDir('cache');
  const store = closing(t, await diskStore({ path: dir, maxBytes: 1000 }));
  const w = store.create('aborted', meta('u'), -1)!;
  w.write(bytesOf(100));
  w.abort();
  await until(() => filesUnder(join(dir, 'tmp')).length === 0, 'the aborted temp file to go');
  await put(store, 'a', [bytesOf(600)]);
  const obj = (await put(store, 'b', [bytesOf(600)]))!; // evicts a
  await until(() => filesUnder(join(dir, 'objects')).length === 2, 'a\'s files to go');
  const reading = store.read(obj);
  store.delete('b');
  await until(() => filesUnder(join(dir, 'objects')).length === 0, 'b\'s files to go');
  assert.equal((await readAll(reading)).length, 600); // the open fd outlives the unlink
});

test('disk store: a 50 MiB body streams in and out with backpressure, without RSS growing anywhere near its size', async (t) => {
  const store = closing(t, await diskStore({ path: tempDir('cache'), maxBytes: 100 * 1024 * 1024 }));
  const size = 50 * 1024 * 1024;
  const chunk = 64 * 1024;
  const fills = [0x41, 0x42, 0x43, 0x44].map((f) => Buffer.alloc(chunk, f));
  const want = createHash('sha256');
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let refusals = 0;
  let drains = 0;
  const w = store.create('big', meta('http://x.test/big'), size)!;
  for (let i = 0; i < size / chunk; i++) {
    const c = fills[i % fills.length]!;
    want.update(c);
    if (!w.write(c)) {
      refusals++;
      await new Promise<void>((resolve) => w.onDrain(() => { drains++; resolve(); }));
    }
    if (i % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const obj = (await w.end())!;
  assert.equal(obj.size, size);
  assert.ok(refusals > 0, 'write() returned false under a fast writer');
  assert.equal(drains, refusals);
  const got = createHash('sha256');
  let n = 0;
  for await (const c of store.read(obj)) {
    got.update(c as Buffer);
    if (++n % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  assert.equal(got.digest('hex'), want.digest('hex'));
  // A loose sanity check, not a benchmark: the body must not have been held whole.
  assert.ok(peak - rss0 < 30 * 1024 * 1024, `rss grew by ${((peak - rss0) / 1048576).toFixed(1)} MiB`);
  const mid = await readAll(store.read(obj, { start: chunk - 2, end: chunk + 1 }));
  assert.deepEqual([...mid], [0x41, 0x41, 0x42, 0x42]);
});

test('disk store: a disk error is logged and costs only the cache entry', async (t) => {
  const dir = tempDir('cache');
  const { log, lines } = captureLog();
  const store = closing(t, await diskStore({ path: dir, maxBytes: 1000, log }));
  rmSync(join(dir, 'tmp'), { recursive: true }); // the temp directory vanishes under us
  assert.equal(await put(store, 'k', ['body']), undefined);
  assert.equal(store.get('k'), undefined);
  assert.ok(lines().some((l) => String(l.msg).includes('not cached')));
});

test('disk store: an object directory removed behind its back costs one commit, then is made again', async (t) => {
  const dir = tempDir('cache');
  const { log, lines } = captureLog();
  const store = closing(t, await diskStore({ path: dir, maxBytes: 1000, log }));
  await put(store, 'k', ['one']);
  store.delete('k');
  await until(() => filesUnder(join(dir, 'objects')).length === 0, 'k\'s files to go');
  rmSync(join(dir, 'objects', hashKey('k').slice(0, 2)), { recursive: true });
  assert.equal(await put(store, 'k', ['two']), undefined);
  assert.equal(lines().length, 1);
  assert.ok(await put(store, 'k', ['three']));
  assert.deepEqual(filesUnder(join(dir, 'tmp')), []);
});

test('createCacheStore: a disk tier that cannot be opened is logged and left out', async (t) => {
  const file = join(tempDir('cache'), 'a-file');
  writeFileSync(file, 'not a directory');
  const { log, lines } = captureLog();
  const store = closing(t, await createCacheStore({ memory: 1000, disk: { path: file, size: 1000 }, log }));
  assert.equal(store.stats().disk, undefined);
  assert.ok(await put(store, 'k', ['still cached in memory']));
  assert.equal(lines().length, 1);
});

async function tiered(t: TestContext, threshold: number): Promise<CacheStore> {
  return closing(t, await createCacheStore({ memory: 10_000, disk: { path: tempDir('cache'), size: 100_000 }, threshold }));
}

test('tiered store: known sizes go to memory up to the threshold and to disk above it', async (t) => {
  const store = await tiered(t, 100);
  assert.equal((await put(store, 'small', [bytesOf(100)]))!.tier, 'memory');
  assert.equal((await put(store, 'large', [bytesOf(101)]))!.tier, 'disk');
  assert.deepEqual(store.stats().memory, { bytes: 100, maxBytes: 10_000, objects: 1 });
  assert.deepEqual(store.stats().disk, { bytes: 101, maxBytes: 100_000, objects: 1 });
  assert.equal((await readAll(store.read(store.get('large')!))).length, 101);
});

test('tiered store: an unknown length starts in memory and spills to disk past the threshold, whole', async (t) => {
  const store = await tiered(t, 1000);
  assert.equal((await put(store, 'small', [bytesOf(300), bytesOf(300)], -1))!.tier, 'memory');
  const parts = Array.from({ length: 10 }, (_, i) => bytesOf(300, 0x30 + i));
  const obj = (await put(store, 'grown', parts, -1))!;
  assert.equal(obj.tier, 'disk');
  assert.ok((await readAll(store.read(obj))).equals(Buffer.concat(parts)));
  assert.deepEqual(totals(store), { objects: 2, bytes: 3600 });
  assert.equal(store.stats().memory.bytes, 600);
});

test('tiered store: a key lives in one tier only; the newest commit wins and the other copy goes', async (t) => {
  const store = await tiered(t, 100);
  await put(store, 'k', ['small']);
  await put(store, 'k', [bytesOf(500)]);
  assert.equal(store.peek('k')!.tier, 'disk');
  assert.deepEqual(totals(store), { objects: 1, bytes: 500 });
  await put(store, 'k', ['small again']);
  assert.equal(store.peek('k')!.tier, 'memory');
  assert.deepEqual(totals(store), { objects: 1, bytes: 11 });
  assert.equal(store.delete('k'), true);
  assert.deepEqual(totals(store), { objects: 0, bytes: 0 });
});

test('tiered store: without a disk tier an unknown length is refused past the memory bound', async (t) => {
  const store = closing(t, tieredStore({ memory: memoryStore({ maxBytes: 1000 }), threshold: 100 }));
  assert.equal((await put(store, 'mid', [bytesOf(500)]))!.tier, 'memory'); // above threshold, but memory is all there is
  assert.equal(await put(store, 'big', [bytesOf(600), bytesOf(600)], -1), undefined);
  assert.equal(store.stats().disk, undefined);
});

test('disk store: the warm-up from disk logs the objects checked as it goes, then the count kept and the time taken', async (t) => {
  const dir = tempDir('cache');
  const first = await diskStore({ path: dir, maxBytes: 100_000 });
  for (let i = 0; i < 40; i++) await put(first, `k${i}`, [`body ${i}`]);
  await first.close();

  // Every directory's step logged (everyMs 0): counts rise to the total, with the share done.
  const { log, lines } = captureLog('info');
  const store = closing(t, await diskStore({ path: dir, maxBytes: 100_000, log, progressEveryMs: 0 }));
  assert.equal(store.stats().disk?.objects, 40);
  const msgs = lines().map((l) => String(l.msg));
  const steps = msgs.filter((m) => /^cache: warm-up from disk \d+\/40 objects \(\d+%\)$/.test(m));
  assert.ok(steps.length >= 2, msgs.join('\n'));
  const counts = steps.map((m) => Number(/ (\d+)\//.exec(m)![1]));
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b));
  assert.equal(steps.at(-1), 'cache: warm-up from disk 40/40 objects (100%)');
  assert.match(msgs.at(-1)!, /^cache: warm-up from disk done: 40 objects in (\d+ ms|\d+\.\d s)$/);
  assert.equal(lines().at(-1)!.checked, 40);

  // By default at most one line a second (a quick warm-up logs only its last line).
  await store.close();
  const quiet = captureLog('info');
  closing(t, await diskStore({ path: dir, maxBytes: 100_000, log: quiet.log }));
  const last = quiet.lines().at(-1)!;
  assert.match(String(last.msg), /^cache: warm-up from disk done: 40 objects in (\d+ ms|\d+\.\d s)$/);
  assert.ok(quiet.lines().length - 1 <= Math.floor(Number(last.durationMs) / 1000), JSON.stringify(quiet.lines()));
});
