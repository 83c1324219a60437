/**
 * The cache endpoints: `GET /api/cache` (sizes, hit ratio, counters) and `POST /api/cache/purge` (by URL,
 * URL prefix or tag, hard or soft). The cache itself is reached through `AdminTarget.cache()`.
 */
import { PurgeError, type AdminCache, type CachePurge } from '../core/services.js';
import type { Answer, Call } from './endpoints.js';
import { AdminError, readJson } from './http.js';

const KINDS = ['url', 'prefix', 'tag'] as const;
const EXAMPLE = '{"url": "http://example.com/a"}, {"prefix": "http://example.com/img/"} or {"tag": "product-42"}, with "soft": true to mark stale';

const bad = (message: string): AdminError => new AdminError(400, 'GH_ADMIN_BAD_REQUEST', message);

/** Checks a purge body: exactly one of url/prefix/tag (a non-empty string), `soft` a boolean, nothing else. */
export function parsePurge(body: unknown): CachePurge {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad(`the body must be a JSON object: ${EXAMPLE}`);
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !(KINDS as readonly string[]).includes(k) && k !== 'soft');
  if (unknown.length) throw bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (expected one of url, prefix, tag, and soft)`);
  const given = KINDS.filter((k) => b[k] !== undefined);
  if (given.length !== 1) {
    throw bad(`give exactly one of "url", "prefix" or "tag" (got ${given.length ? given.map((k) => `"${k}"`).join(', ') : 'none'}): ${EXAMPLE}`);
  }
  const kind = given[0]!;
  if (typeof b[kind] !== 'string' || (b[kind] as string).trim() === '') throw bad(`"${kind}" must be a non-empty string (got ${JSON.stringify(b[kind])})`);
  if (b.soft !== undefined && typeof b.soft !== 'boolean') throw bad(`"soft" must be true or false (got ${JSON.stringify(b.soft)})`);
  return { [kind]: b[kind] as string, ...(b.soft === undefined ? {} : { soft: b.soft as boolean }) };
}

function cacheOf(call: Call): AdminCache {
  const cache = call.target.cache?.();
  if (!cache) {
    throw new AdminError(501, 'GH_ADMIN_NO_CACHE', 'this proxy has no cache: no route has `cache:` (and there is no top-level `cache:`), so there is nothing to purge');
  }
  return cache;
}

/** `POST /api/cache/purge`: `{purged, soft}`. The body is read first, so a bad one is a 400 either way. */
export async function purgeCache(call: Call): Promise<Answer> {
  const req = parsePurge(await readJson(call.req, call.maxBody));
  const cache = cacheOf(call);
  try {
    return { status: 200, body: { purged: await cache.purge(req), soft: req.soft === true } };
  } catch (err) {
    if (err instanceof PurgeError) throw bad(err.message);
    throw err;
  }
}

/** `GET /api/cache`: the cache's figures, or `{enabled: false}` without a cache. */
export async function cacheStats(call: Call): Promise<Answer> {
  const cache = call.target.cache?.();
  return { status: 200, body: cache ? await cache.stats() : { enabled: false } };
}
