/** RFC 9110 7.6.2: an OPTIONS or TRACE whose Max-Forwards is 0 is answered by the proxy, as its final recipient. */
import type { RequestCtx } from '../core/context.js';
import { errors, type ProxyError } from '../core/errors.js';
import type { Reply } from '../core/plugin.js';

function maxForwards(ctx: RequestCtx): number | undefined {
  const v = ctx.req.header('max-forwards');
  return v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined;
}

/** True when the request was answered here (TRACE: 405, OPTIONS: 200 with Allow) instead of being forwarded. */
export function answeredHere(ctx: RequestCtx, route: { fail(ctx: RequestCtx, err: ProxyError): void; reply(ctx: RequestCtx, reply: Reply): void }): boolean {
  const m = ctx.req.method;
  if ((m !== 'OPTIONS' && m !== 'TRACE') || maxForwards(ctx) !== 0) return false;
  const notAllowed = errors.methodNotAllowed();
  if (m === 'TRACE') route.fail(ctx, notAllowed);
  else route.reply(ctx, { status: 200, headers: { allow: notAllowed.opts.headers!.allow! } });
  return true;
}
