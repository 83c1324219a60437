/**
 * Load shedding. The event loop's delay (perf_hooks.monitorEventLoopDelay, p99 over each 250 ms) and the heap's
 * use are sampled on a timer. Only sustained overload sheds: every sample over `window` must be past a threshold
 * (a GC pause, a busy neighbour or one slow tick on a shared host never refuses anyone). Then new requests get
 * 503 at the first phase, before they cost work, and the ones already accepted finish. Shedding lasts until a
 * second has passed without a sample past a threshold, so it does not flap at the sampling rate.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
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
  // When the current run of samples past a threshold began (the start of its first sample), -1 for none. The
  // window is time, not a count of samples: a loop blocked 200 ms at a time samples less often than every 250 ms.
  let overSince = -1;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    // The histogram's p99 catches sustained lag; this timer's own drift catches one long block at once
    // (the histogram may record that sample only after this callback has read and reset it).
    const lag = Math.max(h.percentile(99) / 1e6, now - last - INTERVAL);
    const sampleStart = last;
    last = now;
    h.reset();
    const heap = getHeapStatistics();
    const over = lag > limitMs || (heap.used_heap_size / heap.heap_size_limit) * 100 > cfg.heap_used_percent;
    if (!over) overSince = -1;
    else if (overSince < 0) overSince = sampleStart;
    // Sustained (every sample over the whole window), or still over while shedding: hold for one more second.
    if (over && (now - overSince >= cfg.window || until > now)) until = now + 1000;
    else if (until !== 0 && until <= now) until = 0; // over: a request then reads no clock
  }, INTERVAL);
  timer.unref();
  return {
    get overloaded() { return until !== 0 && until > performance.now(); },
    close() { clearInterval(timer); h.disable(); },
  };
}
