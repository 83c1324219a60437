/**
 * The cache's side of the shared tier (`cache.redis`; the tier itself is core/services.ts `SharedCacheTier`,
 * kept in Redis by cluster/cache-tier.ts). A small object a fill commits is also written there (`share`), with
 * an expiry of what is left of its freshness lifetime plus its RFC 5861 stale windows; a local miss looks there
 * (`fromShared`) before going to the origin, and an object found is put in the local store and answered from it
 * as a local hit, with its own request and response times (RFC 9111 4.2.3: the Age another instance would give).
 * Encoding: a format byte (1), the meta's JSON length (uint32, big-endian), the meta (JSON), the body.
 */
import type { Readable } from 'node:stream';
import type { SharedCacheTier } from '../core/services.js';
import type { CacheEngine, CacheExtra, Waiting } from './engine.js';
import type { CacheRoute, Lookup } from './fill.js';
import { variantKey } from './keys.js';
import { currentAge } from './policy.js';
import type { ObjectMeta, StoredObject } from './store.js';

const FORMAT = 1;
/** Longest expiry of a shared object: a day (a longer-lived object is written again when it is refilled). */
const SHARED_MAX_TTL_MS = 24 * 3600_000;

/** The object's bytes for the shared tier; `soft` (a local mark) is not shared. */
function encodeShared(meta: ObjectMeta, body: readonly Buffer[]): Buffer {
  const x = meta.extra as Partial<CacheExtra> | undefined;
  const extra = x ? { zone: x.zone, base: x.base, vary: x.vary } : undefined;
  const json = Buffer.from(JSON.stringify({ ...meta, extra }), 'utf8');
  const head = Buffer.allocUnsafe(5);
  head[0] = FORMAT;
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json, ...body]);
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** An object read back from the shared tier, checked (another instance may run another version); undefined if unreadable. */
function decodeShared(bytes: Buffer): { meta: ObjectMeta & { extra: CacheExtra }; body: Buffer } | undefined {
  if (bytes.length < 5 || bytes[0] !== FORMAT) return undefined;
  const n = bytes.readUInt32BE(1);
  if (5 + n > bytes.length) return undefined;
  let m: Record<string, unknown> | null;
  try {
    m = JSON.parse(bytes.subarray(5, 5 + n).toString('utf8')) as Record<string, unknown> | null;
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const x = m.extra as Record<string, unknown> | null | undefined;
  if (!Number.isInteger(m.status) || !isStrings(m.headers) || m.headers.length % 2 !== 0
    || typeof m.requestTime !== 'number' || typeof m.responseTime !== 'number' || typeof m.url !== 'string' || !isStrings(m.tags)
    || typeof x !== 'object' || x === null || typeof x.zone !== 'string' || typeof x.base !== 'string' || !isStrings(x.vary)) return undefined;
  const meta = {
    status: m.status as number, headers: m.headers, requestTime: m.requestTime, responseTime: m.responseTime, url: m.url, tags: m.tags,
    extra: { zone: x.zone, base: x.base, vary: x.vary },
  };
  return { meta, body: bytes.subarray(5 + n) };
}

/** How long the shared tier keeps an object: its freshness left plus its stale windows, in [1 s, 1 day]. */
function sharedTtlMs(c: CacheRoute, obj: StoredObject, now: number): number {
  const f = c.engine.freshnessOf(obj, c.heuristic);
  const left = f.lifetime - currentAge(f, obj.meta.responseTime, now) + Math.max(f.staleWhileRevalidate, f.staleIfError);
  return Math.min(Math.max(Math.round(left * 1000), 1000), SHARED_MAX_TTL_MS);
}

async function collect(body: Readable, max: number): Promise<Buffer[] | undefined> {
  const out: Buffer[] = [];
  let n = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if ((n += chunk.length) > max) return undefined;
    out.push(chunk);
  }
  return out;
}

function put(tier: SharedCacheTier, c: CacheRoute, obj: StoredObject, body: readonly Buffer[]): void {
  const x = obj.meta.extra as Partial<CacheExtra> | undefined;
  if (x?.base === undefined || x.vary === undefined) return;
  const sent = tier.put({
    key: obj.key, base: x.base, vary: x.vary, url: obj.meta.url, tags: obj.meta.tags,
    ttlMs: sharedTtlMs(c, obj, Date.now()), object: encodeShared(obj.meta, body),
  });
  // Counted only when it went out (not while Redis is away, or too many writes wait).
  if (sent) c.engine.shared.stored++;
}

/** Also keeps a committed object (whole body known) in the shared tier, when there is one and it is small enough. */
export function share(c: CacheRoute, obj: StoredObject): void {
  const tier = c.engine.tier;
  if (!tier || obj.size > tier.maxObject) return;
  const chunks = c.engine.store.chunks?.(obj);
  if (chunks) return put(tier, c, obj, chunks);
  collect(c.engine.store.read(obj), tier.maxObject).then((body) => { if (body) put(tier, c, obj, body); }, () => undefined);
}

/** The object for the request in the shared tier: at its key, or at the variant key the tier's Vary names give. */
async function findShared(tier: SharedCacheTier, l: Lookup): Promise<{ key: string; bytes: Buffer } | 'error' | undefined> {
  const got = await tier.get(l.key, l.base);
  if (!got) return 'error';
  if (got.object) return { key: l.key, bytes: got.object };
  if (!got.vary) return undefined;
  const key = l.base + variantKey(got.vary, l.ctx);
  if (key === l.key) return undefined;
  const again = await tier.get(key);
  if (!again) return 'error';
  return again.object ? { key, bytes: again.object } : undefined;
}

/** Puts an object from the shared tier in the local store; false when it does not fit this request or the store. */
async function keepLocally(engine: CacheEngine, l: Lookup, key: string, bytes: Buffer): Promise<boolean> {
  const d = decodeShared(bytes);
  // RFC 9111 4.1: it must be the variant this request selects, by the Vary it was stored with.
  if (!d || d.meta.extra.base !== l.base || d.meta.extra.base + variantKey(d.meta.extra.vary, l.ctx) !== key) return false;
  const w = engine.store.create(key, d.meta as unknown as ObjectMeta, d.body.length);
  if (!w) return false;
  w.write(d.body);
  const obj = await w.end();
  if (!obj) return false;
  engine.add(obj);
  return true;
}

/**
 * Looks a local miss up in the shared tier; `next(true)` once the object is in the local store, `next(false)`
 * when the tier has none, is down or did not answer in time. Concurrent misses for the key wait on this lookup
 * (request collapsing) as they would on a fill.
 */
export function fromShared(c: CacheRoute, l: Lookup, next: (found: boolean) => void): void {
  const { engine } = c;
  let release: (() => void) | undefined;
  let waiting: Waiting | undefined;
  if (c.cfg.collapse && !engine.fills.has(l.key)) {
    waiting = { settled: new Promise<void>((r) => { release = r; }), waiters: 0 };
    engine.fills.set(l.key, waiting);
  }
  const look = async (): Promise<boolean> => {
    const found = await findShared(engine.tier!, l);
    if (found === 'error') engine.shared.errors++;
    const kept = typeof found === 'object' && (await keepLocally(engine, l, found.key, found.bytes));
    if (found !== 'error') engine.shared[kept ? 'hits' : 'misses']++;
    return kept;
  };
  void look().catch(() => false).then((found) => {
    if (waiting && engine.fills.get(l.key) === waiting) engine.fills.delete(l.key);
    try {
      if (!l.ctx.clientGone) next(found);
    } finally {
      release?.();
    }
  });
}

/** Cache-Status for an answer found in the shared tier (RFC 9211 `detail`). */
export function sharedDetail(ttl: string | undefined): string {
  return ttl === undefined ? 'shared' : `${ttl}; detail=shared`;
}
