/**
 * The cache in front of a proxy route: a lookup (RFC 9111 4), then a hit served from the store, a stale
 * object served while it is refreshed (RFC 5861), a revalidation, or a miss forwarded with a fill watching.
 * Concurrent misses for one object wait on the first (request collapsing). Unsafe methods are forwarded and,
 * when they succeed, invalidate what is stored for the URL (4.4).
 */
import type { BlockList } from 'node:net';
import type { RequestCtx } from '../core/context.js';
import { errors, type ProxyError } from '../core/errors.js';
import type { Reply } from '../core/plugin.js';
import type { ResponseTap } from '../core/services.js';
import { Fill, refresh, type CacheRoute, type Lookup } from './fill.js';
import { baseKey, keyQuery, urlOf, variantKey } from './keys.js';
import { currentAge, parseCacheControl, requestAsk, usability } from './policy.js';
import { serveObject } from './serve.js';
import { fromShared, sharedDetail } from './shared-tier.js';
import { isUnsliced, serveSliced } from './slices.js';

export interface CacheAction extends CacheRoute {
  readonly fail: (ctx: RequestCtx, err: ProxyError) => void;
  readonly reply: (ctx: RequestCtx, reply: Reply) => void;
  /** Addresses allowed to send the purge method (`purge.allow`). */
  readonly purgers: BlockList | undefined;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'REPORT']);

function values(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Resolves a Location / Content-Location value against the request URL; same host only (RFC 9111 4.4). */
function sameOrigin(ctx: RequestCtx, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const u = new URL(value, urlOf(ctx));
    if (u.hostname.toLowerCase() !== ctx.host) return undefined;
    return `${ctx.proto}://${ctx.host}${u.pathname}${u.search}`;
  } catch {
    return undefined;
  }
}

/** Watches an unsafe request's response: a success invalidates the URL and the ones it names (RFC 9111 4.4). */
function invalidationTap(a: CacheAction, ctx: RequestCtx): ResponseTap {
  return {
    head(status, headers) {
      if (status >= 200 && status < 400) {
        a.engine.invalidate(urlOf(ctx));
        // The other URLs are a MAY (4.4), taken only where they name what the request changed: Content-Location
        // and a 201's Location. A redirect's Location is where to go next, often from a parameter (`?next=/x`):
        // honoured, it would let anyone purge any URL of the host with one POST.
        for (let i = 0; i < headers.length; i += 2) {
          if (status >= 300 && headers[i] === 'location') continue;
          if (headers[i] !== 'location' && headers[i] !== 'content-location') continue;
          const url = sameOrigin(ctx, headers[i + 1]);
          if (url !== undefined) a.engine.invalidate(url);
        }
      }
      return 'pass';
    },
    data: () => true,
    onDrain() { /* nothing kept */ },
    end() { /* nothing kept */ },
    error: () => false,
    keepFilling: () => false,
  };
}

function clientIp(ctx: RequestCtx): string {
  return ctx.clientIp.startsWith('::ffff:') ? ctx.clientIp.slice(7) : ctx.clientIp;
}

function purgeHere(a: CacheAction, ctx: RequestCtx): void {
  const ip = clientIp(ctx);
  if (!a.purgers?.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4')) return a.fail(ctx, errors.methodNotAllowed());
  const soft = values(ctx.req.header('x-purge-soft') ?? ctx.req.header('fastly-soft-purge')).some((v) => v === '1' || v === 'true');
  const n = a.engine.purge({ url: urlOf(ctx), soft });
  a.reply(ctx, { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ purged: n, soft }) });
}

function lookupOf(a: CacheAction, ctx: RequestCtx): Lookup {
  const cc = parseCacheControl(values(ctx.req.header('cache-control')));
  const ask = requestAsk(cc, values(ctx.req.header('pragma')).join(', ') || undefined);
  const base = baseKey(a.zone, ctx, a.cfg.key);
  const key = base + variantKey(a.engine.vary.get(base) ?? [], ctx);
  return { ctx, base, key, cc, ask };
}

/** Forwards the request with a fill watching, or (when the store is cold and a fill is running) waits on it. */
function miss(a: CacheAction, l: Lookup, waited: number): void {
  const { ctx } = l;
  const running = a.cfg.collapse ? a.engine.fills.get(l.key) : undefined;
  if (running && waited < 2) {
    running.waiters++;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), a.cfg.collapse_timeout); });
    void Promise.race([running.settled, timeout]).then((how) => {
      clearTimeout(timer);
      running.waiters--;
      if (ctx.clientGone) return;
      // After a bounded wait the request goes on by itself (and stores nothing, not to race the fill).
      if (how === 'timeout') return a.forward(ctx);
      handle(a, ctx, waited + 1);
    });
    return;
  }
  a.forward(ctx, new Fill(a, l, undefined));
}

/**
 * Parameters the key leaves out (`ignore_query`) do not reach the origin either: one it echoed into the page
 * would otherwise be served to everyone who gets the object (cache poisoning through an unkeyed input).
 */
function unkeyedOut(ctx: RequestCtx, unkeyed: CacheAction['cfg']['key']): void {
  const p = ctx.upstreamPath;
  const q = p.indexOf('?');
  if (q !== -1) ctx.upstreamPath = p.slice(0, q) + keyQuery(p.slice(q), unkeyed);
}

/** Looks the request up and answers it from the store, or forwards it. */
function handle(a: CacheAction, ctx: RequestCtx, waited: number): void {
  const l = lookupOf(a, ctx);
  // Large objects in slices (`ranges.slice`), unless one is stored whole or the origin does not do ranges.
  if (a.cfg.ranges.slice > 0 && !l.ask.onlyIfCached && !isUnsliced(a.engine, l.base) && !a.engine.store.peek(l.key)) {
    return serveSliced(a, l, () => lookup(a, l, waited));
  }
  lookup(a, l, waited);
}

function lookup(a: CacheAction, l: Lookup, waited: number): void {
  const { ctx } = l;
  const { engine } = a;
  const obj = engine.store.get(l.key);
  if (obj) {
    const f = engine.freshnessOf(obj, a.heuristic);
    const age = currentAge(f, obj.meta.responseTime, Date.now());
    const soft = (obj.meta.extra as { soft?: boolean } | undefined)?.soft === true;
    const use = usability(f, age, l.ask, soft);
    if (use === 'fresh' || use === 'stale-ok' || use === 'stale-while-revalidate') {
      if (use === 'fresh') engine.counters.hits++;
      else engine.counters.stale++;
      if (use === 'stale-while-revalidate') void refresh(a, l, obj);
      const ttl = use === 'fresh' ? String(Math.floor(f.lifetime - age)) : undefined;
      const detail = l.shared ? sharedDetail(ttl) : ttl;
      return serveObject(ctx, a.serve, { store: engine.store, obj, f, status: use === 'fresh' ? 'HIT' : 'STALE', detail, range: a.range });
    }
    // RFC 9111 5.2.1.7: only-if-cached never reaches the origin.
    if (l.ask.onlyIfCached) return a.fail(ctx, errors.notCached());
    if (ctx.req.method === 'HEAD') return a.forward(ctx);
    return a.forward(ctx, new Fill(a, l, obj));
  }
  // A local miss of a plain GET looks in the shared tier first (once: `waited` is 1 after it), unless a fill or a
  // lookup for the key is running (then it waits on that, in `miss`); only-if-cached never waits on the origin.
  if (engine.tier && waited === 0 && ctx.req.method === 'GET' && ctx.req.header('range') === undefined
    && (l.ask.onlyIfCached || !(a.cfg.collapse && engine.fills.has(l.key)))) {
    // A find may have taught the engine the base key's Vary: only the variant key can change.
    return fromShared(a, l, (found) => lookup(a, found ? { ...l, key: l.base + variantKey(engine.vary.get(l.base) ?? [], ctx), shared: true } : l, 1));
  }
  if (l.ask.onlyIfCached) return a.fail(ctx, errors.notCached());
  if (ctx.req.method === 'HEAD') {
    engine.counters.bypass++;
    return a.forward(ctx);
  }
  if (ctx.req.header('range') !== undefined) {
    // A range of an object not stored: passed on, and (`fetch`) the whole object fetched behind it.
    engine.counters.bypass++;
    if (a.cfg.ranges.uncached === 'fetch') void refresh(a, l, undefined, Math.min(a.cfg.ranges.fetch_max, a.cfg.max_object));
    return a.forward(ctx);
  }
  miss(a, l, waited);
}

/** The route's action with the cache in front of `forward`. */
export function cacheAction(a: CacheAction): (ctx: RequestCtx) => void {
  const purgeMethod = a.cfg.purge?.method;
  // The query as the origin gets it: the ignored parameters out, the order kept (made once per route).
  const unkeyed = a.cfg.key.ignore_query.length ? { ...a.cfg.key, sort_query: false } : undefined;
  return (ctx) => {
    const m = ctx.req.method;
    if (m === purgeMethod) return purgeHere(a, ctx);
    // A GET with a body (Elasticsearch's _search, "fat GET") may mean something its URL does not say: it is
    // neither answered from the cache nor stored.
    if ((m === 'GET' || m === 'HEAD') && !ctx.head.hasBody) {
      if (unkeyed) unkeyedOut(ctx, unkeyed);
      return handle(a, ctx, 0);
    }
    a.forward(ctx, SAFE.has(m) ? undefined : invalidationTap(a, ctx));
  };
}

