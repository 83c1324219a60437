/**
 * Observability: the process logger and the access log (plugin `access_log`, `logging` phase).
 * Hooks: logging (global). Services: none.
 */
import { isAbsolute, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { definePlugin } from '../core/plugin.js';
import { createAccessLog } from './access-log.js';
import type { AccessLogConfig, LogConfig } from './schema.js';

export * from './schema.js';

/** The process log: JSON on stderr. */
export function createLogger(cfg: LogConfig): Logger {
  return pino({ level: cfg.level, base: { name: 'gatehouse' } }, pino.destination({ dest: 2, sync: true }));
}

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
