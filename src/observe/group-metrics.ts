/**
 * The workers' figures as the primary of a group keeps them, so that the group's counters never fall (a fall is
 * a counter reset to Prometheus's rate() and increase(), which then report a burst that never happened): each
 * live worker's last figures, refreshed at every read, and one accumulator of the departed workers' counters
 * and histograms. A worker that leaves (killed, crashed, replaced by a rolling restart, retired by a smaller
 * group) folds its last figures into the accumulator, which every later aggregate adds: its counts stay in the
 * group's totals after it is gone. A worker stopped by the primary sends its figures once drained (workers.ts),
 * so nothing it served is lost; one that dies unannounced (SIGKILL) loses what it counted after its last read,
 * and the totals stay monotonic because only figures already shown are kept. Gauges are never kept: a departed
 * worker has no requests in flight. Memory: one accumulator (one value per series), whatever the number of
 * workers that came and went; the departed series of a server no live worker lists any more end (after a while:
 * a new worker may not have found it yet).
 */
import { performance } from 'node:perf_hooks';
import type { MetricValue } from 'prom-client';
import type { MetricsJson } from './metrics.js';

type Family = MetricsJson[number];
type Value = MetricValue<string> & { metricName?: string };

export interface GroupMetrics {
  /**
   * A live worker's figures, read by call number `order` (increasing; Infinity: the figures it sends as it stops,
   * drained). An answer older than the figures kept is ignored, so that two reads crossing never step back.
   */
  seen(worker: number, figures: MetricsJson, order: number): void;
  /** A worker left (its IPC channel closed): its last counters and histograms join the departed ones. */
  left(worker: number): void;
  /** What the group's figures are aggregated from: each live worker's last figures, then the departed ones. */
  lists(): MetricsJson[];
}

/** Only what a sum carries over: counters and histograms merged by summing (prom-client's default aggregator). */
const isKept = (f: Family): boolean =>
  (String(f.type) === 'counter' || String(f.type) === 'histogram') && (f.aggregator ?? 'sum') === 'sum';

/** How long the departed series of a server no live worker lists are kept. */
const UNLISTED_MS = 5 * 60_000;

const serverOf = (v: Value): string => `${String(v.labels.upstream)}\n${String(v.labels.server)}`;

const seriesKey = (v: Value): string =>
  `${v.metricName ?? ''}\u0000${Object.keys(v.labels).sort().map((k) => `${k}=${String(v.labels[k])}`).join('\u0000')}`;

/** `now`: the clock (ms, monotonic) that times a server no longer listed; performance.now() by default. */
export function groupMetrics(opts: { now?: () => number } = {}): GroupMetrics {
  const now = opts.now ?? (() => performance.now());
  const live = new Map<number, { figures: MetricsJson; order: number }>();
  /** The departed workers' sums: per metric, its description and one value per series. */
  const departed = new Map<string, { family: Family; values: Map<string, Value> }>();
  /** Servers with departed series that no live worker lists, since when (`now()`). */
  const unlisted = new Map<string, number>();

  function fold(figures: MetricsJson): void {
    for (const f of figures) {
      if (!isKept(f)) continue;
      let d = departed.get(f.name);
      if (!d) departed.set(f.name, (d = { family: { ...f, values: [] }, values: new Map() }));
      for (const v of f.values as Value[]) {
        const key = seriesKey(v);
        const was = d.values.get(key);
        d.values.set(key, { ...v, value: (was?.value ?? 0) + v.value });
      }
    }
  }

  /**
   * Drops the departed series of a server that no live worker has listed for `UNLISTED_MS` (removed from its
   * upstream): kept meanwhile, so that a worker that has not yet found a server (discovery) hides no count.
   */
  function prune(lists: MetricsJson[], at: number): void {
    const listed = new Set<string>();
    for (const figures of lists) {
      for (const f of figures) for (const v of f.values) if (v.labels.server !== undefined) listed.add(serverOf(v));
    }
    const held = new Set<string>();
    for (const d of departed.values()) {
      for (const [key, v] of d.values) {
        if (v.labels.server === undefined) continue;
        const server = serverOf(v);
        if (listed.has(server)) { unlisted.delete(server); continue; }
        const since = unlisted.get(server) ?? at;
        unlisted.set(server, since);
        if (at - since >= UNLISTED_MS) d.values.delete(key);
        else held.add(server);
      }
    }
    for (const server of unlisted.keys()) if (!held.has(server)) unlisted.delete(server);
  }

  return {
    seen(worker, figures, order) {
      const was = live.get(worker);
      if (!was || was.order <= order) live.set(worker, { figures, order });
    },
    left(worker) {
      const was = live.get(worker);
      live.delete(worker);
      if (was) fold(was.figures);
    },
    lists() {
      const lists = [...live.values()].map((w) => w.figures);
      // Without a live worker's figures, which servers are listed is unknown: nothing is dropped.
      if (lists.length) prune(lists, now());
      const gone = [...departed.values()].filter((d) => d.values.size).map((d) => ({ ...d.family, values: [...d.values.values()] }));
      return gone.length ? [...lists, gone as MetricsJson] : lists;
    },
  };
}
