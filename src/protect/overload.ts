/**
 * Load shedding. The event loop's delay (perf_hooks.monitorEventLoopDelay, p99 over the last 250 ms) and
 * the heap's use are sampled on a timer; while either is past its threshold, new requests get 503 at the
 * first phase, before they cost work, and the ones already accepted finish. Shedding lasts at least one
 * second after the last sample past a threshold.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { OverloadConfig } from './schema.js';

export interface OverloadMonitor { readonly overloaded: boolean; close(): void }

export function overloadMonitor(cfg: OverloadConfig): OverloadMonitor {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  // Shedding lasts at least a second past the last bad sample, so it does not flap at the sampling rate.
  let until = 0;
  const limitMs = cfg.event_loop_delay;
  const INTERVAL = 250;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    // The histogram's p99 catches sustained lag; this timer's own drift catches one long block at once
    // (the histogram may record that sample only after this callback has read and reset it).
    const lag = Math.max(h.percentile(99) / 1e6, now - last - INTERVAL);
    last = now;
    h.reset();
    const heap = getHeapStatistics();
    if (lag > limitMs || (heap.used_heap_size / heap.heap_size_limit) * 100 > cfg.heap_used_percent) until = now + 1000;
  }, INTERVAL);
  timer.unref();
  return {
    get overloaded() { return until > performance.now(); },
    close() { clearInterval(timer); h.disable(); },
  };
}
