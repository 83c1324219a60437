/** The rate store contract: one atomic decision per request (one round trip for a remote store). */
import type { Awaitable } from '../../core/plugin.js';

export interface RateDecision {
  allowed: boolean;
  /** When a refused request may be retried, in ms. */
  retryAfterMs: number;
  /** Requests left right now. */
  remaining: number;
  /** Until the key is back to a full burst, in ms. */
  resetMs: number;
}

export interface RateStore {
  /** Takes one request for `key` at one per `intervalMs` with `burst` at once. */
  take(key: string, intervalMs: number, burst: number): Awaitable<RateDecision>;
  /** Keys held (for tests and the status API). */
  size(): number;
  close(): void;
}
