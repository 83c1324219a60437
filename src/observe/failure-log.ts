/**
 * The process log's lines for requests the proxy failed (its own 5xx: a backend down, a timeout, shedding).
 * These are expected during an outage, so each is one line with its code, upstream, server and the cause's
 * message, without a stack trace; and an outage is not one line per request: the first failure of a kind
 * (code, upstream, server) is logged at once, repeats are counted and summarised at most once per window
 * ("repeated 49 times in last 10s"). A kind quiet for a whole window is forgotten, so its next failure is
 * logged at once again. GH_INTERNAL is a bug, not an outage: it keeps its stack, one kind per message.
 *
 * State is per instance (one per Gatehouse), bounded (`maxKinds`; failures of kinds beyond it are counted
 * together), and its timer is unref'd: it never keeps the process alive.
 */
import type { Logger } from 'pino';
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';

export interface FailureLog {
  /** Logs a failed request: a line now for the first of its kind, else counted for the next summary. */
  failed(ctx: RequestCtx, err: ProxyError): void;
  /** Writes the summaries due and stops the timer (the log stays usable). */
  close(): void;
}

export interface FailureLogOptions {
  /** How often repeats are summarised (ms); 10 s by default. */
  windowMs?: number;
  /** Kinds tracked at once; 1000 by default. */
  maxKinds?: number;
}

interface Kind {
  readonly code: string;
  readonly upstream: string | undefined;
  readonly server: string | undefined;
  repeats: number;
  /** Logged or summarised since the last tick: kept for one more window even without repeats. */
  fresh: boolean;
}

function causeMessage(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  return cause instanceof Error ? cause.message : String(cause);
}

export function createFailureLog(log: Logger, opts: FailureLogOptions = {}): FailureLog {
  const windowMs = opts.windowMs ?? 10_000;
  const maxKinds = opts.maxKinds ?? 1000;
  const kinds = new Map<string, Kind>();
  let untracked = 0;
  let timer: NodeJS.Timeout | undefined;
  // When the current window began: a summary written early (at close) names the time it really covers.
  let windowStart = 0;

  function summarise(): void {
    const now = Date.now();
    const window = `${Math.max(1, Math.round((now - windowStart) / 1000))}s`;
    windowStart = now;
    for (const [key, k] of kinds) {
      if (k.repeats > 0) {
        log.warn({ code: k.code, upstream: k.upstream, server: k.server, repeats: k.repeats }, `request failed: repeated ${k.repeats} times in last ${window}`);
        k.repeats = 0;
        k.fresh = true;
      } else if (k.fresh) {
        k.fresh = false;
      } else {
        kinds.delete(key);
      }
    }
    if (untracked > 0) {
      log.warn({ repeats: untracked }, `request failed: ${untracked} more failures of other kinds in last ${window}`);
      untracked = 0;
    }
    if (kinds.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    failed(ctx, err) {
      const upstream = ctx.upstreamName;
      const server = ctx.peer?.authority;
      const cause = causeMessage(err.cause);
      const internal = err.code === 'GH_INTERNAL';
      const key = `${err.code}\u0000${upstream ?? ''}\u0000${server ?? ''}${internal ? `\u0000${cause}` : ''}`;
      const known = kinds.get(key);
      if (known !== undefined) {
        known.repeats++;
        return;
      }
      if (kinds.size >= maxKinds) {
        untracked++;
        return;
      }
      kinds.set(key, { code: err.code, upstream, server, repeats: 0, fresh: true });
      if (timer === undefined) {
        timer = setInterval(summarise, windowMs);
        timer.unref();
        windowStart = Date.now();
      }
      if (internal) ctx.log.error({ err: err.cause ?? err, code: err.code }, 'request failed: internal error');
      else ctx.log.warn({ code: err.code, upstream, server, cause }, 'request failed');
    },
    close() {
      for (const k of kinds.values()) k.fresh = false;
      summarise();
      kinds.clear();
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
