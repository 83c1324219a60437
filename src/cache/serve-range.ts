/**
 * Range requests answered from a stored object (RFC 9110 14): one range as a 206, several as
 * multipart/byteranges, 416 when none can be satisfied, the whole object when If-Range fails or the Range
 * header is invalid or abusive (ranges.ts). The range is read from the store's own ranged read, never from
 * a copy of the whole body.
 */
import type { Readable } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import type { ResponseHead } from '../core/plugin.js';
import { newBoundary, planRange, rangeBody, rangeHead } from './ranges.js';
import type { CacheStore, StoredObject } from './store.js';

function first(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** Changes `head` (in place) for the client's Range and returns the body to send, or undefined for the whole. */
export function rangeServer(ctx: RequestCtx, head: ResponseHead, obj: StoredObject, store: CacheStore): Readable | undefined {
  const range = ctx.req.header('range');
  if (head.status !== 200) return undefined;
  if (range === undefined) return undefined;
  const ifRange = ctx.req.header('if-range');
  const contentType = first(head.headers, 'content-type');
  const plan = planRange({ method: 'GET', range, ifRange }, {
    size: obj.size, status: obj.meta.status, etag: first(head.headers, 'etag'), lastModified: first(head.headers, 'last-modified'),
  });
  const boundary = newBoundary();
  const out = rangeHead(plan, head.headers, obj.size, boundary);
  head.status = out.status;
  head.headers = out.headers;
  if (plan.kind === 'full') return undefined;
  return rangeBody(plan, (r) => store.read(obj, r), contentType, obj.size, boundary);
}
