/** The access log: one JSON line per request, through pino, written in the `logging` phase. */
import pino, { type Logger } from 'pino';
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';

export interface AccessLog {
  write(ctx: RequestCtx, err: ProxyError | undefined): void;
  flush(): Promise<void>;
}

export function createAccessLog(dest: string | undefined): AccessLog {
  const stream = pino.destination({ dest: dest ?? 1, sync: false, mkdir: dest !== undefined, minLength: 4096 });
  const logger: Logger = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, stream);
  return {
    write(ctx, err) {
      const now = performance.now();
      logger.info({
        reqId: ctx.requestId,
        client: ctx.clientIp,
        method: ctx.req.method,
        host: ctx.host,
        path: ctx.path,
        status: ctx.status || ctx.res.statusCode,
        bytes_in: ctx.bytesIn,
        bytes_out: ctx.bytesOut,
        route: ctx.route?.id,
        upstream: ctx.upstreamName,
        server: ctx.peer?.authority,
        duration_ms: Math.round((now - ctx.start) * 1000) / 1000,
        upstream_ms: ctx.upstreamMs >= 0 ? Math.round(ctx.upstreamMs * 1000) / 1000 : undefined,
        attempts: ctx.attempts,
        error: err?.code,
      });
    },
    flush: () => new Promise<void>((resolve) => {
      stream.flush((e) => { void e; resolve(); });
    }),
  };
}
