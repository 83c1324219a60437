/**
 * `gatehouse explain`: which route a request matches and why, the rewritten path, the upstream and the
 * headers that would be sent — computed by the same compiled tables and filters the proxy runs.
 */
import type { DownstreamRequest, DownstreamResponse } from './core/downstream.js';
import { Readable } from 'node:stream';
import pino from 'pino';
import { RequestCtx } from './core/context.js';
import { errors, ProxyError } from './core/errors.js';
import { permanentRedirect } from './core/headers.js';
import type { AppServices, Hooks, Phases, Reply, ResponseHead, UpstreamRequest } from './core/plugin.js';
import { checkPlugins, runChecks, type Decision } from './explain-checks.js';
import { closePlugins } from './plugins.js';
import { compileGlobal, compileRoute, runVerdicts, type NamedInstance } from './core/pipeline.js';
import { memoryStore } from './protect/index.js';
import { explainRoute, RouteTable, routing } from './routing/index.js';
import { hostName, readHead, requestIdFor } from './server/request-head.js';
import { requestIds } from './server/request-id.js';
import { errorReply } from './server/reply.js';
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
  /** What the proxy answers itself, in fields (`gatehouse test` compares them). */
  answer: Answer;
}

export interface Answer {
  /** The status the proxy answers with; undefined when the request goes upstream (whose status it is). */
  status?: number;
  /** The error code of a refusal. */
  code?: string;
  /**
   * Response headers the proxy sets: those of its reply (Location, Retry-After, WWW-Authenticate…), then the
   * route's headers.response, RateLimit, HSTS; on a proxied request, those it adds to the upstream's response.
   */
  headers: [string, string][];
}

export interface ExplainerOptions {
  /** The config file's directory (key files of auth.jwt). */
  baseDir?: string;
  /**
   * The rate limits' clock in ms (performance.now() by default). With a clock, rate limits count in a store of
   * their own, kept across the requests explained: `gatehouse test` sends a fixture's repeats on its clock.
   */
  clock?: () => number;
}

/** Explains requests one after another against one set of plugins (so rate limits count across them). */
export interface Explainer {
  explain(input: ExplainInput): Promise<Explanation>;
  close(): Promise<void>;
}

/** A plugin whose hooks for a route are made once: a rate limit keeps its count from one request to the next. */
function oncePerRoute<R>(p: NamedInstance<R>): NamedInstance<R> {
  const made = new Map<number, Hooks | undefined>();
  const { instance } = p;
  const forRoute = instance.forRoute && ((route: R, index: number): Hooks | undefined => {
    if (!made.has(index)) made.set(index, instance.forRoute!(route, index));
    return made.get(index);
  });
  return { name: p.name, instance: { ...instance, ...(forRoute ? { forRoute } : {}), close: () => instance.close?.() } };
}

export async function createExplainer(config: GatehouseConfig, opts: ExplainerOptions = {}): Promise<Explainer> {
  const app: AppServices = { log: pino({ level: 'silent' }), baseDir: opts.baseDir ?? '.', address: () => undefined };
  const plugins: NamedInstance<RouteConfig>[] = [oncePerRoute({ name: 'routing', instance: await routing.create(undefined, app) })];
  const clock = opts.clock;
  const shared = clock && { store: (maxKeys: number) => memoryStore({ maxKeys, now: clock }) };
  const protect = (await checkPlugins(config, app, shared)).map(oncePerRoute);
  return {
    explain: (input) => explainWith(config, input, { ...prepare(config, input), plugins, protect }),
    close: () => closePlugins(protect, app),
  };
}

export async function explain(config: GatehouseConfig, input: ExplainInput): Promise<Explanation> {
  const e = await createExplainer(config, input.baseDir !== undefined ? { baseDir: input.baseDir } : {});
  try {
    return await e.explain(input);
  } finally {
    await e.close();
  }
}

/** The request as the server would have read it: a context with its head, target, host and client address. */
function prepare(config: GatehouseConfig, input: ExplainInput): { ctx: RequestCtx; msg: DownstreamRequest; listener: string } {
  const url = new URL(input.url, 'http://localhost');
  const listener = input.listener ?? config.listeners[0]!.name;
  const raw: string[] = [];
  const hasHost = input.headers.some(([n]) => n.toLowerCase() === 'host');
  if (!hasHost) raw.push('Host', url.host);
  for (const [n, v] of input.headers) raw.push(n, v);
  const headers = new Map<string, string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? raw[i + 1]! : `${prev}${name === 'cookie' ? '; ' : ', '}${raw[i + 1]!}`);
  }
  const clientIp = input.clientIp ?? '127.0.0.1';
  const msg: DownstreamRequest = {
    method: input.method, target: url.pathname + url.search, rawHeaders: raw, fieldsChecked: false, httpVersion: '1.1',
    header: (name) => headers.get(name), remoteAddress: clientIp, localPort: undefined,
    // A readable with no body, so that a body-size limit can wrap it as it wraps a real request.
    body: Readable.from([]), complete: true, bodyBytes: 0, peerCertificate: () => undefined,
  };
  // Nothing is sent: the explanation is built from what the phases decide.
  const ctx = new RequestCtx(msg, {} as DownstreamResponse, listener, pino({ level: 'silent' }), url.protocol === 'https:');
  ctx.head = readHead(ctx);
  const normal = normalTarget(ctx.path, ctx.query);
  if (normal !== undefined) ctx.setTarget(normal);
  ctx.host = hostName(ctx.head.hostHeader);
  ctx.requestId = requestIdFor(ctx.head, requestIds());
  ctx.clientIp = clientIp;
  return { ctx, msg, listener };
}

interface Prepared {
  ctx: RequestCtx;
  msg: DownstreamRequest;
  listener: string;
  /** routing, whose respond and redirect replies are the route's answer. */
  plugins: NamedInstance<RouteConfig>[];
  protect: NamedInstance<RouteConfig>[];
}

/** A flat [name, value, …] header list as pairs. */
function pairs(list: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

/**
 * What the proxy itself answers, as server/reply.ts sends it: the reply (or the error page of a refusal)
 * through the response filters. Without one (`undefined`: the request goes upstream), the headers the filters
 * add to the upstream's response.
 */
function answerOf(ctx: RequestCtx, answer: Reply | ProxyError | undefined, filters: readonly Phases['responseFilter'][]): Answer {
  const reply = answer instanceof ProxyError ? errorReply(ctx, answer) : answer;
  const head: ResponseHead = { status: reply?.status ?? 200, headers: [] };
  for (const [k, v] of Object.entries(reply?.headers ?? {})) {
    for (const item of typeof v === 'string' ? [v] : v) head.headers.push(k, item);
  }
  for (const f of filters) f(ctx, head);
  return {
    ...(reply ? { status: head.status } : {}), ...(answer instanceof ProxyError ? { code: answer.code } : {}), headers: pairs(head.headers),
  };
}

async function explainWith(config: GatehouseConfig, input: ExplainInput, prepared: Prepared): Promise<Explanation> {
  const { ctx, msg, listener, protect } = prepared;
  let stop: Reply | ProxyError | undefined;
  const before = await runChecks(protect, ctx, { config, listener, answered: (a) => { stop = a; } });
  const inputs = config.routes.map((r, index) => ({ id: r.name ?? `routes[${index}]`, index, match: r.match, config: r }))
    .filter((r) => {
      const only = r.match.listener;
      return only === undefined || (Array.isArray(only) ? only.includes(listener) : only === listener);
    });
  const table = new RouteTable(inputs, { paths: config.paths });
  const routes = table.routes.map((r, i) => ({ id: r.id, ...explainRoute(r, inputs[i]!.match, { host: ctx.host, path: ctx.path, method: input.method, listener, msg }) }));
  const found = table.match(ctx.host, ctx.path, input.method, msg);
  const out: Explanation = {
    listener, host: ctx.host, path: ctx.path, before, routes, chosen: found?.id, checks: [], action: 'none: 404 GH_ROUTE_NOT_FOUND', answer: { headers: [] },
  };
  const stopped = before.find((d) => d.stops);
  const global = compileGlobal(protect).responseFilter;
  if (input.method === 'CONNECT') {
    out.action = 'refused: 405 GH_METHOD_NOT_ALLOWED (CONNECT: no tunnels), then the connection is closed';
    out.answer = answerOf(ctx, errors.methodNotAllowed(), []);
  } else if (stopped) {
    out.action = `${stopped.outcome} (${stopped.plugin}, before routing)`;
    out.answer = answerOf(ctx, stop, global);
  } else if (!found) {
    out.answer = answerOf(ctx, errors.notFound(), global);
  }
  if (!found || stopped || input.method === 'CONNECT') return out;
  if (!('pathRegex' in found) && (found.location !== undefined || found.refuse !== undefined)) {
    const status = permanentRedirect(input.method);
    out.action = found.location !== undefined ? `redirect ${status} to ${found.location}${ctx.query}` : `refuse 400 GH_REQUEST_BLOCKED: ${found.refuse}`;
    out.answer = answerOf(ctx, found.location !== undefined ? { status, headers: { location: found.location + ctx.query } } : errors.requestBlocked(), global);
    return out;
  }
  if (!('pathRegex' in found) && found.path !== undefined) ctx.setTarget(found.path + ctx.query);
  if (found.config === undefined) return out;
  return explainRouted(config, input, prepared, { route: found.config, id: found.id!, index: found.index!, out });
}

/** The chosen route's checks, then its action: the answer it makes, or what goes upstream. */
async function explainRouted(
  config: GatehouseConfig, input: ExplainInput, { ctx, listener, plugins, protect }: Prepared,
  { route, id, index, out }: { route: RouteConfig; id: string; index: number; out: Explanation },
): Promise<Explanation> {
  ctx.route = { id, index };
  let stop: Reply | ProxyError | undefined;
  out.checks = await runChecks(protect, ctx, { config, listener, route: { config: route, index }, answered: (a) => { stop = a; } });
  const phases = compileRoute([...protect, ...plugins], route, index);
  const refused = out.checks.find((d) => d.stops);
  if (refused) {
    out.action = `${refused.outcome} (${refused.plugin})`;
    out.answer = answerOf(ctx, stop, phases.responseFilter);
    return out;
  }
  if (route.respond) out.action = `respond ${route.respond.status}`;
  else if (route.redirect) out.action = `redirect ${route.redirect.status} to ${route.redirect.to}`;
  // respond and redirect: the routing plugin's own reply.
  const reply = await runVerdicts(compileRoute(plugins, route, index).requestFilter, ctx);
  out.answer = answerOf(ctx, reply, phases.responseFilter);
  if (route.proxy && !reply) {
    const up = config.upstreams[route.proxy.upstream]!;
    out.action = `proxy to upstream ${route.proxy.upstream}`;
    out.upstream = { name: route.proxy.upstream, balance: up.balance, servers: up.servers.map((s) => (typeof s === 'string' ? s : `${s.url} (weight ${s.weight})`)) };
    const ureq: UpstreamRequest = { method: input.method, path: ctx.upstreamPath, headers: upstreamRequestHeaders(ctx, ctx.head, { host: up.host }) };
    for (const f of phases.upstreamRequestFilter) f(ctx, ureq);
    out.upstreamPath = ureq.path;
    out.headers = pairs(ureq.headers);
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
  if (e.answer.headers.length) {
    lines.push(e.answer.status === undefined ? 'headers added to the response:' : 'response headers:');
    for (const [n, v] of e.answer.headers) lines.push(`  ${n}: ${v}`);
  }
  return lines.join('\n');
}

function decisionLine(d: Decision): string {
  return `  ${d.stops ? '✗' : '✓'} ${d.plugin}: ${d.setting === d.plugin ? '' : `${d.setting}: `}${d.outcome}`;
}
