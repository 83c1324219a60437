/**
 * Answers a client from a stored object: the stored head with its Age (RFC 9111 4.2.3 and 5.1), the cache's
 * status (X-Cache and RFC 9211 Cache-Status), a 304 when the client's own validators match (RFC 9111 4.3.2),
 * and the body streamed from the store with backpressure. The route's response filters run on the head, as
 * they do on a forwarded response.
 */
import type { Readable } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import type { Phases, ResponseHead } from '../core/plugin.js';
import { noteStreamed } from '../core/memory.js';
import { currentAge, httpDate, TARGETED, type Freshness } from './policy.js';
import type { CacheStore, StoredObject } from './store.js';
import type { CompressSettings } from './encode.js';
import type { CacheEngine } from './engine.js';
import { encodedBody } from './serve-encoded.js';

export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS';

export interface ServeOptions {
  readonly statusHeader: string | false;
  readonly responseFilters: readonly Phases['responseFilter'][];
  /** The route's `compress` settings, when it compresses. */
  readonly compress?: CompressSettings | undefined;
  /** Where compressed variants are kept. */
  readonly engine?: CacheEngine | undefined;
}

/** RFC 9211: `Gatehouse; hit` or `Gatehouse; fwd=uri-miss; stored`, and the like. */
export function cacheStatusValue(status: CacheStatus, detail?: string): string {
  switch (status) {
    case 'HIT': return `Gatehouse; hit${detail ? `; ttl=${detail}` : ''}`;
    case 'STALE': return `Gatehouse; hit; fwd=stale${detail ? `; detail=${detail}` : ''}`;
    case 'REVALIDATED': return 'Gatehouse; fwd=stale; fwd-status=304';
    case 'MISS': return `Gatehouse; fwd=uri-miss${detail ? `; ${detail}` : ''}`;
    default: return `Gatehouse; fwd=bypass${detail ? `; detail=${detail}` : ''}`;
  }
}

/** Adds X-Cache (or the configured name) and Cache-Status to a head, in place; removes this cache's own
 * targeted field (Gatehouse-Cache-Control never leaves the proxy). */
export function markHead(headers: string[], status: CacheStatus, opts: ServeOptions, detail?: string, h2 = false): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === TARGETED[0]) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
  // HTTP/2 field names are lower case (RFC 9113 8.2.1); HTTP/1.1 shows the name as configured.
  if (opts.statusHeader) headers.push(h2 ? opts.statusHeader.toLowerCase() : opts.statusHeader, status);
  headers.push('cache-status', cacheStatusValue(status, detail));
}

/** Strong or weak ETag comparison (RFC 9110 8.8.3.2): weak for If-None-Match. */
function etagIn(list: string, etag: string | undefined): boolean {
  if (etag === undefined) return list.trim() === '*';
  const opaque = etag.replace(/^W\//, '');
  return list.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v.replace(/^W\//, '') === opaque;
  });
}

/** RFC 9110 13.1.2 / 13.1.3 for GET and HEAD: the client already has this representation. */
export function notModified(ctx: RequestCtx, headers: readonly string[]): boolean {
  const get = (n: string): string | undefined => {
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === n) return headers[i + 1];
    return undefined;
  };
  const inm = ctx.req.header('if-none-match');
  if (inm !== undefined) return etagIn(inm, get('etag'));
  const ims = ctx.req.header('if-modified-since');
  const lm = get('last-modified');
  if (ims === undefined || lm === undefined) return false;
  // RFC 9110 13.1.3: an If-Modified-Since that is not a valid HTTP-date is ignored.
  const since = httpDate(ims);
  const modified = httpDate(lm);
  return since !== undefined && modified !== undefined && modified <= since;
}

/** Fields a 304 carries (RFC 9110 15.4.5), besides the cache's own. */
const NOT_MODIFIED_FIELDS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'age', 'last-modified']);

const NOT_SENT = new Set(['age', 'surrogate-key', 'cache-tag']);

/** The head a stored object is served with: stored fields, Age, X-Request-Id. */
export function storedHead(ctx: RequestCtx, obj: StoredObject, f: Freshness, now: number): string[] {
  const out: string[] = [];
  const h = obj.meta.headers;
  // Tags (Surrogate-Key, Cache-Tag) are the cache's, not the client's: stored, never sent.
  for (let i = 0; i < h.length; i += 2) if (!NOT_SENT.has(h[i]!)) out.push(h[i]!, h[i + 1]!);
  out.push('age', String(Math.floor(currentAge(f, obj.meta.responseTime, now))));
  out.push('x-request-id', ctx.requestId);
  return out;
}

/** Streams `body` to the client with backpressure; the client going away stops the read. */
export function pipeToClient(ctx: RequestCtx, body: Readable): void {
  const res = ctx.res;
  body.on('data', (chunk: Buffer) => {
    ctx.bytesOut += chunk.length;
    noteStreamed(chunk.length);
    if (!res.write(chunk)) body.pause();
  });
  res.on('drain', () => { if (!body.readableEnded) body.resume(); });
  body.once('end', () => res.end());
  body.once('error', (err) => {
    ctx.log.warn({ err }, 'cache read failed');
    res.destroy();
  });
  res.on('close', () => { if (!body.destroyed) body.destroy(); });
}

export interface ServeArgs {
  readonly store: CacheStore;
  readonly obj: StoredObject;
  readonly f: Freshness;
  readonly status: CacheStatus;
  readonly detail?: string | undefined;
  /** The head to send instead of the stored one (a 304's update the store did not keep); the body is `obj`'s. */
  readonly meta?: StoredObject['meta'] | undefined;
  /** Plans the body for a Range request (ranges.ts); undefined: the whole body. */
  readonly range?: ((ctx: RequestCtx, head: ResponseHead, obj: StoredObject, store: CacheStore) => Readable | undefined) | undefined;
}

/** Answers the client from a stored object. */
export function serveObject(ctx: RequestCtx, opts: ServeOptions, a: ServeArgs): void {
  if (ctx.clientGone || ctx.res.headersSent) return;
  const shown = a.meta ? { ...a.obj, meta: a.meta } : a.obj;
  const headers = storedHead(ctx, shown, a.f, Date.now());
  markHead(headers, a.status, opts, a.detail, ctx.req.httpVersion === '2');
  let head: ResponseHead = { status: shown.meta.status, headers };
  let body: Readable | undefined;
  if (shown.meta.status === 200 && notModified(ctx, headers)) {
    const kept: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i]!;
      if (NOT_MODIFIED_FIELDS.has(n) || n === 'x-request-id' || n === 'cache-status' || n === (opts.statusHeader || '').toLowerCase()) kept.push(n, headers[i + 1]!);
    }
    head = { status: 304, headers: kept };
  } else if (ctx.req.method === 'GET' && a.range && ctx.req.header('range') !== undefined) {
    body = a.range(ctx, head, a.obj, a.store);
  } else if (opts.compress && opts.engine && ctx.req.header('range') === undefined && head.status === 200) {
    body = encodedBody(ctx, opts.compress, head, a.obj, opts.engine);
  }
  // RFC 9110 14.3: ranges of the identity object are served; a compressed answer has none.
  if (head.status === 200 && ctx.req.header('range') === undefined && a.range && !head.headers.includes('content-encoding')) head.headers.push('accept-ranges', 'bytes');
  for (const f of opts.responseFilters) f(ctx, head);
  ctx.status = head.status;
  ctx.res.writeHead(head.status, head.headers);
  if (ctx.req.method === 'HEAD' || head.status === 304 || head.status === 204 || head.status === 416) {
    ctx.res.end();
    return;
  }
  if (body) return pipeToClient(ctx, body);
  const chunks = a.store.chunks?.(a.obj);
  if (chunks) return writeChunks(ctx, chunks);
  pipeToClient(ctx, a.store.read(a.obj));
}

/** A memory object written straight to the response: no stream per hit (the common, small case). */
function writeChunks(ctx: RequestCtx, chunks: readonly Buffer[]): void {
  const res = ctx.res;
  const last = chunks.length - 1;
  for (let i = 0; i < last; i++) res.write(chunks[i]!);
  for (const c of chunks) ctx.bytesOut += c.length;
  if (last >= 0) res.end(chunks[last]);
  else res.end();
}
