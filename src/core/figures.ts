/**
 * What the admin side reads of a running proxy's figures for the dashboard (admin/ui/): its metrics as JSON,
 * the last requests it failed, and the last config load. Observe/ and the composition root provide them; a
 * group of workers merges every worker's (workers.ts).
 */

/** One metric family as prom-client's `getMetricsAsJSON()` gives it (histograms: `_bucket`, `_sum`, `_count` values). */
export interface MetricFamily {
  name: string;
  values: readonly { value: number; labels: Readonly<Record<string, string | number | undefined>>; metricName?: string }[];
}

/** A request answered with a 5xx (the proxy's own failure, or the origin's answer), as the dashboard lists it. */
export interface RecentError {
  /** ms since the epoch when it finished. */
  time: number;
  requestId: string;
  method: string;
  /** The path, without its query. */
  path: string;
  status: number;
  route?: string;
  upstream?: string;
  /** `host:port` of the server of the last attempt. */
  server?: string;
  /** The proxy's error code (`GH_…`) when the proxy failed the request; absent for an origin's own 5xx. */
  code?: string;
  /** The cause in a few words (the upstream error's message), when there is one. */
  message?: string;
}

/** The last time a config was loaded: at start, or a reload that was applied or refused. */
export interface ConfigLoad {
  /** ms since the epoch. */
  time: number;
  ok: boolean;
  /** The config version in force afterwards. */
  version: number;
  /** What started it: `start`, `api` (POST /api/reload), `signal`, `file`… */
  source: string;
  /** Why it was refused (the first problem), when it was. */
  error?: string;
}

/** The last config reload (`GET /api/config` `last_reload`): when, how it ended, the version then in force. */
export interface ReloadRecord {
  /** ISO 8601 time it ended. */
  at: string;
  result: 'success' | 'failure';
  /** Why it failed (the config errors, one per line). */
  error?: string;
  version: number;
}

/**
 * The q-quantile of a histogram's cumulative buckets, interpolated linearly within the bucket it falls in
 * (Prometheus histogram_quantile), in the unit of the bounds (seconds). The
 * dashboard and `gatehouse top` both read latencies with it; in the +Inf bucket, the highest finite bound. undefined without samples.
 */
export function quantile(buckets: readonly [number, number][], q: number): number | undefined {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return count === below ? le : lower + (le - lower) * ((rank - below) / (count - below));
    }
    lower = le;
    below = count;
  }
  return lower;
}
