/**
 * `gatehouse explain`: which route a request matches and why, the rewritten path, the upstream and the
 * headers that would be sent — computed by the same compiled tables and filters the proxy runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import pino from 'pino';
import { RequestCtx } from './core/context.js';
import { permanentRedirect } from './core/headers.js';
import type { AppServices } from './core/plugin.js';
import { checkPlugins, runChecks, type Decision } from './explain-checks.js';
import { closePlugins } from './plugins.js';
import { compileRoute, type NamedInstance } from './core/pipeline.js';
import type { UpstreamRequest } from './core/plugin.js';
import { explainRoute, RouteTable, routing } from './routing/index.js';
import { hostName, readHead, requestIdFor } from './server/request-head.js';
import { normalTarget } from './server/request-target.js';
import type { GatehouseConfig, RouteConfig } from './schema.js';
import { upstreamRequestHeaders } from './upstream/index.js';

export interface ExplainInput {
  method: string;
  url: string;
  headers: [string, string][];
  listener?: string;
  /** The client address that IP rules and rate limits see; 127.0.0.1 by default. */
  clientIp?: string;
  /** The config file's directory (key files of auth.jwt). */
  baseDir?: string;
}

export interface Explanation {
  listener: string;
  host: string;
  path: string;
  /** Before routing: redirect_https, global IP and request rules (those configured, or the one that stops it). */
  before: Decision[];
  routes: { id: string; matches: boolean; reason: string }[];
  chosen: string | undefined;
  /** On the chosen route: IP rules, auth, rate limit, limits. */
  checks: Decision[];
  action: string;
  upstreamPath?: string;
  upstream?: { name: string; balance: string; servers: string[] };
  headers?: [string, string][];
}

export async function explain(config: GatehouseConfig, input: ExplainInput): Promise<Explanation> {
  const url = new URL(input.url, 'http://localhost');
  const listener = input.listener ?? config.listeners[0]!.name;
  const raw: string[] = [];
  const hasHost = input.headers.some(([n]) => n.toLowerCase() === 'host');
  if (!hasHost) raw.push('Host', url.host);
  for (const [n, v] of input.headers) raw.push(n, v);
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
  const clientIp = input.clientIp ?? '127.0.0.1';
  // A readable with no body, so that a body-size limit can wrap it as it wraps a real request.
  const msg = Object.assign(Readable.from([]), {
    method: input.method, url: url.pathname + url.search, rawHeaders: raw, headers, httpVersion: '1.1', httpVersionMajor: 1,
    socket: { remoteAddress: clientIp, bytesRead: 0 },
  }) as unknown as IncomingMessage;
  const ctx = new RequestCtx(msg, {} as ServerResponse, listener, pino({ level: 'silent' }), url.protocol === 'https:');
  ctx.head = readHead(ctx);
  const normal = normalTarget(ctx.path, ctx.query);
  if (normal !== undefined) ctx.setTarget(normal);
  ctx.host = hostName(ctx.head.hostHeader);
  ctx.requestId = requestIdFor(ctx.head);
  ctx.clientIp = clientIp;

  const app: AppServices = { log: pino({ level: 'silent' }), baseDir: input.baseDir ?? '.', address: () => undefined };
  const plugins: NamedInstance<RouteConfig>[] = [{ name: 'routing', instance: await routing.create(undefined, app) }];
  const protect = await checkPlugins(config, app);
  try {
    return await explainWith(config, input, { ctx, msg, listener, plugins, protect });
  } finally {
    await closePlugins(protect, app);
  }
}

interface Prepared {
  ctx: RequestCtx;
  msg: IncomingMessage;
  listener: string;
  plugins: NamedInstance<RouteConfig>[];
  protect: NamedInstance<RouteConfig>[];
}

async function explainWith(config: GatehouseConfig, input: ExplainInput, { ctx, msg, listener, plugins, protect }: Prepared): Promise<Explanation> {
  const before = await runChecks(protect, ctx, { config, listener });
  const inputs = config.routes.map((r, index) => ({ id: r.name ?? `routes[${index}]`, index, match: r.match, config: r }))
    .filter((r) => {
      const only = r.match.listener;
      return only === undefined || (Array.isArray(only) ? only.includes(listener) : only === listener);
    });
  const table = new RouteTable(inputs, { paths: config.paths });
  const routes = table.routes.map((r, i) => ({ id: r.id, ...explainRoute(r, inputs[i]!.match, { host: ctx.host, path: ctx.path, method: input.method, listener, msg }) }));
  const found = table.match(ctx.host, ctx.path, input.method, msg);
  const out: Explanation = { listener, host: ctx.host, path: ctx.path, before, routes, chosen: found?.id, checks: [], action: 'none: 404 GH_ROUTE_NOT_FOUND' };
  const stopped = before.find((d) => d.stops);
  if (input.method === 'CONNECT') out.action = 'refused: 405 GH_METHOD_NOT_ALLOWED (CONNECT: no tunnels), then the connection is closed';
  else if (stopped) out.action = `${stopped.outcome} (${stopped.plugin}, before routing)`;
  if (!found || stopped || input.method === 'CONNECT') return out;
  const route = found.config;
  if (!('pathRegex' in found) && (found.location !== undefined || found.refuse !== undefined)) {
    out.action = found.location !== undefined
      ? `redirect ${permanentRedirect(input.method)} to ${found.location}${ctx.query}`
      : `refuse 400 GH_REQUEST_BLOCKED: ${found.refuse}`;
    return out;
  }
  if (!('pathRegex' in found) && found.path !== undefined) ctx.setTarget(found.path + ctx.query);
  if (route === undefined) return out;
  ctx.route = { id: found.id!, index: found.index! };
  out.checks = await runChecks(protect, ctx, { config, listener, route: { config: route, index: found.index! } });
  const refused = out.checks.find((d) => d.stops);
  if (refused) {
    out.action = `${refused.outcome} (${refused.plugin})`;
    return out;
  }
  if (route.respond) out.action = `respond ${route.respond.status}`;
  else if (route.redirect) out.action = `redirect ${route.redirect.status} to ${route.redirect.to}`;
  else if (route.proxy) {
    const up = config.upstreams[route.proxy.upstream]!;
    out.action = `proxy to upstream ${route.proxy.upstream}`;
    out.upstream = { name: route.proxy.upstream, balance: up.balance, servers: up.servers.map((s) => (typeof s === 'string' ? s : `${s.url} (weight ${s.weight})`)) };
    const phases = compileRoute([...protect, ...plugins], route, found.index!);
    const ureq: UpstreamRequest = { method: input.method, path: ctx.upstreamPath, headers: upstreamRequestHeaders(ctx, ctx.head, { host: up.host }) };
    for (const f of phases.upstreamRequestFilter) f(ctx, ureq);
    out.upstreamPath = ureq.path;
    out.headers = [];
    for (let i = 0; i < ureq.headers.length; i += 2) out.headers.push([ureq.headers[i]!, ureq.headers[i + 1]!]);
  }
  return out;
}

export function formatExplanation(e: Explanation): string {
  const lines = [`listener ${e.listener}, host ${e.host || '(none)'}, path ${e.path}`, ''];
  if (e.before.length) lines.push('before routing:', ...e.before.map(decisionLine), '');
  lines.push('routes (most specific host first, then exact path, regex, longest prefix; ties by order):');
  for (const r of e.routes) lines.push(`  ${r.id === e.chosen ? '→' : r.matches ? '~' : '✗'} ${r.id}: ${r.reason}${r.matches && r.id !== e.chosen ? ' (matches, but a more specific route wins)' : ''}`);
  const early = e.before.some((d) => d.stops);
  lines.push('', `matched: ${e.chosen ?? 'no route'}${early && e.chosen ? ' (not reached: answered before routing)' : ''}`);
  if (e.checks.length) lines.push('on the route:', ...e.checks.map(decisionLine));
  lines.push(`action: ${e.action}`);
  if (e.upstreamPath !== undefined) lines.push(`upstream path: ${e.upstreamPath}`);
  if (e.upstream) lines.push(`upstream ${e.upstream.name}: ${e.upstream.servers.join(', ')} (${e.upstream.balance.replace('_', ' ')})`);
  if (e.headers) {
    lines.push('headers sent upstream:');
    for (const [n, v] of e.headers) lines.push(`  ${n}: ${n === 'x-request-id' ? '(generated per request)' : v}`);
  }
  return lines.join('\n');
}

function decisionLine(d: Decision): string {
  return `  ${d.stops ? '✗' : '✓'} ${d.plugin}: ${d.setting === d.plugin ? '' : `${d.setting}: `}${d.outcome}`;
}
