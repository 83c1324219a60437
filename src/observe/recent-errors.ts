/**
 * The last requests answered with a 5xx, for the dashboard (`GET /api/events`, admin/ui/): the proxy's own
 * failures (a backend down, a timeout) and origins' 5xx answers. A ring of fixed size per Gatehouse, of the
 * process's lifetime (an outage that spans a reload stays listed); filled by plugin `recent_errors` in the
 * `logging` phase, where a request costs one comparison unless it failed.
 */
import { definePlugin } from '../core/plugin.js';
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';
import type { RecentError } from '../core/figures.js';

export interface RecentErrors {
  /** Records the request when its status is 5xx. */
  record(ctx: RequestCtx, err: ProxyError | undefined): void;
  /** The requests kept, newest first. */
  list(): RecentError[];
}

/** Longest message and path kept: enough to recognise the problem, bounded whatever an origin sends. */
const MAX_TEXT = 200;

const clip = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s);

function entryOf(ctx: RequestCtx, err: ProxyError | undefined, status: number): RecentError {
  const e: RecentError = { time: Date.now(), requestId: ctx.requestId, method: ctx.req.method, path: clip(ctx.path), status };
  if (ctx.route) e.route = ctx.route.id;
  if (ctx.upstreamName !== undefined) e.upstream = ctx.upstreamName;
  if (ctx.peer) e.server = ctx.peer.authority;
  if (err) {
    e.code = err.code;
    const cause = err.cause instanceof Error ? err.cause.message : err.cause === undefined ? undefined : String(err.cause);
    if (cause) e.message = clip(cause);
  }
  return e;
}

/** A ring of the last `size` (50 by default) 5xx requests. */
export function createRecentErrors(size = 50): RecentErrors {
  const ring: (RecentError | undefined)[] = new Array<RecentError | undefined>(size);
  let next = 0;
  return {
    record(ctx, err) {
      const status = ctx.status || ctx.res.statusCode;
      if (status < 500) return;
      ring[next] = entryOf(ctx, err, status);
      next = (next + 1) % size;
    },
    list() {
      const out: RecentError[] = [];
      for (let i = 1; i <= size; i++) {
        const e = ring[(next - i + size) % size];
        if (e) out.push(e);
      }
      return out;
    },
  };
}

/** Lists from several workers as one: newest first, at most `size`. */
export function mergeRecentErrors(lists: readonly (readonly RecentError[])[], size = 50): RecentError[] {
  return lists.flat().sort((a, b) => b.time - a.time).slice(0, size);
}

/** Plugin `recent_errors` (logging phase): fills the ring. Without one, no hook. */
export const recentErrorsPlugin = definePlugin<RecentErrors | undefined>({
  name: 'recent_errors',
  create(ring) {
    if (!ring) return {};
    return { global: { logging: (ctx, err) => ring.record(ctx, err) } };
  },
});
