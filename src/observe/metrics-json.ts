/** The metrics of every worker of a group as one, in JSON (the dashboard's samples in the primary: admin/ui/). */
import { AggregatorRegistry } from 'prom-client';
import type { MetricFamily } from '../core/figures.js';
import type { MetricsJson } from './metrics.js';

/** As `aggregateMetrics` (counters and histograms summed, server health the minimum), as JSON. */
export function aggregateMetricsJson(lists: MetricsJson[]): Promise<MetricFamily[]> {
  return AggregatorRegistry.aggregate(lists).getMetricsAsJSON();
}
