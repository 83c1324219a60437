/**
 * The cache store contract (src/cache/store.ts), run against every store (STYLE.md 5, as Hono's
 * common.case.test.ts): a store passes when it behaves as the cache layer expects, whatever holds the bytes.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import type { CacheStore, ObjectMeta, StoredObject } from '../../src/cache/store.js';

/** Makes a fresh store bounded to `maxBytes` (per tier), closed by the helper through `t.after`. */
export type MakeStore = (t: TestContext, maxBytes: number) => Promise<CacheStore>;

export function meta(url: string, extra?: Record<string, unknown>): ObjectMeta {
  return { status: 200, headers: ['content-type', 'text/plain'], requestTime: 1000, responseTime: 1001, url, tags: ['t1'], ...(extra ? { extra } : {}) };
}

/** Writes `chunks` (honouring backpressure) and commits; sizeHint defaults to the true length. */
export async function put(store: CacheStore, key: string, chunks: Array<Buffer | string>, sizeHint?: number): Promise<StoredObject | undefined> {
  const bufs = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
  const w = store.create(key, meta(`http://x.test/${key}`), sizeHint ?? bufs.reduce((n, b) => n + b.length, 0));
  if (!w) return undefined;
  for (const b of bufs) if (!w.write(b)) await new Promise<void>((resolve) => w.onDrain(resolve));
  return w.end();
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Objects and bytes over both tiers. */
export function totals(store: CacheStore): { objects: number; bytes: number } {
  const s = store.stats();
  return { objects: s.memory.objects + (s.disk?.objects ?? 0), bytes: s.memory.bytes + (s.disk?.bytes ?? 0) };
}

export function bytesOf(n: number, fill = 0x61): Buffer {
  return Buffer.alloc(n, fill);
}

export function storeContract(name: string, make: MakeStore): void {
  test(`${name}: an object is visible only once committed; reads whole and in ranges across chunks`, async (t) => {
    const store = await make(t, 1000);
    const w = store.create('k', meta('http://x.test/k'), 10)!;
    for (const c of ['abc', 'def', 'ghij']) w.write(Buffer.from(c));
    assert.equal(store.get('k'), undefined);
    const obj = (await w.end())!;
    assert.equal(obj.size, 10);
    assert.equal(store.get('k'), obj);
    assert.deepEqual(obj.meta, meta('http://x.test/k'));
    assert.equal((await readAll(store.read(obj))).toString(), 'abcdefghij');
    // RFC 9110 14.1.2: byte ranges are inclusive at both ends.
    const ranges: Array<[number, number, string]> = [[0, 0, 'a'], [2, 4, 'cde'], [3, 5, 'def'], [9, 9, 'j'], [5, 100, 'fghij'], [1, 8, 'bcdefghi']];
    for (const [start, end, want] of ranges) assert.equal((await readAll(store.read(obj, { start, end }))).toString(), want, `${start}-${end}`);
  });

  test(`${name}: an empty body is stored and reads as nothing`, async (t) => {
    const store = await make(t, 1000);
    const obj = (await put(store, 'empty', []))!;
    assert.equal(obj.size, 0);
    assert.equal((await readAll(store.read(obj))).length, 0);
  });

  test(`${name}: LRU eviction by bytes; get counts as a use, peek does not`, async (t) => {
    const store = await make(t, 1000);
    await put(store, 'a', [bytesOf(400)]);
    await put(store, 'b', [bytesOf(400)]);
    assert.ok(store.get('a'));
    await put(store, 'c', [bytesOf(400)]); // b is the least recently used
    assert.equal(store.peek('b'), undefined);
    assert.ok(store.peek('a') && store.peek('c'));
    assert.deepEqual(totals(store), { objects: 2, bytes: 800 });
    assert.ok(store.peek('a')); // not a use: a stays least recently used
    await put(store, 'd', [bytesOf(400)]);
    assert.deepEqual([...store.entries()].map((o) => o.key).sort(), ['c', 'd']);
  });

  test(`${name}: refuses an object larger than it can ever hold, known or unknown size, and keeps the rest`, async (t) => {
    const store = await make(t, 1000);
    await put(store, 'small', ['x']);
    assert.equal(store.create('big', meta('http://x.test/big'), 1001), undefined);
    assert.equal(await put(store, 'big', [bytesOf(600), bytesOf(401)], -1), undefined);
    assert.equal(store.get('big'), undefined);
    assert.ok(store.get('small'));
    assert.deepEqual(totals(store), { objects: 1, bytes: 1 });
  });

  test(`${name}: abort leaves nothing; abort twice or after end is safe`, async (t) => {
    const store = await make(t, 1000);
    const w = store.create('k', meta('http://x.test/k'), -1)!;
    w.write(Buffer.from('partial'));
    w.abort();
    w.abort();
    assert.equal(await w.end(), undefined);
    assert.equal(store.get('k'), undefined);
    assert.deepEqual(totals(store), { objects: 0, bytes: 0 });
    const w2 = store.create('k', meta('http://x.test/k'), 4)!;
    w2.write(Buffer.from('kept'));
    const obj = await w2.end();
    w2.abort();
    assert.equal(store.get('k'), obj);
    assert.equal((await readAll(store.read(obj!))).toString(), 'kept');
  });

  test(`${name}: update replaces the meta and keeps the body; unknown keys give undefined`, async (t) => {
    const store = await make(t, 1000);
    await put(store, 'k', ['body', 'text']);
    const next = meta('http://x.test/k', { soft: true });
    const obj = store.update('k', next)!;
    assert.deepEqual(obj.meta, next);
    assert.equal(obj.size, 8);
    assert.deepEqual(store.get('k')!.meta, next);
    assert.equal((await readAll(store.read(store.get('k')!))).toString(), 'bodytext');
    assert.equal(store.update('nope', next), undefined);
    assert.deepEqual(totals(store), { objects: 1, bytes: 8 });
  });

  test(`${name}: replacing a key counts its bytes once and reads the new body`, async (t) => {
    const store = await make(t, 1000);
    await put(store, 'k', [bytesOf(400)]);
    const obj = (await put(store, 'k', ['new']))!;
    assert.deepEqual(totals(store), { objects: 1, bytes: 3 });
    assert.equal((await readAll(store.read(store.get('k')!))).toString(), 'new');
    assert.equal(store.get('k'), obj);
  });

  test(`${name}: a reader of a deleted object finishes the body`, async (t) => {
    const store = await make(t, 4 * 1024 * 1024);
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const chunks = Array.from({ length: 64 }, (_, i) => body.subarray(i * 16384, (i + 1) * 16384));
    const obj = (await put(store, 'k', chunks))!;
    const early = store.read(obj); // not even open yet when the delete comes
    const started = store.read(obj);
    const it = started[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    assert.equal(store.delete('k'), true);
    assert.equal(store.delete('k'), false);
    assert.equal(store.get('k'), undefined);
    const rest: Buffer[] = [first];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Buffer);
    assert.ok(Buffer.concat(rest).equals(body));
    assert.ok((await readAll(early)).equals(body));
    assert.deepEqual(totals(store), { objects: 0, bytes: 0 });
  });

  test(`${name}: entries() lists committed objects only; stats counts bytes and objects`, async (t) => {
    const store = await make(t, 1000);
    await put(store, 'a', ['12345']);
    await put(store, 'b', ['123']);
    const open = store.create('c', meta('http://x.test/c'), 3)!;
    open.write(Buffer.from('abc'));
    assert.deepEqual([...store.entries()].map((o) => [o.key, o.size]).sort(), [['a', 5], ['b', 3]]);
    assert.deepEqual(totals(store), { objects: 2, bytes: 8 });
    const s = store.stats();
    assert.ok(s.memory.maxBytes + (s.disk?.maxBytes ?? 0) >= 1000);
    open.abort();
  });

  test(`${name}: onDrain always calls back, and the last of two writers of a key wins`, async (t) => {
    const store = await make(t, 1000);
    const w1 = store.create('k', meta('http://x.test/k'), -1)!;
    const w2 = store.create('k', meta('http://x.test/k'), -1)!;
    w1.write(Buffer.from('one'));
    w2.write(Buffer.from('two'));
    await new Promise<void>((resolve) => w1.onDrain(resolve));
    await w1.end();
    await w2.end();
    assert.equal((await readAll(store.read(store.get('k')!))).toString(), 'two');
    assert.deepEqual(totals(store), { objects: 1, bytes: 3 });
  });
}
