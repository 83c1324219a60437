/**
 * Rate limiting per route: GCRA through a RateStore. Refused requests get 429 with Retry-After and the
 * IETF RateLimit-Policy / RateLimit headers (draft-ietf-httpapi-ratelimit-headers); allowed ones carry
 * RateLimit too, so clients can pace themselves.
 */
import type { RequestCtx } from '../core/context.js';
import { errors } from '../core/errors.js';
import type { Awaitable, ResponseHead } from '../core/plugin.js';
import type { RateLimitConfig } from './schema.js';
import { kJwtClaims } from './state.js';
import type { RateDecision, RateStore } from './stores/store.js';

export interface RouteRateLimit {
  requestFilter(ctx: RequestCtx): Awaitable<undefined>;
  responseFilter(ctx: RequestCtx, head: ResponseHead): void;
}

function keyOf(cfg: RateLimitConfig, routeId: string): (ctx: RequestCtx) => string {
  if (cfg.key === 'route') return () => `r:${routeId}`;
  if (cfg.key === 'client_ip') return (ctx) => `r:${routeId}|ip:${ctx.clientIp}`;
  if (cfg.key.startsWith('jwt:')) {
    const claim = cfg.key.slice(4);
    return (ctx) => {
      const v = ctx.get(kJwtClaims)?.[claim];
      return v !== undefined ? `r:${routeId}|jwt:${String(v)}` : `r:${routeId}|ip:${ctx.clientIp}`;
    };
  }
  const name = cfg.key.slice(7).toLowerCase();
  return (ctx) => {
    const value = ctx.req.header(name);
    return value ? `r:${routeId}|h:${value}` : `r:${routeId}|ip:${ctx.clientIp}`;
  };
}

export function rateLimit(cfg: RateLimitConfig, routeId: string, store: RateStore): RouteRateLimit {
  const intervalMs = 1000 / cfg.rate.perSecond;
  const burst = cfg.burst ?? Math.max(1, Math.round(cfg.rate.perSecond));
  const policy = `"default";q=${cfg.rate.count};w=${cfg.rate.windowS}`;
  const key = keyOf(cfg, routeId);
  const decisions = new WeakMap<RequestCtx, RateDecision>();
  const header = (d: RateDecision): string => `"default";r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`;
  const decide = (ctx: RequestCtx, d: RateDecision): undefined => {
    if (!d.allowed) {
      const retryAfterS = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      throw errors.rateLimited(retryAfterS, { 'ratelimit-policy': policy, ratelimit: header(d) });
    }
    decisions.set(ctx, d);
    return undefined;
  };
  return {
    requestFilter(ctx) {
      const d = store.take(key(ctx), intervalMs, burst);
      return d instanceof Promise ? d.then((r) => decide(ctx, r)) : decide(ctx, d);
    },
    responseFilter(ctx, head) {
      const d = decisions.get(ctx);
      if (d) head.headers.push('ratelimit-policy', policy, 'ratelimit', header(d));
    },
  };
}
