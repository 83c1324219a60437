/**
 * The decisions `gatehouse explain` shows besides routing: redirect_https, IP rules, request rules, auth,
 * rate limits and size limits, each by running the plugin's own hooks on the explained request (so the
 * answer is the proxy's, not a second implementation). Hooks that would call another service (forward
 * auth, a JWKS URL) are described instead of run.
 */
import type { RequestCtx } from './core/context.js';
import { ProxyError } from './core/errors.js';
import type { NamedInstance } from './core/pipeline.js';
import type { AppServices, Hooks, Reply } from './core/plugin.js';
import { createPlugins, pluginSteps } from './plugins.js';
import type { RateShared } from './protect/index.js';
import type { GatehouseConfig, RouteConfig } from './schema.js';

export interface Decision {
  /** The plugin (= config key): tls (redirect_https), access, request_rules, auth, rate_limit, limits. */
  plugin: string;
  /** What is configured, in words. */
  setting: string;
  /** What it does with this request: `passes`, `refused: 403 GH_ACCESS_DENIED`, `answers 301 → …`, `not checked: …`. */
  outcome: string;
  /** The request ends here (an answer or a refusal). */
  stops: boolean;
  /** When it stops: the status, and the error code of a refusal. */
  status?: number;
  code?: string;
}

/** The plugins whose decisions are shown, created from the registry (so in the proxy's order). */
const CHECKED = new Set(['tls', 'access', 'request_rules', 'auth', 'rate_limit', 'limits']);

/**
 * The protection plugins for `config`, in the proxy's order (closed with closePlugins). `shared`: where rate
 * limits count (this process's memory by default; `gatehouse test` gives a store on its own clock).
 */
export function checkPlugins(config: GatehouseConfig, app: AppServices, shared?: RateShared): Promise<NamedInstance<RouteConfig>[]> {
  return createPlugins(pluginSteps(config, { challenges: new Map(), userPlugins: [], shared }).filter((s) => CHECKED.has(s.name)), app);
}

const cidrs = (a: { allow?: string[] | undefined; deny?: string[] | undefined }): string =>
  [a.allow?.length ? `allow ${a.allow.join(', ')}` : '', a.deny?.length ? `deny ${a.deny.join(', ')}` : ''].filter(Boolean).join('; ');

function authSetting(a: NonNullable<RouteConfig['auth']>): string {
  const parts: string[] = [];
  if (a.basic) parts.push(`basic, realm "${a.basic.realm}", users ${Object.keys(a.basic.users).join(', ')}`);
  if (a.jwt) parts.push(`jwt${a.jwt.issuer ? `, issuer ${String(a.jwt.issuer)}` : ''}${a.jwt.audience ? `, audience ${String(a.jwt.audience)}` : ''}`);
  if (a.forward_auth) parts.push(`forward_auth to ${a.forward_auth.url}`);
  return parts.join(' + ');
}

/** What a plugin has configured for this request, or undefined when nothing (its line is then left out if it passes). */
function setting(plugin: string, config: GatehouseConfig, listener: string, route: RouteConfig | undefined): string | undefined {
  switch (plugin) {
    case 'tls': return config.listeners.find((l) => l.name === listener)?.redirect_https ? `redirect_https on listener ${listener}` : undefined;
    case 'access': return route ? route.access && `route: ${cidrs(route.access)}` : config.access && `global: ${cidrs(config.access)}`;
    case 'request_rules': {
      const r = route ? route.request_rules : config.request_rules;
      return r && (r.deny.length || r.allow) ? `${route ? 'route' : 'global'}: ${r.deny.length} deny rule(s)${r.allow ? `, ${r.allow.length} allow rule(s)` : ''}` : undefined;
    }
    case 'auth': return route?.auth && authSetting(route.auth);
    case 'rate_limit': {
      const r = route?.rate_limit;
      return r && `${r.rate.text}, burst ${r.burst ?? Math.max(1, Math.round(r.rate.perSecond))}, per ${r.key}`;
    }
    default: return undefined;
  }
}

/** Why explain does not run a hook: it would call another service. */
function notRun(plugin: string, route: RouteConfig | undefined): string | undefined {
  if (plugin !== 'auth' || !route?.auth) return undefined;
  if (route.auth.forward_auth) return `not checked: explain does not call ${route.auth.forward_auth.url}`;
  if (route.auth.jwt?.jwks_url) return `not checked: explain does not fetch ${route.auth.jwt.jwks_url}`;
  return undefined;
}

function replyText(r: Reply): string {
  const location = r.headers?.location;
  return `answers ${r.status}${location ? ` → ${String(location)}` : ''}`;
}

interface Outcome { outcome: string; stops: boolean; answer?: Reply | ProxyError }

async function outcomeOf(hook: (ctx: RequestCtx) => unknown, ctx: RequestCtx): Promise<Outcome> {
  try {
    const v = (await hook(ctx)) as Reply | undefined;
    return v === undefined ? { outcome: 'passes', stops: false } : { outcome: replyText(v), stops: true, answer: v };
  } catch (err) {
    if (err instanceof ProxyError) return { outcome: `refused: ${err.status} ${err.code}`, stops: true, answer: err };
    return { outcome: `not checked: ${(err as Error).message}`, stops: false };
  }
}

export interface CheckInput {
  config: GatehouseConfig;
  listener: string;
  /** undefined: the checks before routing (earlyRequestFilter); else the matched route's (requestFilter). */
  route?: { config: RouteConfig; index: number } | undefined;
  /** Given the reply or the refusal of the hook that stops the request. */
  answered?: (answer: Reply | ProxyError) => void;
}

/** Runs one phase's hooks of every plugin, in order, until one answers or refuses. */
export async function runChecks(plugins: readonly NamedInstance<RouteConfig>[], ctx: RequestCtx, input: CheckInput): Promise<Decision[]> {
  const phase = input.route ? 'requestFilter' : 'earlyRequestFilter';
  const route = input.route?.config;
  const out: Decision[] = [];
  for (const p of plugins) {
    const hooks: (Hooks | undefined)[] = [p.instance.global, input.route ? p.instance.forRoute?.(input.route.config, input.route.index) : undefined];
    const what = setting(p.name, input.config, input.listener, route) ?? p.name;
    for (const hook of hooks.map((h) => h?.[phase]).filter((h) => h !== undefined)) {
      const skipped = notRun(p.name, route);
      const { answer, ...d }: Outcome = skipped ? { outcome: skipped, stops: false } : await outcomeOf(hook as (ctx: RequestCtx) => unknown, ctx);
      // A rate limit passes a single request; say what happens past it.
      if (p.name === 'rate_limit' && !d.stops) d.outcome = 'passes (past the rate and burst: 429 GH_RATE_LIMITED)';
      const stop = answer && { status: answer.status, ...(answer instanceof ProxyError ? { code: answer.code } : {}) };
      if (d.stops || what !== p.name || skipped) out.push({ plugin: p.name, setting: what, ...d, ...stop });
      if (answer) input.answered?.(answer);
      if (d.stops) return out;
    }
  }
  return out;
}
