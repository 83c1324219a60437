/**
 * The root config schema, composed from each capability's schema. Written once: it gives the TypeScript
 * types (`GatehouseConfig`), the validation and the JSON Schema (`gatehouse schema`).
 */
import { z } from 'zod';
import { headerName } from './config/units.js';
import { accessLogSchema, logSchema, tracingSchema } from './observe/schema.js';
import {
  headersSchema, matchSchema, pathsSchema, redirectSchema, respondSchema, rewriteSchema,
} from './routing/schema.js';
import { engineOf, engineSchema, errorPagesSchema, listenerSchema as listenerBaseSchema, reloadSchema, shutdownSchema } from './server/schema.js';
import { redirectHttpsSchema, tlsSchema } from './tls/schema.js';
import { streamIssues, streamListenerFields, streamUpstreamFields } from './stream/index.js';

/** A listener: address (server/), TLS (tls/), layer 4 protocol and PROXY protocol (stream/). */
export const listenerSchema = listenerBaseSchema.extend({ tls: tlsSchema.optional(), redirect_https: redirectHttpsSchema, ...streamListenerFields });
import { balanceSchema, hashSchema, mirrorSchema, stickySchema } from './balance/schema.js';
import { healthSchema } from './health/schema.js';
import {
  accessSchema, authSchema, cidr, concurrencySchema, limitsSchema, overloadSchema, rateLimitSchema, requestRulesSchema, routeLimitsSchema,
} from './protect/schema.js';
import { proxySchema, upstreamBaseSchema } from './upstream/schema.js';
import { discoverySchema } from './discovery/schema.js';
import { adminSchema } from './admin/schema.js';
import { cacheStoreSchema, compressSchema, routeCacheSchema } from './cache/schema.js';
import { stateSchema, workersSchema } from './cluster/schema.js';

const NO_SERVERS = Object.freeze([]) as unknown as z.output<typeof upstreamBaseSchema>['servers'];

/** An upstream: servers and forwarding (upstream/), balancing (balance/), health (health/), discovery (discovery/). */
export const upstreamSchema = upstreamBaseSchema.extend({
  // `servers` may be left out when `discovery` finds them; written out, the list still needs one server. Left
  // out, it defaults to NO_SERVERS, by identity, so that crossCheck can tell it from a written `[]` (refused
  // already) and ask for servers or discovery once.
  servers: upstreamBaseSchema.shape.servers.default(() => NO_SERVERS)
    .describe('Servers: a URL string or { url, weight }; may be left out when `discovery` finds them'),
  discovery: discoverySchema.optional(),
  balance: balanceSchema,
  hash: hashSchema.optional(),
  sticky: stickySchema.optional(),
  health: healthSchema.optional(),
  ...streamUpstreamFields,
});

/**
 * User plugins' settings, by plugin name: `plugins.<name>` and `routes[].plugins.<name>`. Open records here,
 * so that the JSON Schema accepts any plugin; a config is validated with `configSchemaWith` (built by
 * plugins.ts from the plugins given), where each name takes its plugin's own schema and others are refused.
 */
const pluginSettings = z.record(z.string(), z.unknown());
const globalPlugins = pluginSettings.default({})
  .describe('Settings of user plugins, by plugin name (`plugins.<name>`), each checked by its plugin; see docs/plugins.md');
const routePlugins = pluginSettings.optional()
  .describe("This route's settings of user plugins, by plugin name (`routes[].plugins.<name>`); see docs/plugins.md");

export const routeSchema = z
  .strictObject({
    name: z.string().optional().describe('Route name for logs and `explain`; defaults to routes[INDEX]'),
    match: matchSchema,
    rewrite: rewriteSchema.optional(),
    headers: headersSchema.optional(),
    respond: respondSchema.optional(),
    redirect: redirectSchema.optional(),
    proxy: proxySchema.optional(),
    mirror: mirrorSchema.optional(),
    access: accessSchema.optional(),
    limits: routeLimitsSchema.optional(),
    auth: authSchema.optional(),
    rate_limit: rateLimitSchema.optional(),
    request_rules: requestRulesSchema.optional(),
    concurrency: concurrencySchema.optional(),
    plugins: routePlugins,
    error_pages: errorPagesSchema.optional(),
    cache: routeCacheSchema.optional(),
    compress: compressSchema.optional(),
  })
  .describe('A route: what it matches, and one action (respond, redirect or proxy)');

function rootSchema<R extends z.ZodType, P extends z.ZodType>(route: R, plugins: P) {
  return z.strictObject({
    $schema: z.string().optional().describe('Path or URL of the JSON Schema, for editors'),
    listeners: z.array(listenerSchema).min(1).describe('Addresses to accept connections on'),
    upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a name made of letters, digits, _ . and -'), upstreamSchema).default({}).describe('Named pools of servers'),
    routes: z.array(route).default([]).describe('Routes; see docs/routing.md for how one is chosen'),
    trusted_proxies: z
      .array(cidr)
      .default([])
      .describe('Peers (IP or CIDR) whose X-Forwarded-For/-Proto/-Host headers are believed; from anyone else they are replaced'),
    limits: limitsSchema,
    access: accessSchema.optional().describe('IP rules for every request (403); routes may add their own'),
    request_rules: requestRulesSchema.prefault({}),
    paths: pathsSchema,
    overload: z.union([overloadSchema, z.literal(false)]).prefault({}).describe('Load shedding (on by default); false turns it off'),
    hide_headers: z
      .array(headerName)
      .default([])
      .describe('Response headers removed before the client sees them, besides Server and X-Powered-By (always removed)'),
    log: logSchema,
    access_log: accessLogSchema,
    tracing: tracingSchema.optional(),
    shutdown: shutdownSchema,
    reload: reloadSchema,
    admin: adminSchema.optional(),
    cache: cacheStoreSchema.optional(),
    workers: workersSchema,
    engine: engineSchema,
    state: stateSchema.optional(),
    plugins,
  })
  // References are checked even when other keys are invalid, so every error is reported at once: the value
  // may then be partly unparsed, hence the defensive reads in crossCheck.
  .superRefine((cfg, ctx) => crossCheck(cfg as unknown, ctx), { when: () => true });
}

export { engineOf };

/** The config schema, with open `plugins` sections: its JSON Schema is `gatehouse schema`. */
export const configSchema = rootSchema(routeSchema, globalPlugins);

/**
 * The config schema with these schemas for `plugins` and `routes[].plugins` (plugins.ts builds them from the
 * plugins given). Its static type is configSchema's: plugin settings are typed by each plugin's own schema.
 */
export function configSchemaWith(sections: { global: z.ZodType; route: z.ZodType }): typeof configSchema {
  return rootSchema(routeSchema.extend({ plugins: sections.route }), sections.global) as unknown as typeof configSchema;
}

type Loose = Record<string, unknown> | undefined;
const obj = (v: unknown): Loose => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

function crossCheck(raw: unknown, ctx: z.RefinementCtx): void {
  const cfg = obj(raw);
  if (!cfg) return;
  const names = new Set<string>();
  list(cfg.listeners).forEach((l, i) => {
    const t = obj(obj(l)?.tls);
    if (t && list(t.certificates).length === 0 && t.acme === undefined) {
      ctx.addIssue({ code: 'custom', path: ['listeners', i, 'tls'], message: 'tls needs certificates or acme' });
    }
    const name = obj(l)?.name;
    if (typeof name !== 'string') return;
    if (names.has(name)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `duplicate listener name "${name}"` });
    names.add(name);
  });
  const upstreams = Object.keys(obj(cfg.upstreams) ?? {});
  for (const [name, u] of Object.entries(obj(cfg.upstreams) ?? {})) {
    const servers = list(obj(u)?.servers);
    const given = obj(u)?.servers;
    if (obj(u) && (given === undefined || given === NO_SERVERS) && obj(u)?.discovery === undefined) {
      ctx.addIssue({ code: 'custom', path: ['upstreams', name], message: 'an upstream needs servers or discovery' });
    }
    if (servers.length && servers.every((srv) => obj(srv)?.backup === true)) {
      ctx.addIssue({ code: 'custom', path: ['upstreams', name, 'servers'], message: 'every server is a backup: at least one must be a primary' });
    }
  }
  list(cfg.routes).forEach((r, i) => {
    const route = obj(r);
    if (route) checkRoute(route, i, upstreams, names, ctx);
  });
  for (const issue of streamIssues(cfg)) ctx.addIssue({ code: 'custom', ...issue });
  // ACME keeps its orders and challenge answers in one process: with several workers the CA's challenge could
  // reach a worker that did not order the certificate.
  const acme = list(cfg.listeners).findIndex((l) => obj(obj(obj(l)?.tls)?.acme) !== undefined);
  if (acme >= 0 && cfg.workers !== undefined && cfg.workers !== 1) {
    ctx.addIssue({ code: 'custom', path: ['workers'], message: `listeners[${acme}] uses tls.acme, which needs workers: 1 for now (one process orders and renews the certificates; docs/operations.md)` });
  }
  if (obj(obj(cfg.cache)?.redis) !== undefined && cfg.state === undefined) {
    ctx.addIssue({ code: 'custom', path: ['cache', 'redis'], message: 'cache.redis needs state.redis, the Redis every instance shares (e.g. state: { redis: redis://127.0.0.1:6379 })' });
  }
}

function checkRegex(source: unknown, path: (string | number)[], ctx: z.RefinementCtx): void {
  if (typeof source !== 'string') return;
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path, message: `invalid regular expression: ${(err as Error).message}` });
  }
}

function checkRoute(r: Record<string, unknown>, i: number, upstreams: string[], listeners: Set<string>, ctx: z.RefinementCtx): void {
  const actions = (['respond', 'redirect', 'proxy'] as const).filter((k) => r[k] !== undefined);
  if (actions.length !== 1) {
    ctx.addIssue({
      code: 'custom', path: ['routes', i],
      message: actions.length ? `a route takes one action, found ${actions.join(' and ')}` : 'a route needs one action: respond, redirect or proxy',
    });
  }
  const upstream = obj(r.proxy)?.upstream;
  if (typeof upstream === 'string' && !upstreams.includes(upstream)) {
    ctx.addIssue({
      code: 'custom', path: ['routes', i, 'proxy', 'upstream'],
      message: `unknown upstream "${upstream}"${upstreams.length ? ` (defined: ${upstreams.join(', ')})` : ' (no upstreams are defined)'}`,
    });
  }
  const mirror = obj(r.mirror)?.upstream;
  if (typeof mirror === 'string' && !upstreams.includes(mirror)) {
    ctx.addIssue({ code: 'custom', path: ['routes', i, 'mirror', 'upstream'], message: `unknown upstream "${mirror}"` });
  }
  if (r.compress !== undefined && r.compress !== false && r.proxy === undefined) {
    ctx.addIssue({ code: 'custom', path: ['routes', i, 'compress'], message: 'compress needs a proxy route' });
  }
  if (r.cache !== undefined && r.proxy === undefined) {
    ctx.addIssue({ code: 'custom', path: ['routes', i, 'cache'], message: 'cache needs a proxy route (it stores what the upstream answers)' });
  }
  for (const a of list(obj(obj(r.cache)?.purge)?.allow)) {
    if (typeof a === 'string' && !cidr.safeParse(a).success) ctx.addIssue({ code: 'custom', path: ['routes', i, 'cache', 'purge', 'allow'], message: `"${a}" is not an IP address or CIDR` });
  }
  if (r.mirror !== undefined && r.proxy === undefined) {
    ctx.addIssue({ code: 'custom', path: ['routes', i, 'mirror'], message: 'mirror needs a proxy route' });
  }
  const match = obj(r.match) ?? {};
  for (const l of list(match.listener)) {
    if (typeof l === 'string' && !listeners.has(l)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'match', 'listener'], message: `unknown listener "${l}"` });
  }
  const paths = [match.path, match.path_exact, match.path_regex].filter((p) => p !== undefined);
  if (paths.length > 1) ctx.addIssue({ code: 'custom', path: ['routes', i, 'match'], message: 'use one of path, path_exact, path_regex' });
  checkRegex(match.path_regex, ['routes', i, 'match', 'path_regex'], ctx);
  checkRegex(obj(obj(r.rewrite)?.regex)?.pattern, ['routes', i, 'rewrite', 'regex', 'pattern'], ctx);
  for (const [name, m] of Object.entries(obj(match.headers) ?? {})) {
    checkRegex(obj(m)?.regex, ['routes', i, 'match', 'headers', name, 'regex'], ctx);
  }
}

/** A validated config with every default filled in: durations in ms, sizes in bytes. */
export type GatehouseConfig = z.output<typeof configSchema>;
/** A config as written (YAML/JSON or a TypeScript object): durations and sizes as strings. */
export type GatehouseConfigInput = z.input<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type UpstreamConfig = z.output<typeof upstreamSchema>;
