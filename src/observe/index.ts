/**
 * Observability: the process logger (one format on stderr), the log of failed requests (repeats summarised),
 * the access log (plugin `access_log`, `logging` phase), and Prometheus metrics (plugin `metrics`, `logging` phase;
 * a registry per instance), tracing (plugin `tracing`: W3C traceparent, OTLP export; early, upstream request,
 * response and logging phases), the last 5xx requests for the dashboard (plugin `recent_errors`, `logging` phase).
 * Hooks: logging (global). Services: none.
 */
import { isAbsolute, resolve } from 'node:path';
import { definePlugin } from '../core/plugin.js';
import { createAccessLog } from './access-log.js';
import type { AccessLogConfig } from './schema.js';

export * from './schema.js';
export { createLogger, logFormat, type LoggerOptions } from './logger.js';
export { createFailureLog, type FailureLog, type FailureLogOptions } from './failure-log.js';
export { tracing, traceIdOf, type TracingPluginConfig } from './tracing.js';
export { createSpanExporter, type ExportStats, type OtlpSpan, type SpanExporter, type SpanExporterOptions } from './trace-export.js';
export { createRecentErrors, mergeRecentErrors, recentErrorsPlugin, type RecentErrors } from './recent-errors.js';
export { aggregateMetricsJson } from './metrics-json.js';
export { groupMetrics, type GroupMetrics } from './group-metrics.js';
export {
  aggregateMetrics, createMetrics, metricsPlugin, primaryMetrics, type Metrics, type MetricsJson, type MetricsPluginConfig, type MetricsSources, type MetricsText,
  type ReloadLog,
} from './metrics.js';

/** Plugin `access_log`; `trace_ids`: the config has `tracing`, so each line carries the request's `trace_id`. */
export const accessLog = definePlugin<AccessLogConfig & { trace_ids?: boolean }>({
  name: 'access_log',
  create(cfg, app) {
    if (!cfg.enabled) return {};
    const path = cfg.path === undefined ? undefined : isAbsolute(cfg.path) ? cfg.path : resolve(app.baseDir, cfg.path);
    const log = createAccessLog(path, { traceIds: cfg.trace_ids === true });
    return {
      global: {
        logging: (ctx, err) => log.write(ctx, err),
      },
      close: () => log.close(),
    };
  },
});
