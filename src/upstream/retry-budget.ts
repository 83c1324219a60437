/**
 * Retry budget (Envoy/Finagle): extra attempts may add at most `percent` of the requests seen over a sliding
 * window, plus a floor of `min_retries` per window so a quiet upstream can still fail over. Counted in
 * one-second buckets.
 */
import { performance } from 'node:perf_hooks';
export interface RetryBudget {
  /** Counts a request; `now`: performance.now() when it came, if the caller has it. */
  request(now?: number): void;
  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean;
}

export function retryBudget(opts: { percent: number; windowMs: number; minRetries: number }): RetryBudget {
  const buckets = Math.max(1, Math.ceil(opts.windowMs / 1000));
  const requests = new Float64Array(buckets);
  const retries = new Float64Array(buckets);
  let current = 0;
  let currentSec = Math.floor(performance.now() / 1000);
  let totalRequests = 0;
  let totalRetries = 0;

  function advance(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec <= currentSec) return; // (a request counted as it arrived may come a little after a later one)
    const steps = Math.min(sec - currentSec, buckets);
    for (let i = 0; i < steps; i++) {
      current = (current + 1) % buckets;
      totalRequests -= requests[current]!;
      totalRetries -= retries[current]!;
      requests[current] = 0;
      retries[current] = 0;
    }
    currentSec = sec;
  }

  return {
    request(now = performance.now()) {
      advance(now);
      requests[current]!++;
      totalRequests++;
    },
    tryRetry() {
      advance(performance.now());
      if (totalRetries >= Math.max(opts.minRetries, (totalRequests * opts.percent) / 100)) return false;
      retries[current]!++;
      totalRetries++;
      return true;
    },
  };
}
