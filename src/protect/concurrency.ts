/** A per-route concurrency limit with a short bounded queue: past it, 503 with Retry-After (load shedding). */
import type { RequestCtx } from '../core/context.js';
import { errors } from '../core/errors.js';
import type { ConcurrencyConfig } from './schema.js';

export function concurrencyLimit(cfg: ConcurrencyConfig): (ctx: RequestCtx) => undefined | Promise<undefined> {
  let inflight = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else inflight--;
  };
  const admit = (ctx: RequestCtx): undefined => {
    ctx.res.on('close', release);
    return undefined;
  };
  return (ctx) => {
    if (inflight < cfg.max) {
      inflight++;
      return admit(ctx);
    }
    if (waiting.length >= cfg.queue) throw errors.shed();
    return new Promise<undefined>((resolve, reject) => {
      const go = (): void => {
        clearTimeout(timer);
        if (ctx.clientGone) return release(); // gave up while queued (any protocol): pass the slot on
        resolve(admit(ctx));
      };
      const timer = setTimeout(() => {
        const i = waiting.indexOf(go);
        if (i !== -1) waiting.splice(i, 1);
        reject(errors.shed());
      }, cfg.queue_timeout);
      waiting.push(go);
    });
  };
}
