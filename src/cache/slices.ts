/**
 * Large objects fetched and stored in slices (`ranges.slice`, as nginx's slice module): each slice is its own
 * object, fetched with `Range: bytes=i*S-(i+1)*S-1` when a client first needs it, so a seek into a video
 * waits for one slice, not for the whole file. A client's request (whole, one range or several) is answered
 * from the slices that cover it, fetching the missing ones as the body reaches them. Slices of one object
 * must agree (same ETag and total length), else the response is cut and the slices dropped. An origin that
 * does not answer a slice with 206 gets the whole-object path instead.
 */
import { Readable } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import { toProxyError } from '../core/errors.js';
import type { ResponseHead } from '../core/plugin.js';
import type { CacheAction } from './action.js';
import type { CacheEngine } from './engine.js';
import { tagsOf, urlOfKey, type Lookup } from './fill.js';
import { fieldsOf, freshness, notStorable, usability } from './policy.js';
import { newBoundary, planRange, rangeBody, rangeHead } from './ranges.js';
import { markHead, pipeToClient, storedHead } from './serve.js';
import type { StoredObject } from './store.js';

interface Slice { readonly obj: StoredObject; readonly total: number; readonly etag: string | undefined; readonly cached: boolean }

/** Slice fetches in flight, per engine (one fetch per slice however many clients need it). */
const inflight = new WeakMap<CacheEngine, Map<string, Promise<Slice | undefined>>>();

function first(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

function sliceKey(l: Lookup, i: number): string {
  return `${l.key}\n#slice=${i}`;
}

/** The stored slice if it may be used as it is. */
function storedSlice(a: CacheAction, l: Lookup, i: number): Slice | undefined {
  const obj = a.engine.store.get(sliceKey(l, i));
  if (!obj) return undefined;
  const f = a.engine.freshnessOf(obj, a.heuristic);
  const age = f.initialAge + (Date.now() - obj.meta.responseTime) / 1000;
  if (usability(f, age, l.ask, false) !== 'fresh') return undefined;
  const x = obj.meta.extra as { total?: number };
  return { obj, total: x.total ?? -1, etag: first(obj.meta.headers, 'etag'), cached: true };
}

/** Fetches slice `i` and stores it; undefined when the origin did not answer with a usable 206. */
async function fetchSlice(a: CacheAction, l: Lookup, i: number): Promise<Slice | undefined> {
  const S = a.cfg.ranges.slice;
  const requestTime = Date.now();
  const res = await a.fetch(l.ctx, (req) => {
    req.headers = drop(req.headers, ['range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since']);
    req.headers.push('range', `bytes=${i * S}-${(i + 1) * S - 1}`);
  });
  const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(first(res.headers, 'content-range') ?? '');
  // The part must be the slice asked for: a 206 that runs past it (an origin ignoring the end) would be stored,
  // or held in memory, whole.
  if (res.status !== 206 || !cr || Number(cr[1]) !== i * S || Number(cr[2]) > (i + 1) * S - 1 || Number(cr[2]) < Number(cr[1])) {
    res.body.resume();
    return undefined;
  }
  const total = Number(cr[3]);
  const times = { requestTime, responseTime: Date.now() };
  const fields = fieldsOf(res.headers);
  const f = freshness(206, fields, times, a.heuristic);
  const why = notStorable({ method: 'GET', status: 200, request: l.cc, authorization: l.ctx.req.header('authorization') !== undefined, storeSetCookie: a.cfg.store_set_cookie }, fields, f);
  const headers = drop(res.headers, ['content-range', 'content-length', 'x-request-id']);
  const meta = { status: 200, headers, ...times, url: `${l.base.slice(l.base.indexOf(' ') + 1).split('\n')[0]}`, tags: tagsOf(res.headers), extra: { zone: a.zone, base: l.base, vary: [], total, slice: i } };
  const writer = why ? undefined : a.engine.store.create(sliceKey(l, i), meta, Number(cr[2]) - Number(cr[1]) + 1);
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    // A body longer than its Content-Range (and so than the slice) is neither stored nor held.
    if ((got += chunk.length) > S) {
      writer?.abort();
      throw new Error('slice body longer than its range');
    }
    if (writer) {
      if (!writer.write(chunk)) await new Promise<void>((r) => writer.onDrain(r));
    } else {
      chunks.push(chunk);
    }
  }
  const obj = writer ? await writer.end() : undefined;
  if (obj) {
    // Indexed like any object, so purges (by URL and tag) and invalidations reach it (RFC 9111 4.4).
    a.engine.add(obj);
    return { obj, total, etag: first(obj.meta.headers, 'etag'), cached: false };
  }
  // Not storable (or the store refused it): served once from memory, slice-sized.
  const body = Buffer.concat(chunks);
  const fake = { key: sliceKey(l, i), meta, size: body.length, tier: 'memory' as const };
  transient.set(fake, body);
  return { obj: fake, total, etag: first(meta.headers, 'etag'), cached: false };
}

/** Bodies of slices that could not be stored, for the one response that fetched them. */
const transient = new WeakMap<StoredObject, Buffer>();

/** A flat header list without the fields named (any case). */
function drop(list: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (!names.includes(list[i]!.toLowerCase())) out.push(list[i]!, list[i + 1]!);
  return out;
}

/** Base keys whose origin answered a slice with something other than a 206: served whole from then on. */
const unsliced = new WeakMap<CacheEngine, Set<string>>();

export function isUnsliced(engine: CacheEngine, base: string): boolean {
  return unsliced.get(engine)?.has(base) === true;
}

function markUnsliced(engine: CacheEngine, base: string): void {
  let set = unsliced.get(engine);
  if (!set) unsliced.set(engine, (set = new Set()));
  if (set.size > 10_000) set.clear(); // bounded: forgetting only costs one more probe
  set.add(base);
}

function getSlice(a: CacheAction, l: Lookup, i: number): Promise<Slice | undefined> {
  const hit = storedSlice(a, l, i);
  if (hit) return Promise.resolve(hit);
  let map = inflight.get(a.engine);
  if (!map) inflight.set(a.engine, (map = new Map()));
  const key = sliceKey(l, i);
  let p = map.get(key);
  if (!p) {
    p = fetchSlice(a, l, i).finally(() => map.delete(key));
    map.set(key, p);
  }
  return p;
}

function readSlice(a: CacheAction, s: Slice, range: { start: number; end: number }): Readable {
  const body = transient.get(s.obj);
  return body ? Readable.from([body.subarray(range.start, range.end + 1)]) : a.engine.store.read(s.obj, range);
}

/** Bytes [start, end] of the whole object, slice after slice, each fetched when the stream reaches it. */
function slicedReader(a: CacheAction, l: Lookup, s0: Slice): (r: { start: number; end: number }) => Readable {
  const S = a.cfg.ranges.slice;
  return (r) => Readable.from((async function* () {
    for (let i = Math.floor(r.start / S); i <= Math.floor(r.end / S); i++) {
      const s = i === 0 ? s0 : await getSlice(a, l, i);
      // The object changed between slices (nginx: "etag mismatch in slice response"): stop here.
      if (!s || s.total !== s0.total || s.etag !== s0.etag) {
        // Everything stored for the URL goes (the object changed). Not slice by slice up to the total: the origin
        // says what the total is, and 2^50 would hold the event loop for hours.
        a.engine.invalidate(urlOfKey(l.base));
        throw new Error('slices of one object disagree');
      }
      const from = Math.max(r.start, i * S) - i * S;
      const to = Math.min(r.end, (i + 1) * S - 1) - i * S;
      for await (const chunk of readSlice(a, s, { start: from, end: to })) yield chunk as Buffer;
    }
  })(), { objectMode: false });
}

/** Answers a GET or HEAD from slices; `whole` is the ordinary path, taken when the origin does not do ranges. */
export function serveSliced(a: CacheAction, l: Lookup, whole: () => void): void {
  const { ctx } = l;
  getSlice(a, l, 0).then((s0) => {
    if (!s0) {
      markUnsliced(a.engine, l.base);
      return whole();
    }
    if (ctx.clientGone) return;
    respond(a, l, s0, ctx);
  }, (err: unknown) => a.fail(ctx, toProxyError(err)));
}

function respond(a: CacheAction, l: Lookup, s0: Slice, ctx: RequestCtx): void {
  const f = a.engine.freshnessOf(s0.obj, a.heuristic);
  const headers = storedHead(ctx, s0.obj, f, Date.now());
  markHead(headers, s0.cached ? 'HIT' : 'MISS', a.serve, s0.cached ? undefined : 'detail=slice', ctx.req.httpVersion === '2');
  const plan = planRange({ method: ctx.req.method, range: ctx.req.header('range'), ifRange: ctx.req.header('if-range') },
    { size: s0.total, status: 200, etag: s0.etag, lastModified: first(headers, 'last-modified') });
  const boundary = newBoundary();
  const contentType = first(headers, 'content-type');
  const out = rangeHead(plan, headers, s0.total, boundary);
  const head: ResponseHead = { status: out.status, headers: out.headers };
  for (const filter of a.serve.responseFilters) filter(ctx, head);
  ctx.status = head.status;
  ctx.res.writeHead(head.status, head.headers);
  if (ctx.req.method === 'HEAD' || head.status === 416 || s0.total === 0) return void ctx.res.end();
  pipeToClient(ctx, rangeBody(plan, slicedReader(a, l, s0), contentType, s0.total, boundary));
}
