/**
 * Observability: the process logger (one format on stderr), the log of failed requests (repeats summarised),
 * the access log (plugin `access_log`, `logging` phase), and Prometheus metrics (plugin `metrics`, `logging` phase;
 * a registry per instance), the last 5xx requests for the dashboard (plugin `recent_errors`, `logging` phase). Hooks: logging (global). Services: none.
 */
import { isAbsolute, resolve } from 'node:path';
import { definePlugin } from '../core/plugin.js';
import { createAccessLog } from './access-log.js';
import type { AccessLogConfig } from './schema.js';

export * from './schema.js';
export { createLogger, logFormat, type LoggerOptions } from './logger.js';
export { createFailureLog, type FailureLog, type FailureLogOptions } from './failure-log.js';
export { createRecentErrors, mergeRecentErrors, recentErrorsPlugin, type RecentErrors } from './recent-errors.js';
export { aggregateMetricsJson } from './metrics-json.js';
export { aggregateMetrics, createMetrics, metricsPlugin, type Metrics, type MetricsJson, type MetricsPluginConfig, type MetricsSources, type MetricsText } from './metrics.js';

export const accessLog = definePlugin<AccessLogConfig>({
  name: 'access_log',
  create(cfg, app) {
    if (!cfg.enabled) return {};
    const path = cfg.path === undefined ? undefined : isAbsolute(cfg.path) ? cfg.path : resolve(app.baseDir, cfg.path);
    const log = createAccessLog(path);
    return {
      global: {
        logging: (ctx, err) => log.write(ctx, err),
      },
      close: () => log.close(),
    };
  },
});
