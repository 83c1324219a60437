/**
 * Filling the cache. `Fill` is the tap (core/services.ts ResponseTap) on a forwarded miss or revalidation:
 * it decides whether the response may be stored (RFC 9111 3), streams it to the store while the client gets
 * it, updates a stored head from a 304 (4.3.4), or answers with a stale object when the origin fails (RFC 5861).
 * Requests collapsed on it wait for `release`. `refresh` does the same with no client attached (a background
 * revalidation for stale-while-revalidate, or a whole-object fetch behind a range request).
 */
import type { RequestCtx } from '../core/context.js';
import type { FetchedResponse, ResponseTap, TapMode } from '../core/services.js';
import type { CacheEngine, CacheExtra, Waiting } from './engine.js';
import { codingMismatch, variantKey, varyNames } from './keys.js';
import { fieldsOf, freshness, notStorable, staleOnError, type Directives, type HeuristicOptions, type RequestAsk } from './policy.js';
import { markHead, serveObject, type ServeArgs, type ServeOptions } from './serve.js';
import type { ObjectMeta, ObjectWriter, StoredObject } from './store.js';
import type { RouteCacheConfig } from './schema.js';
import { share } from './shared-tier.js';

/** A route's cache, compiled for one config generation. */
export interface CacheRoute {
  readonly engine: CacheEngine;
  readonly cfg: RouteCacheConfig;
  readonly zone: string;
  readonly serve: ServeOptions;
  readonly heuristic: HeuristicOptions;
  readonly range: ServeArgs['range'];
  /** Forwards the request through the route (retries, filters), with the tap watching. */
  readonly forward: (ctx: RequestCtx, tap?: ResponseTap) => void;
  /** Fetches the request's target with no client attached. */
  readonly fetch: (ctx: RequestCtx, edit: (req: { method: string; path: string; headers: string[] }) => void) => Promise<FetchedResponse>;
}

/** What one lookup found out about the request. */
export interface Lookup {
  readonly ctx: RequestCtx;
  readonly base: string;
  readonly key: string;
  readonly cc: Directives;
  readonly ask: RequestAsk;
  /** The object was just found in the shared tier (`cache.redis`): Cache-Status says so. */
  readonly shared?: boolean;
}

const CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];
/** Fields a 304 never changes in a stored head (RFC 9111 3.2), and the proxy's own. */
const NOT_UPDATED = new Set(['content-length', 'x-request-id', 'cache-status', 'x-cache']);

function header(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/** Conditional request headers for revalidating `stale` (RFC 9111 4.3.1), replacing the client's own. */
export function revalidationHeaders(headers: string[], stale: StoredObject | undefined): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (CONDITIONALS.includes(headers[r]!.toLowerCase())) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
  if (!stale) return;
  const etag = header(stale.meta.headers, 'etag');
  const lm = header(stale.meta.headers, 'last-modified');
  if (etag !== undefined) headers.push('if-none-match', etag);
  if (lm !== undefined) headers.push('if-modified-since', lm);
}

/** RFC 9111 3.2: the stored head updated with a 304's fields. */
export function updatedHead(stored: readonly string[], fresh: readonly string[]): string[] {
  const names = new Set<string>();
  for (let i = 0; i < fresh.length; i += 2) if (!NOT_UPDATED.has(fresh[i]!)) names.add(fresh[i]!);
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!names.has(stored[i]!)) out.push(stored[i]!, stored[i + 1]!);
  for (let i = 0; i < fresh.length; i += 2) if (names.has(fresh[i]!)) out.push(fresh[i]!, fresh[i + 1]!);
  return out;
}

/** The tags a response files itself under (Surrogate-Key, Cache-Tag), for purging. */
export function tagsOf(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'surrogate-key') out.push(...headers[i + 1]!.split(/\s+/));
    else if (headers[i] === 'cache-tag') out.push(...headers[i + 1]!.split(','));
  }
  return [...new Set(out.map((t) => t.trim()).filter((t) => t !== ''))];
}

/** Fields never stored: per-request, or the proxy's own. */
const NOT_STORED = new Set(['x-request-id', 'cache-status', 'x-cache']);

/**
 * Starts storing a response, when RFC 9111 3 allows it and the object is worth keeping. Returns the writer,
 * or the reason it is not stored.
 */
export function admit(c: CacheRoute, l: Lookup, status: number, headers: readonly string[], times: { requestTime: number; responseTime: number }): ObjectWriter | string {
  const fields = fieldsOf(headers);
  const f = freshness(status, fields, times, c.heuristic);
  const why = notStorable({
    method: l.ctx.req.method === 'HEAD' ? 'HEAD' : 'GET', status, request: l.cc,
    authorization: l.ctx.req.header('authorization') !== undefined, storeSetCookie: c.cfg.store_set_cookie,
  }, fields, f);
  if (why) return why;
  const validator = header(headers, 'etag') !== undefined || header(headers, 'last-modified') !== undefined;
  // Kept only if it can be used again: fresh, revalidated, or served stale where its own directives allow.
  if (f.lifetime - f.initialAge <= 0 && !validator && !f.staleWhileRevalidate && !f.staleIfError) return 'stale on arrival';
  const cl = Number(header(headers, 'content-length') ?? -1);
  if (cl > c.cfg.max_object) return 'too large';
  const vary = varyNames(headers);
  if (vary.includes('accept-encoding') && codingMismatch(l.ctx.req.header('accept-encoding'), header(headers, 'content-encoding'))) return 'coding not accepted';
  const stored: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!NOT_STORED.has(headers[i]!)) stored.push(headers[i]!, headers[i + 1]!);
  const extra: CacheExtra = { zone: c.zone, base: l.base, vary };
  const meta: ObjectMeta = { status, headers: stored, ...times, url: urlOfKey(l.base), tags: tagsOf(headers), extra: extra as unknown as Record<string, unknown> };
  const writer = c.engine.store.create(l.base + variantKey(vary, l.ctx), meta, Number.isFinite(cl) ? cl : -1);
  return writer ?? 'store full';
}

/**
 * Stores the head a 304 updated (RFC 9111 4.3.4), unless the 304's fields made it a response a shared cache
 * may not keep (3: a Set-Cookie for the revalidating user, `private`, `no-store`): merged in, they would be
 * replayed to everyone. Then the stored head is left as it was, marked stale, so the next use revalidates.
 */
function keepRevalidated(c: CacheRoute, l: Lookup, stale: StoredObject, meta: ObjectMeta): StoredObject | undefined {
  const fields = fieldsOf(meta.headers);
  const why = notStorable({
    method: 'GET', status: meta.status, request: l.cc,
    authorization: l.ctx.req.header('authorization') !== undefined, storeSetCookie: c.cfg.store_set_cookie,
  }, fields, freshness(meta.status, fields, meta, c.heuristic));
  if (why === undefined) {
    const kept = c.engine.store.update(stale.key, meta);
    if (kept) share(c, kept);
    return kept;
  }
  c.engine.store.update(stale.key, { ...stale.meta, extra: { ...stale.meta.extra, soft: true } });
  return undefined;
}

/** The URL part of a base key (`zone URL[\n…]`). */
export function urlOfKey(base: string): string {
  const sp = base.indexOf(' ');
  const nl = base.indexOf('\n');
  return base.slice(sp + 1, nl === -1 ? undefined : nl);
}

/** Serves a stale object because the origin failed, when that is allowed; true if it did. */
/** Statuses that say the origin is out of reach (a gateway's own errors), like a failed connection. */
const DISCONNECTED = new Set([502, 503, 504]);

/**
 * Serves a stale object because the origin failed, when that is allowed; true if it did. `status`: the 5xx the
 * origin answered, undefined when no answer came. The configured window (`serve_stale_on_error`) applies when
 * the origin is out of reach (RFC 9111 4.2.4); any 5xx needs the origin's or the client's stale-if-error.
 */
function serveStaleOnError(c: CacheRoute, l: Lookup, stale: StoredObject | undefined, status?: number): boolean {
  if (!stale || l.ctx.res.headersSent) return false;
  const f = c.engine.freshnessOf(stale, c.heuristic);
  const age = (Date.now() - stale.meta.responseTime) / 1000 + f.initialAge;
  const configured = c.cfg.serve_stale_on_error === false || (status !== undefined && !DISCONNECTED.has(status)) ? 0 : c.cfg.serve_stale_on_error;
  if (!staleOnError(f, age, l.ask, configured / 1000)) return false;
  c.engine.counters.stale++;
  serveObject(l.ctx, c.serve, { store: c.engine.store, obj: stale, f, status: 'STALE', detail: 'origin-error', range: c.range });
  return true;
}

export class Fill implements ResponseTap {
  private writer: ObjectWriter | undefined;
  private size = 0;
  private released = false;
  private resume: (() => void) | undefined;
  private requestTime = Date.now();
  readonly waiting: Waiting & { release?: () => void };

  constructor(private readonly c: CacheRoute, private readonly l: Lookup, private readonly stale: StoredObject | undefined) {
    let release!: () => void;
    this.waiting = { settled: new Promise<void>((r) => { release = r; }), waiters: 0 };
    this.waiting.release = release;
    if (c.cfg.collapse) c.engine.fills.set(l.key, this.waiting);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    if (this.c.engine.fills.get(this.l.key) === this.waiting) this.c.engine.fills.delete(this.l.key);
    this.waiting.release!();
  }

  request(req: { headers: string[] }): void {
    this.requestTime = Date.now();
    if (this.stale) revalidationHeaders(req.headers, this.stale);
  }

  head(status: number, headers: string[]): TapMode {
    const { c, l, stale } = this;
    const { engine } = c;
    const now = Date.now();
    if (stale && status === 304) {
      const meta: ObjectMeta = { ...stale.meta, headers: updatedHead(stale.meta.headers, headers), requestTime: this.requestTime, responseTime: now, extra: { ...stale.meta.extra, soft: false } };
      // This client gets the updated head; the store keeps it only if it may still be shared.
      const kept = keepRevalidated(c, l, stale, meta);
      engine.counters.revalidated++;
      serveObject(l.ctx, c.serve, {
        store: engine.store, obj: kept ?? stale, meta: kept ? undefined : meta,
        f: engine.freshnessOf(kept ?? { ...stale, meta }, c.heuristic), status: 'REVALIDATED', range: c.range,
      });
      this.release();
      return 'take';
    }
    if (status >= 500 && serveStaleOnError(c, l, stale, status)) {
      this.release();
      return 'take';
    }
    const admitted = admit(c, l, status, headers, { requestTime: this.requestTime, responseTime: now });
    engine.counters.misses++;
    let mode: TapMode = 'pass';
    if (typeof admitted === 'string') {
      // A response that may not be stored replaces what was stored (RFC 9111 4.3.3), unless it is an error.
      if (stale && status < 500) engine.store.delete(stale.key);
      engine.counters.bypass++;
      this.release();
    } else {
      this.writer = admitted;
      mode = 'copy';
    }
    removeTags(headers);
    markHead(headers, 'MISS', c.serve, typeof admitted === 'string' ? `detail=${admitted.replace(/ /g, '-')}` : 'stored', l.ctx.req.httpVersion === '2');
    return mode;
  }

  data(chunk: Buffer): boolean {
    const w = this.writer;
    if (!w) return true;
    this.size += chunk.length;
    if (this.size > this.c.cfg.max_object) {
      w.abort();
      this.writer = undefined;
      this.release();
      return true;
    }
    if (w.write(chunk)) return true;
    w.onDrain(() => this.resume?.());
    return false;
  }

  onDrain(resume: () => void): void {
    this.resume = resume;
  }

  end(): void {
    const w = this.writer;
    this.writer = undefined;
    if (!w) return this.release();
    w.end().then((obj) => {
      if (obj) {
        this.c.engine.add(obj);
        this.c.engine.counters.stored++;
        share(this.c, obj);
      }
      this.release();
    }, () => this.release());
  }

  error(_err: Error, headSent: boolean): boolean {
    this.writer?.abort();
    this.writer = undefined;
    const served = !headSent && serveStaleOnError(this.c, this.l, this.stale);
    this.release();
    return served;
  }

  keepFilling(): boolean {
    return this.writer !== undefined && this.waiting.waiters > 0;
  }
}

/** Surrogate keys are the cache's business, not the client's (as Fastly and Cloudflare strip them). */
export function removeTags(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === 'surrogate-key' || headers[r] === 'cache-tag') continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
}

/** Background fetches (revalidations and whole-object fills) in flight at once, per process; past it, none starts
 * (a stale object is served as it is, a range is only passed on) and a later request tries again. */
export const MAX_BACKGROUND = 16;

/**
 * Fetches the object with no client attached and stores it (a background revalidation, RFC 5861 3, or a
 * whole-object fetch behind a range request). Once per key at a time; failures are only logged.
 */
export async function refresh(c: CacheRoute, l: Lookup, stale: StoredObject | undefined, limit = c.cfg.max_object): Promise<void> {
  const { engine } = c;
  // Bounded in number too: each Range request for another uncached URL (`?r=1`, `?r=2`…) would otherwise start a
  // whole-object fetch of up to ranges.fetch_max, a request of a few bytes costing the origin megabytes.
  if (engine.refreshing.has(l.key) || engine.refreshing.size >= MAX_BACKGROUND) return;
  engine.refreshing.add(l.key);
  let writer: ObjectWriter | undefined;
  try {
    const requestTime = Date.now();
    const res = await c.fetch(l.ctx, (req) => revalidationHeaders(req.headers, stale));
    const responseTime = Date.now();
    if (stale && res.status === 304) {
      res.body.resume();
      keepRevalidated(c, l, stale, { ...stale.meta, headers: updatedHead(stale.meta.headers, res.headers), requestTime, responseTime, extra: { ...stale.meta.extra, soft: false } });
      engine.counters.revalidated++;
      return;
    }
    const cl = Number(header(res.headers, 'content-length') ?? -1);
    const admitted = res.status >= 500 ? 'error' : cl > limit ? 'too large' : admit(c, l, res.status, res.headers, { requestTime, responseTime });
    if (typeof admitted === 'string') {
      res.body.destroy();
      if (stale && res.status < 500) engine.store.delete(stale.key);
      return;
    }
    writer = admitted;
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new Error('too large');
      if (!writer.write(chunk)) await new Promise<void>((r) => writer!.onDrain(r));
    }
    const obj = await writer.end();
    writer = undefined;
    if (obj) {
      engine.add(obj);
      engine.counters.stored++;
      share(c, obj);
    }
  } catch (err) {
    writer?.abort();
    engine.log.debug({ err, url: urlOfKey(l.base) }, 'background cache fetch failed');
  } finally {
    engine.refreshing.delete(l.key);
  }
}
