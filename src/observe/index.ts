/**
 * Observability: the process logger (one format on stderr), the log of failed requests (repeats summarised),
 * the access log (plugin `access_log`, `logging` phase), and Prometheus metrics (plugin `metrics`, `logging` phase;
 * a registry per instance). Hooks: logging (global). Services: none.
 */
import { isAbsolute, resolve } from 'node:path';
import { definePlugin } from '../core/plugin.js';
import { createAccessLog } from './access-log.js';
import type { AccessLogConfig } from './schema.js';

export * from './schema.js';
export { createLogger, logFormat, type LoggerOptions } from './logger.js';
export { createFailureLog, type FailureLog, type FailureLogOptions } from './failure-log.js';
export {
  aggregateMetrics, createMetrics, metricsPlugin, primaryMetrics, type Metrics, type MetricsJson, type MetricsPluginConfig, type MetricsSources, type MetricsText,
  type ReloadLog,
} from './metrics.js';

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
