/**
 * The dashboard's live figures from the proxy's metrics (core/figures.ts `MetricFamily`, as `GET /metrics` in
 * JSON): requests per second, error rate (the share of 5xx) and p50/p99 latency, from the change in histogram
 * buckets between two samples, as Prometheus's `rate()` and `histogram_quantile()` compute them.
 */
import { quantile as histogramQuantile, type MetricFamily } from '../../core/figures.js';

/** Totals of one histogram series (summed over the labels not kept): requests, errors, cumulative buckets. */
export interface Series { count: number; errors: number; buckets: Map<number, number> }

/** The figures of one route or server over a window; null where unknown (no metric, or no request to measure). */
export interface Figures { rps: number | null; errorRate: number | null; p50: number | null; p99: number | null }

export const UNKNOWN: Figures = Object.freeze({ rps: null, errorRate: null, p50: null, p99: null });

/** Per route: `route`; a request is an error when its class is 5xx. */
export const ROUTE_DURATION = 'gatehouse_http_request_duration_seconds';
/** Per server: `upstream` + `server`; `status_class` `error` is an attempt that got no answer (a connect failure). */
export const SERVER_DURATION = 'gatehouse_upstream_request_duration_seconds';

const isError = (cls: unknown): boolean => cls === '5xx' || cls === 'error';

/**
 * The series of histogram `name`, keyed by `keyOf(labels)` (undefined: not counted); undefined when the
 * metric does not exist (yet).
 */
export function readHistogram(
  families: readonly MetricFamily[], name: string, keyOf: (labels: Readonly<Record<string, string | number | undefined>>) => string | undefined,
): Map<string, Series> | undefined {
  const family = families.find((f) => f.name === name);
  if (!family) return undefined;
  const out = new Map<string, Series>();
  for (const v of family.values) {
    const key = keyOf(v.labels);
    if (key === undefined) continue;
    let s = out.get(key);
    if (!s) out.set(key, (s = { count: 0, errors: 0, buckets: new Map() }));
    if (v.metricName === `${name}_count`) {
      s.count += v.value;
      if (isError(v.labels.status_class)) s.errors += v.value;
    } else if (v.metricName === `${name}_bucket`) {
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      s.buckets.set(le, (s.buckets.get(le) ?? 0) + v.value);
    }
  }
  return out;
}

/**
 * A counter's increase; a fall is a reset (the series started again from zero: a server removed and added
 * again), after which it counted `now`, as Prometheus's rate() and `gatehouse top` take it. A group's counters
 * never fall for a worker replaced: the primary keeps the departed workers' counts (observe/group-metrics.ts).
 */
const increase = (now: number, before: number): number => (now >= before ? now - before : now);

/**
 * The q-quantile (0..1) of the requests counted in `buckets` (le → cumulative count), in ms (core/figures.ts
 * `quantile`, as Prometheus histogram_quantile). Null when no request was counted.
 */
export function quantile(q: number, buckets: ReadonlyMap<number, number>): number | null {
  const s = histogramQuantile([...buckets].sort((x, y) => x[0] - y[0]), q);
  return s === undefined ? null : s * 1000;
}

/** The figures between two samples of one series `seconds` apart; `before` undefined: the series is new. */
export function figuresBetween(now: Series | undefined, before: Series | undefined, seconds: number): Figures {
  if (!(seconds > 0)) return UNKNOWN;
  if (!now) return { rps: 0, errorRate: null, p50: null, p99: null };
  const count = increase(now.count, before?.count ?? 0);
  const errors = Math.min(count, increase(now.errors, before?.errors ?? 0));
  const delta = new Map<number, number>();
  for (const [le, n] of now.buckets) delta.set(le, increase(n, before?.buckets.get(le) ?? 0));
  return {
    rps: count / seconds,
    errorRate: count > 0 ? errors / count : null,
    p50: quantile(0.5, delta),
    p99: quantile(0.99, delta),
  };
}
