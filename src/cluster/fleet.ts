/**
 * A fleet's shared service registry (process lifetime): the registry changes one instance makes through its
 * admin API are kept in Redis and pushed to every other instance on the same Redis (and `prefix`).
 * - State: one hash, `${prefix}registry`, one field per server (`upstream/host:port`) holding what the API did
 *   to it last: `{add?: {url, weight?, expires_at?}, drained?: boolean, removed?: true}`. An instance that
 *   starts later, or any instance when Redis comes back, rebuilds from it (`rebuild`). TTL registrations carry
 *   an absolute `expires_at` (ms since the epoch); expired ones are pruned when the hash is read.
 * - Messages: each change is written to the hash and published on the channel `${prefix}registry` by one Lua
 *   script (atomic, one round trip), tagged with this process's instance id: an instance ignores its own
 *   messages, and changes it applies from Redis are not published again (no echo).
 * - Redis down: `publish` never fails nor waits; changes queue, in order, and are pushed when Redis answers
 *   again, then the hash is read again and applied, so both sides converge. One warning per outage.
 * Transport-agnostic for its caller: it sees `RegistryChange`s only (`apply`), never Redis.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withTimeout } from '../core/timeout.js';
import type { Logger } from 'pino';
import { serverIdOf } from '../core/addresses.js';

/** One registry change, as made through the admin API. `expires_at`: ms since the epoch (a TTL registration). */
export type RegistryChange =
  | { op: 'add'; upstream: string; url: string; weight?: number; expires_at?: number }
  | { op: 'drain' | 'enable' | 'remove'; upstream: string; id: string };

export interface FleetSyncOptions {
  /** The process's client (no offline queue); a duplicate of it subscribes. */
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Longest wait for one Redis write or read before it counts as failed (and is retried later); default 1 s. */
  timeoutMs?: number;
  /** Applies a change that another instance made (or one read back from Redis); must be idempotent. */
  apply(change: RegistryChange): void | Promise<void>;
}

export interface FleetSync {
  /** Shares a change made here: written to Redis and pushed to the other instances (queued while Redis is down). */
  publish(change: RegistryChange): void;
  /** Reads the state in Redis and applies it (waits a little for a first connection); never throws. */
  rebuild(): Promise<void>;
  /** Stops listening; changes still queued are pushed first if Redis answers. */
  close(): Promise<void>;
}

/** Changes kept while Redis is down; past it the oldest are dropped (with a warning). */
export const FLEET_MAX_QUEUE = 10_000;

/** KEYS[1] = hash; ARGV = field, change (JSON), channel, message. Merges the change into the field, publishes. */
const WRITE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local ok, e = pcall(cjson.decode, cur or '{}')
if not ok or type(e) ~= 'table' then e = {} end
local c = cjson.decode(ARGV[2])
if c.op == 'add' then
  local w = c.weight
  if w == nil and type(e.add) == 'table' then w = e.add.weight end
  e.add = { url = c.url, weight = w, expires_at = c.expires_at }
  e.removed = nil
elseif c.op == 'drain' then e.drained = true
elseif c.op == 'enable' then e.drained = false
elseif c.op == 'remove' then e = { removed = true }
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
return redis.call('PUBLISH', ARGV[3], ARGV[4])
`;

/** KEYS[1] = hash; ARGV[1] = now (ms). Drops expired registrations (and unreadable fields); returns the rest. */
const READ = `
local all = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #all, 2 do
  local ok, e = pcall(cjson.decode, all[i + 1])
  if not ok or type(e) ~= 'table' then
    redis.call('HDEL', KEYS[1], all[i])
  else
    local text = all[i + 1]
    if type(e.add) == 'table' and tonumber(e.add.expires_at) and tonumber(e.add.expires_at) <= now then
      e.add = nil
      if next(e) == nil then redis.call('HDEL', KEYS[1], all[i]); text = nil
      else text = cjson.encode(e); redis.call('HSET', KEYS[1], all[i], text) end
    end
    if text then out[#out + 1] = all[i]; out[#out + 1] = text end
  end
end
return out
`;

interface Entry { add?: { url: string; weight?: number; expires_at?: number }; drained?: boolean; removed?: boolean }


const fieldOf = (c: RegistryChange): string => `${c.upstream}/${c.op === 'add' ? serverIdOf(c.url) : c.id}`;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A change from the wire, checked (another instance may run another version). */
export function parseChange(v: unknown): RegistryChange | undefined {
  if (!isObj(v) || typeof v.upstream !== 'string') return undefined;
  if (v.op === 'add' && typeof v.url === 'string' && URL.canParse(v.url)
    && (v.weight === undefined || typeof v.weight === 'number') && (v.expires_at === undefined || typeof v.expires_at === 'number')) {
    return { op: 'add', upstream: v.upstream, url: v.url, ...(v.weight !== undefined ? { weight: v.weight as number } : {}), ...(v.expires_at !== undefined ? { expires_at: v.expires_at as number } : {}) };
  }
  if ((v.op === 'drain' || v.op === 'enable' || v.op === 'remove') && typeof v.id === 'string') return { op: v.op, upstream: v.upstream, id: v.id };
  return undefined;
}

/** The changes that bring an instance to one entry of the hash. */
function changesOf(field: string, e: Entry): RegistryChange[] {
  const cut = field.lastIndexOf('/');
  const upstream = field.slice(0, cut);
  const id = field.slice(cut + 1);
  if (e.removed) return [{ op: 'remove', upstream, id }];
  const out: RegistryChange[] = [];
  if (isObj(e.add)) out.push(...[parseChange({ op: 'add', upstream, ...e.add })].filter((c) => c !== undefined));
  if (e.drained !== undefined) out.push({ op: e.drained ? 'drain' : 'enable', upstream, id });
  return out;
}


/** Resolves true once the client is ready, false at its first error or after `ms`. */
function whenReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => { clearTimeout(timer); redis.off('ready', yes); redis.off('error', no); resolve(ok); };
    const yes = (): void => done(true);
    const no = (): void => done(false);
    const timer = setTimeout(no, ms);
    timer.unref();
    redis.once('ready', yes);
    redis.once('error', no);
  });
}

/** One process's link to the fleet: the queue of changes made here, the subscription, the state read back. */
class FleetLink implements FleetSync {
  readonly #opts: FleetSyncOptions;
  readonly #key: string;
  readonly #instance = randomUUID();
  readonly #timeoutMs: number;
  readonly #queue: RegistryChange[] = [];
  readonly #sub: Redis;
  readonly #onReady = (): void => { void this.#resync(); };
  #pumping: Promise<boolean> | undefined;
  #syncing: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #again = false;
  #down = false;
  #dropped = false;
  #started = false;
  #closed = false;
  #pushed = 0;

  constructor(opts: FleetSyncOptions) {
    this.#opts = opts;
    // One name for the hash and the channel (Redis keeps them apart).
    this.#key = `${opts.prefix}registry`;
    this.#timeoutMs = opts.timeoutMs ?? 1000;
    this.#sub = opts.redis.duplicate();
    this.#sub.on('error', (err: Error) => opts.log.debug({ err: err.message }, 'fleet: redis subscriber'));
    // Subscribed again after each reconnection; messages missed meanwhile are in the state, read back then.
    this.#sub.on('ready', () => {
      this.#sub.subscribe(this.#key).then(() => this.#resync(), (err: Error) => opts.log.debug({ err: err.message }, 'fleet: subscribe failed'));
    });
    this.#sub.on('message', (ch: string, text: string) => { if (ch === this.#key) this.#message(text); });
    opts.redis.on('ready', this.#onReady);
  }

  publish(change: RegistryChange): void {
    if (this.#closed) return;
    if (this.#queue.length >= FLEET_MAX_QUEUE) {
      this.#queue.shift();
      if (!this.#dropped) {
        this.#dropped = true;
        this.#opts.log.warn(`fleet: over ${FLEET_MAX_QUEUE} registry changes wait for Redis; the oldest are dropped`);
      }
    }
    this.#queue.push(change);
    void this.#pump();
  }

  async rebuild(): Promise<void> {
    this.#started = true;
    if (await whenReady(this.#opts.redis, Math.max(this.#timeoutMs, 1000))) await this.#resync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#queue.length && this.#opts.redis.status === 'ready') await this.#pump();
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#opts.redis.off('ready', this.#onReady);
    await this.#syncing;
    this.#sub.disconnect();
  }

  #message(text: string): void {
    let m: unknown;
    try { m = JSON.parse(text); } catch { m = undefined; }
    if (isObj(m) && m.from === this.#instance) return;
    const c = isObj(m) ? parseChange(m.change) : undefined;
    if (c) void this.#apply(c);
    else this.#opts.log.debug({ message: text.slice(0, 200) }, 'fleet: registry change skipped: unreadable message');
  }

  /** Changes are applied one after another, in the order they came (applying may wait: a group's workers). */
  #applying: Promise<void> = Promise.resolve();

  #apply(c: RegistryChange): Promise<void> {
    this.#applying = this.#applying.then(async () => {
      try {
        await this.#opts.apply(c);
      } catch (err) {
        this.#opts.log.debug({ err: (err as Error).message, change: c }, 'fleet: registry change skipped: not applied');
      }
    });
    return this.#applying;
  }

  /** Redis failed a write or a read: one warning per outage; tried again in a second. */
  #outage(err: unknown): void {
    if (!this.#down) {
      this.#down = true;
      this.#opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fleet: Redis unavailable; registry changes apply on this instance only and are pushed when it answers again');
    }
    if (!this.#retry && !this.#closed) {
      this.#retry = setTimeout(() => { this.#retry = undefined; void this.#resync(); }, 1000);
      this.#retry.unref();
    }
  }

  /** Pushes the queue, in order (one change at a time: a later one never overtakes one that failed); true once empty. */
  #pump(): Promise<boolean> {
    this.#pumping ??= this.#push().finally(() => { this.#pumping = undefined; });
    return this.#pumping;
  }

  async #push(): Promise<boolean> {
    const { redis } = this.#opts;
    try {
      while (this.#queue.length) {
        if (redis.status !== 'ready') throw new Error(`redis ${redis.status}`);
        const c = this.#queue[0]!;
        const message = JSON.stringify({ from: this.#instance, change: c });
        await withTimeout(redis.eval(WRITE, 1, this.#key, fieldOf(c), JSON.stringify(c), this.#key, message), this.#timeoutMs);
        if (this.#queue[0] === c) this.#queue.shift();
        this.#pushed++;
      }
      return true;
    } catch (err) {
      this.#outage(err);
      return false;
    }
  }

  /** Reads the hash (expired registrations pruned) and applies every entry. */
  async #read(): Promise<boolean> {
    const { redis } = this.#opts;
    let flat: string[];
    try {
      if (redis.status !== 'ready') throw new Error(`redis ${redis.status}`);
      flat = (await withTimeout(redis.eval(READ, 1, this.#key, String(Date.now())), this.#timeoutMs)) as string[];
    } catch (err) {
      this.#outage(err);
      return false;
    }
    for (let i = 0; i + 1 < flat.length; i += 2) {
      let e: unknown;
      try { e = JSON.parse(flat[i + 1]!); } catch { continue; }
      if (isObj(e)) for (const c of changesOf(flat[i]!, e as Entry)) await this.#apply(c);
    }
    return true;
  }

  /** After a (re)connection: the queue first, then the state read back, so both sides converge. */
  #resync(): Promise<void> {
    if (!this.#started || this.#closed) return Promise.resolve();
    if (this.#syncing) { this.#again = true; return this.#syncing; }
    this.#syncing = (async () => {
      do {
        this.#again = false;
        if (!(await this.#pump()) || !(await this.#read())) break;
        if (this.#down) {
          this.#down = false;
          this.#opts.log.info({ pushed: this.#pushed }, 'fleet: Redis answers again; queued registry changes pushed and the shared state applied');
        }
      } while (this.#again && !this.#closed);
    })().finally(() => { this.#syncing = undefined; });
    return this.#syncing;
  }
}

/**
 * Links this process to the fleet on `opts.redis`: `publish` shares a change made here, changes made elsewhere
 * come to `opts.apply`. Call `rebuild` once the local registry is set up (at start): the state in Redis is
 * read back (on each reconnection too) only from then on.
 */
export function fleetSync(opts: FleetSyncOptions): FleetSync {
  return new FleetLink(opts);
}
