/**
 * Progress of a long operation as log lines (info): at most one per `everyMs` (1 s by default) while it runs,
 * then a last one with the count and the duration. For work an operator waits on, such as the cache's
 * warm-up from disk at start (`cache: warm-up from disk 12 000/48 000 objects (25%)`).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

export interface Progress {
  /** `done` of the total so far; logs a line when the last was `everyMs` ago or more. */
  step(done: number): void;
  /** The last line: `<what> done: <done> <unit> in <duration>` (plus `fields` in the log record). */
  end(done: number, fields?: Record<string, unknown>): void;
}

export interface ProgressOptions {
  /** What runs, as the log line starts: `cache: warm-up from disk`. */
  what: string;
  total: number;
  /** What is counted, plural: `objects`. */
  unit: string;
  everyMs?: number;
  /** The clock, in ms; performance.now() by default. */
  now?: () => number;
}

/** 48000 → `48 000`: digits grouped by spaces, as SI writes them, whatever the locale. */
function grouped(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** 850 → `850 ms`, 3210 → `3.2 s`. */
export function durationText(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function progress(log: Logger, opts: ProgressOptions): Progress {
  const now = opts.now ?? ((): number => performance.now());
  const every = opts.everyMs ?? 1000;
  const start = now();
  let last = start;
  return {
    step(done) {
      const t = now();
      if (t - last < every) return;
      last = t;
      const pct = opts.total > 0 ? ` (${Math.floor((100 * done) / opts.total)}%)` : '';
      log.info({ done, total: opts.total }, `${opts.what} ${grouped(done)}/${grouped(opts.total)} ${opts.unit}${pct}`);
    },
    end(done, fields = {}) {
      const ms = now() - start;
      log.info({ ...fields, done, durationMs: Math.round(ms) }, `${opts.what} done: ${grouped(done)} ${opts.unit} in ${durationText(ms)}`);
    },
  };
}
