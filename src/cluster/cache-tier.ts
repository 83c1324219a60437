/**
 * The HTTP cache's shared tier in Redis (`cache.redis`; the contract is core/services.ts `SharedCacheTier`).
 * Keys, all under the state's `prefix`:
 * - `c:` + cache key: one object as the cache encodes it (meta and body), expiring (PX) when it is no use;
 * - `cv:` + base key: the Vary field names last stored for the base key (JSON), kept as long as any variant;
 * - `cu:` + URL and `ct:` + tag: sets of the cache keys stored under them, for purges; their expiry is only
 *   ever extended, so a set outlives each object it names.
 * A write is one Lua script (one round trip, atomic); a lookup one MGET. Lookups wait at most `timeoutMs`
 * (`state.timeout`), writes and purges at most max(timeoutMs, 1 s); while Redis is down or slow the cache
 * works alone, one warning per outage. Purges made while Redis is down are queued (at most MAX_QUEUED_PURGES)
 * and run when it answers. A single Redis (or a Sentinel set): the scripts touch keys of several hash slots,
 * which Redis Cluster refuses.
 */
import type { Redis } from 'ioredis';
import { withTimeout } from '../core/timeout.js';
import type { Logger } from 'pino';
import type { CachePurge, SharedCacheEntry, SharedCacheTier } from '../core/services.js';

/** Writes in flight at once; past it an object is not shared (Redis is slower than the objects come). */
export const MAX_PUTS = 64;
/** Lookups in flight at once; past it a local miss goes to the origin at once (Redis is slow: counted as down). */
export const MAX_GETS = 256;
/** Purges kept while Redis is down; past it the oldest are dropped. */
export const MAX_QUEUED_PURGES = 1000;
/** A prefix purge takes this many URL sets at most, found in at most MAX_SCAN_STEPS steps of SCAN (COUNT 500). */
export const MAX_PREFIX_URLS = 10_000;
export const MAX_SCAN_STEPS = 2000;

/** KEYS: object, vary, URL set, tag sets; ARGV: encoded object, ttl (ms), vary (JSON), cache key. */
const PUT = `
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
local v = redis.call('PTTL', KEYS[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', math.max(v, ttl))
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`;

/** KEYS: index sets; ARGV[1]: the object key prefix. Deletes every object the sets name, and the sets. */
const PURGE = `
local n = 0
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members do n = n + redis.call('DEL', ARGV[1] .. members[j]) end
  redis.call('DEL', KEYS[i])
end
return n
`;

export interface CacheTierOptions {
  redis: Redis;
  prefix: string;
  /** Longest wait for a lookup (`state.timeout`). */
  timeoutMs: number;
  /** `cache.redis.max_object`. */
  maxObject: number;
  log: Logger;
}


/** A MATCH pattern matching keys that start with `text` (glob characters escaped). */
function globPrefix(text: string): string {
  return `${text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
}

function parseVary(b: Buffer | null): string[] | undefined {
  if (!b) return undefined;
  try {
    const v: unknown = JSON.parse(b.toString('utf8'));
    return Array.isArray(v) && v.every((n) => typeof n === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The tier on the process's Redis client (no offline queue: commands fail at once while Redis is away). */
class RedisCacheTier implements SharedCacheTier {
  readonly maxObject: number;
  readonly #o: CacheTierOptions;
  readonly #slowMs: number;
  readonly #queue: CachePurge[] = [];
  #down = false;
  #puts = 0;
  #gets = 0;
  #pumping = false;
  #closed = false;
  readonly #onReady = (): void => { void this.#pump(); };

  constructor(opts: CacheTierOptions) {
    this.#o = opts;
    this.maxObject = opts.maxObject;
    this.#slowMs = Math.max(opts.timeoutMs, 1000);
    opts.redis.on('ready', this.#onReady);
  }

  #key(kind: 'c' | 'cv' | 'cu' | 'ct', name: string): string {
    return `${this.#o.prefix}${kind}:${name}`;
  }

  #outage = (err: unknown): void => {
    if (this.#down) return;
    this.#down = true;
    this.#o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cache: shared tier in Redis unavailable; each instance caches alone until it answers again');
  };

  #answered = (): void => {
    if (!this.#down) return;
    this.#down = false;
    this.#o.log.info('cache: shared tier in Redis answers again');
  };

  #ready(): boolean {
    const status = this.#o.redis.status;
    if (status === 'ready') return true;
    // Still connecting at start is no outage; reconnecting (or given up) is.
    if (status !== 'connecting' && status !== 'connect' && status !== 'wait') this.#outage(new Error(`redis is ${status}`));
    return false;
  }

  async get(key: string, base?: string): Promise<{ object?: Buffer | undefined; vary?: string[] | undefined } | undefined> {
    if (!this.#ready()) return undefined;
    if (this.#gets >= MAX_GETS) {
      this.#outage(new Error(`${MAX_GETS} lookups waiting for redis`));
      return undefined;
    }
    try {
      const call = this.#o.redis.mgetBuffer(...(base === undefined ? [this.#key('c', key)] : [this.#key('c', key), this.#key('cv', base)]));
      // Counted until Redis answers (a lookup given up on still holds its place in the client's queue).
      this.#gets++;
      call.then(() => { this.#gets--; }, () => { this.#gets--; });
      const [object, vary] = await withTimeout(call, this.#o.timeoutMs);
      this.#answered();
      return { object: object ?? undefined, vary: parseVary(vary ?? null) };
    } catch (err) {
      this.#outage(err);
      return undefined;
    }
  }

  put(e: SharedCacheEntry): boolean {
    if (this.#closed || this.#puts >= MAX_PUTS || !this.#ready()) return false;
    const keys = [this.#key('c', e.key), this.#key('cv', e.base), this.#key('cu', e.url), ...e.tags.map((t) => this.#key('ct', t))];
    const ttl = String(Math.max(1, Math.round(e.ttlMs)));
    this.#puts++;
    const call = this.#o.redis.eval(PUT, keys.length, ...keys, e.object, ttl, JSON.stringify(e.vary), e.key);
    call.then(() => { this.#puts--; }, () => { this.#puts--; });
    withTimeout(call, this.#slowMs).then(this.#answered, this.#outage);
    return true;
  }

  purge(req: CachePurge): void {
    if (this.#closed) return;
    if (this.#queue.length >= MAX_QUEUED_PURGES) this.#queue.shift();
    this.#queue.push(req);
    if (this.#ready()) void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length && this.#o.redis.status === 'ready') {
        await this.#purgeNow(this.#queue[0]!);
        this.#queue.shift();
        this.#answered();
      }
    } catch (err) {
      this.#outage(err); // tried again when Redis is ready
    } finally {
      this.#pumping = false;
    }
  }

  async #purgeNow(req: CachePurge): Promise<void> {
    if (req.url !== undefined) await this.#purgeSets([this.#key('cu', req.url)]);
    if (req.tag !== undefined) await this.#purgeSets([this.#key('ct', req.tag)]);
    if (req.prefix !== undefined) await this.#purgeSets(await this.#urlSets(req.prefix));
  }

  /** The URL sets under a prefix; bounded (a larger prefix purge, or a huge keyspace, leaves the rest to expire). */
  async #urlSets(prefix: string): Promise<string[]> {
    const found = new Set<string>();
    let cursor = '0';
    let steps = 0;
    do {
      const [next, keys] = await withTimeout(this.#o.redis.scan(cursor, 'MATCH', globPrefix(this.#key('cu', prefix)), 'COUNT', 500), this.#slowMs);
      cursor = next;
      for (const k of keys) found.add(k);
    } while (cursor !== '0' && found.size < MAX_PREFIX_URLS && ++steps < MAX_SCAN_STEPS);
    if (cursor !== '0') this.#o.log.warn({ prefix }, `cache: a prefix purge in Redis stopped after ${found.size} URLs (${steps} SCAN steps); the rest expire by themselves`);
    return [...found].slice(0, MAX_PREFIX_URLS);
  }

  async #purgeSets(sets: string[]): Promise<void> {
    for (let i = 0; i < sets.length; i += 100) {
      const batch = sets.slice(i, i + 100);
      await withTimeout(this.#o.redis.eval(PURGE, batch.length, ...batch, `${this.#o.prefix}c:`), this.#slowMs);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#o.redis.off('ready', this.#onReady);
    await this.#pump();
  }
}

/** The shared cache tier in Redis. */
export function redisCacheTier(opts: CacheTierOptions): SharedCacheTier {
  return new RedisCacheTier(opts);
}
