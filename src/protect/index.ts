/**
 * Protection: limits (414, 431, 413, 408), IP rules (403), basic auth (401), rate limits (429) and
 * connection caps. Hooks: connectionFilter (caps), earlyRequestFilter (global access), requestFilter
 * (route access, rate limit, auth, limits), upstreamRequestFilter (auth headers), responseFilter (RateLimit).
 * Plugin order: access, request_rules, auth, rate_limit, limits — the cheapest refusals first, and rate
 * limits after auth so that they can key on verified JWT claims.
 */
import { errors } from '../core/errors.js';
import { removeHeader, setHeader } from '../core/headers.js';
import { definePlugin, type Hooks } from '../core/plugin.js';
import { kAuthHeaders, kJwtClaims } from './state.js';
import { accessRule } from './access.js';
import { basicAuth } from './basic-auth.js';
import { forwardAuth } from './forward-auth.js';
import { jwtAuth } from './jwt.js';
import { limitBody } from './body-limit.js';
import { connectionCaps } from './connections.js';
import { rateLimit } from './rate-limit.js';
import { concurrencyLimit } from './concurrency.js';
import { overloadMonitor } from './overload.js';
import { requestRules } from './request-rules.js';
import type {
  AccessConfig, AuthConfig, ConcurrencyConfig, LimitsConfig, OverloadConfig, RateLimitConfig, RequestRulesConfig, RouteLimitsConfig,
} from './schema.js';
import { memoryStore } from './stores/memory.js';
import { redisStore } from './stores/redis.js';
import type { Redis } from 'ioredis';
import type { RateStore } from './stores/store.js';

export * from './schema.js';
export { hashPassword, verifyPassword } from './password.js';
export { readPublicKey } from './jwt.js';
export { memoryStore } from './stores/memory.js';
export type { RateStore, RateDecision } from './stores/store.js';

/** The parts of a route this capability reads. */
export interface ProtectRoute {
  name?: string | undefined;
  access?: AccessConfig | undefined;
  limits?: RouteLimitsConfig | undefined;
  auth?: AuthConfig | undefined;
  rate_limit?: RateLimitConfig | undefined;
  request_rules?: RequestRulesConfig | undefined;
  concurrency?: ConcurrencyConfig | undefined;
}

/** Load shedding (global) and per-route concurrency limits. */
export const shedding = definePlugin<OverloadConfig | false, ProtectRoute>({
  name: 'overload',
  create(cfg) {
    const monitor = cfg === false ? undefined : overloadMonitor(cfg);
    return {
      global: monitor ? { earlyRequestFilter: (ctx) => { if (monitor.overloaded) { ctx.res.shouldKeepAlive = false; throw errors.shed(); } return undefined; } } : {},
      forRoute(route) {
        return route.concurrency ? { requestFilter: concurrencyLimit(route.concurrency) } : undefined;
      },
      close: () => monitor?.close(),
    };
  },
});

/** Request rules: the global set on every request, a route's own on top. */
export const rules = definePlugin<RequestRulesConfig, ProtectRoute>({
  name: 'request_rules',
  create(global) {
    return {
      global: { earlyRequestFilter: requestRules(global) },
      forRoute(route) {
        if (!route.request_rules) return undefined;
        return { requestFilter: requestRules({ ...route.request_rules, defaults: false }) };
      },
    };
  },
});



export const access = definePlugin<AccessConfig | undefined, ProtectRoute>({
  name: 'access',
  create(global) {
    const hooks: Hooks = {};
    if (global) {
      const ok = accessRule(global);
      hooks.earlyRequestFilter = (ctx) => { if (!ok(ctx.clientIp)) throw errors.accessDenied(); return undefined; };
    }
    return {
      global: hooks,
      forRoute(route) {
        if (!route.access) return undefined;
        const ok = accessRule(route.access);
        return { requestFilter: (ctx) => { if (!ok(ctx.clientIp)) throw errors.accessDenied(); return undefined; } };
      },
    };
  },
});

/** Where rate limits are counted: this process's memory, or a Redis shared by every instance (`state.redis`). */
export type RateShared =
  | { redis: Redis; prefix: string; timeoutMs: number }
  /** A store made elsewhere: a worker's counts kept in its primary process (cluster/worker.ts). */
  | { store(maxKeys: number): RateStore };

export const rateLimits = definePlugin<RateShared | undefined, ProtectRoute>({
  name: 'rate_limit',
  create(shared, app) {
    const stores: RateStore[] = [];
    return {
      forRoute(route, index) {
        if (!route.rate_limit) return undefined;
        const maxKeys = route.rate_limit.max_keys;
        const store = shared && 'store' in shared ? shared.store(maxKeys) : shared
          ? redisStore({ redis: shared.redis, prefix: shared.prefix, timeoutMs: shared.timeoutMs, maxKeys, log: app.log })
          : memoryStore({ maxKeys });
        stores.push(store);
        const rl = rateLimit(route.rate_limit, route.name ?? `routes[${index}]`, store);
        return { requestFilter: rl.requestFilter, responseFilter: rl.responseFilter };
      },
      close() { for (const s of stores) s.close(); },
    };
  },
});

export const auth = definePlugin<undefined, ProtectRoute>({
  name: 'auth',
  create(_cfg, app) {
    return {
      forRoute(route) {
        const a = route.auth;
        if (!a || (!a.basic && !a.jwt && !a.forward_auth)) return undefined;
        const basic = a.basic && basicAuth(a.basic);
        const jwt = a.jwt && jwtAuth(a.jwt, app.baseDir);
        const fwd = a.forward_auth && forwardAuth(a.forward_auth);
        const dropAuthorization = (a.basic && !a.basic.pass_authorization) ?? false;
        // The headers this route fills from verified credentials: a client's own copies never reach the server,
        // also when a claim or the auth service's answer leaves one out (Traefik's authResponseHeaders do the same).
        const owned = [
          ...(basic ? ['x-forwarded-user'] : []),
          ...Object.values(a.jwt?.forward_claims ?? {}), ...(a.forward_auth?.copy_headers ?? []),
        ].map((h) => h.toLowerCase());
        return {
          async requestFilter(ctx) {
            const extra: [string, string][] = [];
            if (basic) {
              const user = await basic.check(ctx);
              extra.push(['x-forwarded-user', user]);
            }
            if (jwt) {
              const claims = await jwt.verify(ctx);
              ctx.set(kJwtClaims, claims);
              extra.push(...jwt.forwarded(claims));
            }
            if (fwd) {
              const r = await fwd(ctx);
              if (r.reply) return r.reply;
              extra.push(...r.copy);
            }
            ctx.set(kAuthHeaders, extra);
            return undefined;
          },
          upstreamRequestFilter(ctx, req) {
            if (dropAuthorization) removeHeader(req.headers, 'authorization');
            for (const n of owned) removeHeader(req.headers, n);
            for (const [n, v] of ctx.get(kAuthHeaders) ?? []) setHeader(req.headers, n, v);
          },
        };
      },
    };
  },
});

export const limits = definePlugin<LimitsConfig, ProtectRoute>({
  name: 'limits',
  create(global) {
    const caps = connectionCaps(global.connections_per_client, global.connections);
    return {
      global: { connectionFilter: caps },
      forRoute(route) {
        const urlMax = route.limits?.url_size ?? global.url_size;
        const headersMax = route.limits?.header_count ?? global.header_count;
        const bodyMax = route.limits?.body_size ?? global.body_size;
        const idle = global.body_timeout;
        return {
          requestFilter(ctx) {
            if (ctx.req.target.length > urlMax) throw errors.uriTooLong();
            if (ctx.req.rawHeaders.length > headersMax * 2) throw errors.headersTooLarge();
            const head = ctx.head;
            if (head.hasBody) {
              if (head.contentLength > bodyMax) throw errors.bodyTooLarge();
              ctx.body = limitBody(ctx.req.body, bodyMax, idle);
            }
            return undefined;
          },
        };
      },
    };
  },
});
