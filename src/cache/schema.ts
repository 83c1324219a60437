/** Cache settings: the process-wide store (`cache:`) and each route's policy (`routes[].cache`). */
import { z } from 'zod';
import { duration, headerName, size } from '../config/units.js';

/** Largest `cache.redis.max_object`: a shared object is read and written whole, in one Redis value. */
const SHARED_MAX = 16 * 1024 ** 2;

export const cacheStoreSchema = z
  .strictObject({
    memory: size.default(64 * 1024 ** 2).describe('Memory for cached bodies (LRU), e.g. 64MiB'),
    disk: z
      .strictObject({
        path: z.string().min(1).describe('Directory for cached objects (relative to the config file); kept across restarts'),
        size: size.describe('Most bytes on disk (LRU), e.g. 1GiB'),
      })
      .optional()
      .describe('A disk tier for large objects, streamed to and from disk'),
    memory_object_max: size
      .default(1024 ** 2)
      .describe('Objects larger than this go to disk (when there is a disk tier), e.g. 1MiB'),
    redis: z
      .strictObject({
        max_object: size
          .default(64 * 1024)
          .refine((n) => n <= SHARED_MAX, 'at most 16MiB (objects are read whole from Redis)')
          .describe('Objects up to this size (whole bodies) are also kept in Redis, e.g. 64KiB'),
      })
      .optional()
      .describe('A shared tier in Redis (needs state.redis): small objects one instance or worker stored are found there by the others on a local miss (docs/caching.md, Shared tier in Redis)'),
  })
  .describe('The shared cache store; routes turn caching on with `cache: {}`');

const keySchema = z
  .strictObject({
    ignore_query: z
      .array(z.string().min(1))
      .default([])
      .describe('Query parameters left out of the key; `utm_*` matches a prefix; `*` ignores the whole query'),
    sort_query: z.boolean().default(false).describe('Sort query parameters, so ?a=1&b=2 and ?b=2&a=1 share an object'),
    headers: z.array(headerName).default([]).describe('Request headers whose values are part of the key'),
    cookies: z.array(z.string().min(1)).default([]).describe('Cookies whose values are part of the key'),
  })
  .prefault({})
  .describe('What tells two requests apart: method, scheme, host, path and query, and these');

const purgeSchema = z
  .strictObject({
    method: z.string().regex(/^[A-Z]+$/).default('PURGE').describe('The method that purges the request URL on this route'),
    allow: z.array(z.string()).min(1).describe('Client addresses (IP or CIDR) allowed to purge; others get 405 as if the method were unknown'),
  })
  .describe('Purge through the route itself: `PURGE /path` from an allowed address');

const rangesSchema = z
  .strictObject({
    uncached: z
      .enum(['fetch', 'pass'])
      .default('fetch')
      .describe('A range of an object not cached yet: `fetch` passes the range on and fetches the whole object in the background; `pass` only passes the range on'),
    fetch_max: size.default(256 * 1024 ** 2).describe('Largest object fetched whole in the background for a range request'),
    slice: size
      .default(0)
      .describe('Fetch and cache large objects in slices of this size (as nginx slice), so a seek waits for one slice; 0: off'),
  })
  .prefault({})
  .describe('Range requests (RFC 9110 14)');

export const routeCacheSchema = z
  .strictObject({
    key: keySchema,
    max_object: size.default(1024 ** 3).describe('Larger responses are passed on, not stored'),
    heuristic: z
      .strictObject({
        percent: z.number().min(0).max(100).default(10).describe('Share of the time since Last-Modified a response stays fresh'),
        max: duration.default(24 * 3600_000).describe('Cap on heuristic freshness'),
      })
      .prefault({})
      .describe('Heuristic freshness (RFC 9111 4.2.2) for responses without explicit freshness that the RFC lets a cache guess for'),
    serve_stale_on_error: z
      .union([duration, z.literal(false)])
      .default(60_000)
      .describe('Serve a stale object up to this long past its freshness when the origin cannot be reached, times out or answers 502, 503 or 504, even without stale-if-error (RFC 9111 4.2.4: a disconnected cache); never for must-revalidate, proxy-revalidate, s-maxage or no-cache; false: only when stale-if-error allows'),
    collapse: z.boolean().default(true).describe('Concurrent misses for one object make one upstream request'),
    collapse_timeout: duration.default(10_000).describe('How long a collapsed request waits before going upstream itself'),
    status_header: z
      .union([headerName, z.literal(false)])
      .default('X-Cache')
      .describe('Response header saying HIT, MISS, STALE or REVALIDATED; false: none (Cache-Status is always sent)'),
    store_set_cookie: z
      .boolean()
      .default(false)
      .describe('Store responses that set cookies (off: such responses are passed on, never shared between clients)'),
    purge: purgeSchema.optional(),
    ranges: rangesSchema,
  })
  .describe('A shared HTTP cache (RFC 9111) for this route; `cache: {}` takes the defaults');

export type CacheStoreConfig = z.infer<typeof cacheStoreSchema>;
export type RouteCacheConfig = z.infer<typeof routeCacheSchema>;

export const compressSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      encodings: z.array(z.enum(['br', 'gzip'])).min(1).default(['br', 'gzip']).describe('Codings offered, in order of preference'),
      types: z.array(z.string().min(1)).optional().describe('Media types to compress (`text/*`, `application/*+json`…); default: text, JSON, JavaScript, XML, SVG, WebAssembly, fonts'),
      min_length: size.default(1024).describe('Responses with a Content-Length below this are sent as they are'),
      brotli_quality: z.number().int().min(0).max(11).default(4).describe('Brotli quality (0-11) for on-the-fly compression'),
      gzip_level: z.number().int().min(1).max(9).default(6).describe('gzip level (1-9)'),
    }),
  ])
  .describe('Compress responses with brotli or gzip when the client accepts it and the origin did not (true: the defaults)');

export type CompressConfig = z.infer<typeof compressSchema>;
