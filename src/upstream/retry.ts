/**
 * When an attempt may be tried again on another server (as nginx proxy_next_upstream and Envoy retry_on):
 * - a connect failure (refused, connect timeout): the request was never written, any method;
 * - a reset or timeout before the response head, or a status in `retry_on_status`: only idempotent methods
 *   (RFC 9110 9.2.2), or a POST/PATCH carrying Idempotency-Key where the route opts in.
 * Never when a streamed request body was already read (only buffered bodies are replayed), never past
 * `retries` extra attempts, and never past the retry budget.
 */
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';
import type { UpstreamRuntime } from './pool.js';

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const AFTER_SEND: ReadonlySet<string> = new Set(['GH_UPSTREAM_RESET', 'GH_UPSTREAM_HEADERS_TIMEOUT']);

export function isIdempotent(ctx: RequestCtx, withKey: boolean): boolean {
  const m = ctx.req.method;
  if (IDEMPOTENT.has(m)) return true;
  return withKey && (m === 'POST' || m === 'PATCH') && ctx.req.header('idempotency-key') !== undefined;
}

/** Whether a failed attempt is of a kind that may be retried at all. */
export function retryableError(err: ProxyError, ctx: RequestCtx, withKey: boolean): boolean {
  if (err.opts.retryable) return true;
  return AFTER_SEND.has(err.code) && isIdempotent(ctx, withKey);
}

/** Whether one more attempt is allowed after `failures` failed ones: attempts left, body replayable,
 * budget. Takes from the budget. */
export function mayRetry(ctx: RequestCtx, up: UpstreamRuntime, bodyBuffered: boolean, failures: number): boolean {
  if (failures > up.config.retries) return false;
  if (ctx.head.hasBody && !bodyBuffered) {
    const body = ctx.body ?? ctx.req.body;
    if (body.readableDidRead || body.readableEnded) return false;
  }
  if (up.budget.tryRetry()) return true;
  up.meter?.retry(up.name, false);
  return false;
}
