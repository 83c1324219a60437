/**
 * The in-memory rate store: GCRA (generic cell rate algorithm) with one theoretical arrival time per key.
 * Keys whose time has passed are forgotten (the Map is kept in last-update order, so the sweep stops at the
 * first live key), and at most `maxKeys` are kept: memory stays bounded whatever keys an attacker sends.
 */
import { performance } from 'node:perf_hooks';
import type { RateDecision, RateStore } from './store.js';

export interface MemoryStoreOptions {
  maxKeys: number;
  /** The clock, in ms; performance.now() by default (`gatehouse test` gives each fixture its own, starting at 0). */
  now?: () => number;
}

export function memoryStore(opts: MemoryStoreOptions): RateStore {
  const tats = new Map<string, number>();
  const clock = opts.now ?? ((): number => performance.now());
  const timer = setInterval(() => sweep(clock()), 1000);
  timer.unref();

  function sweep(now: number): void {
    for (const [k, tat] of tats) {
      if (tat > now) break;
      tats.delete(k);
    }
  }

  return {
    take(key, intervalMs, burst): RateDecision {
      const now = clock();
      const tolerance = intervalMs * (burst - 1);
      const tat = Math.max(tats.get(key) ?? now, now);
      const allowAt = tat - tolerance;
      if (now < allowAt) {
        return { allowed: false, retryAfterMs: allowAt - now, remaining: 0, resetMs: tat - now };
      }
      const next = tat + intervalMs;
      tats.delete(key); // re-insert: the Map stays in last-update order for the sweep
      tats.set(key, next);
      if (tats.size > opts.maxKeys) tats.delete(tats.keys().next().value!);
      return { allowed: true, retryAfterMs: 0, remaining: Math.max(0, Math.floor((now + tolerance + intervalMs - next) / intervalMs + 1e-6)), resetMs: next - now };
    },
    size: () => tats.size,
    close() { clearInterval(timer); },
  };
}
