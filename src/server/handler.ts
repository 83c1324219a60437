/**
 * The kernel's request handler: reads the head once, runs the early filters, routes, runs the route's
 * filters, then its action (a reply, or forwarding). Logging runs exactly once, when the response closes.
 * Engines hand it their own request and response (core/downstream.ts): node:http's (node-http.ts), node:http2's
 * streams (h2-stream.ts).
 */
import type { BlockList } from 'node:net';
import type { Logger } from 'pino';
import { RequestCtx, type RouteRef } from '../core/context.js';
import { now } from '../core/clock.js';
import type { DownstreamRequest, DownstreamResponse, Upgrade } from '../core/downstream.js';
import { errors, toProxyError, type ProxyError } from '../core/errors.js';
import { grpcStatusFields, isGrpc } from '../core/grpc.js';
import { permanentRedirect } from '../core/headers.js';
import { runVerdicts, type CompiledPhases } from '../core/pipeline.js';
import type { Verdict } from '../core/plugin.js';
import type { ProxyMeter } from '../core/services.js';
import { errorReply, sendReply } from './reply.js';
import { clientAddress, hostName, readHead, requestIdFor } from './request-head.js';
import { normalTarget, originForm } from './request-target.js';
import { charCodeAt } from '../core/strings.js';

/** A route, compiled: its phases and its terminal action (forwarding), if not a reply. */
export interface RoutePipeline {
  readonly ref: RouteRef;
  readonly phases: CompiledPhases;
  readonly action: ((ctx: RequestCtx) => void) | undefined;
  /** Opens a WebSocket for a request that asks for one (ctx.upgrade); undefined: the route refuses upgrades. */
  readonly upgrade?: ((ctx: RequestCtx) => void) | undefined;
}

/** What a route table must offer the kernel (routing/ provides it). */
export interface RouteLookup {
  /**
   * The route, or: a redirect (`location`, a path), a refusal (`refuse`: 400), or the route for a path with a
   * class of spelling decoded (`path`); undefined: no route (404).
   */
  match(host: string, path: string, method: string, req: DownstreamRequest): RouteFound | undefined;
}
export interface RouteFound {
  readonly config: RoutePipeline | undefined;
  readonly path?: string | undefined;
  readonly location?: string | undefined;
  readonly refuse?: string | undefined;
}

/** One config generation: swapped as a whole on reload. */
export interface Runtime {
  readonly tables: ReadonlyMap<string, RouteLookup>;
  readonly global: CompiledPhases;
  readonly trusted: BlockList | undefined;
  readonly log: Logger;
  /** Logs a request the proxy failed (a 5xx of its own); repeats are summarised (observe/failure-log.ts). */
  readonly logFailure: (ctx: RequestCtx, err: ProxyError) => void;
  draining: boolean;
  inflight: number;
  /** Resolvers waiting for inflight to reach 0. */
  idleWaiters: (() => void)[];
  /** Requests of this generation that asked for a WebSocket and are not closed (drained with a Close 1001). */
  upgrades?: Set<RequestCtx>;
  /** Where the listeners report connections, handshakes and refusals (metrics). */
  readonly meter?: ProxyMeter | undefined;
}

/**
 * Asks this generation's open WebSockets to close: each gets a Close 1001 (Going Away) after `graceMs`
 * (RFC 6455 7.4.1), sent between frames to both sides, instead of a cut connection.
 */
export function goAwayUpgrades(rt: Runtime, graceMs: number): void {
  for (const ctx of rt.upgrades ?? []) {
    const u = ctx.upgrade!;
    if (u.goingAway !== undefined) continue;
    u.goingAway = graceMs;
    u.onGoAway?.(graceMs);
  }
}

export interface ListenerState {
  readonly name: string;
  readonly secure: boolean;
  /** Ids for requests that bring none (request-id.ts). */
  readonly requestId: () => string;
  runtime: Runtime;
  /** The last Host field and its host name: a connection's requests mostly repeat it (made on first use). */
  lastHost?: { field: string | undefined; name: string };
}

const kCtx = Symbol('gatehouse.ctx');
const kRt = Symbol('gatehouse.runtime');
const kPipe = Symbol('gatehouse.pipe');

/**
 * A request as the kernel serves it: the context plugins see, with the generation it runs in and, once routed,
 * its route's pipeline, under symbols (one object per request, no separate record; nothing new for plugins).
 */
class ServedCtx extends RequestCtx {
  readonly [kRt]: Runtime;
  [kPipe]: RoutePipeline | undefined = undefined;
  constructor(req: DownstreamRequest, res: DownstreamResponse, state: ListenerState, rt: Runtime) {
    super(req, res, state.name, rt.log, state.secure);
    this[kRt] = rt;
  }
}

/** The response of a request being served carries its context until it closes. */
interface Tagged { [kCtx]?: ServedCtx | undefined }

function phasesOf(tag: ServedCtx): CompiledPhases {
  const pipe = tag[kPipe];
  return pipe ? pipe.phases : tag[kRt].global;
}

function onClose(this: DownstreamResponse & Tagged): void {
  const ctx = this[kCtx];
  if (!ctx) return;
  this[kCtx] = undefined;
  const rt = ctx[kRt];
  if (!this.writableFinished || ctx.clientGone) {
    ctx.abortUpstream?.abort();
    ctx.error ??= errors.clientAborted();
    // As nginx: 499 when the client left before a response head went out; else the status it was sent.
    if (!this.headersSent) ctx.status = 499;
  }
  const head = ctx.head;
  if (head?.hasBody) {
    // A counted body (limits) says exactly; else one of undeclared length is what the request received.
    const seen = (ctx.body as { bytesSeen?: number } | undefined)?.bytesSeen;
    ctx.bytesIn = seen ?? (head.chunked ? ctx.req.bodyBytes : head.contentLength);
  }
  ctx.end = now();
  const logging = phasesOf(ctx).logging;
  for (let i = 0; i < logging.length; i++) {
    try {
      logging[i]!(ctx, ctx.error);
    } catch (err) {
      rt.log.error({ err }, 'logging hook failed');
    }
  }
  if (ctx.upgrade) rt.upgrades?.delete(ctx);
  if (--rt.inflight === 0 && rt.idleWaiters.length) for (const w of rt.idleWaiters.splice(0)) w();
}

/** The error path: errorFilter hooks, else the default page; then the response filters. */
export function fail(ctx: RequestCtx, err: ProxyError): void {
  const tag = (ctx.res as DownstreamResponse & Tagged)[kCtx];
  ctx.error = err;
  if (err.status >= 500 && err.code !== 'GH_CLIENT_ABORTED') {
    if (tag) tag[kRt].logFailure(ctx, err);
    else ctx.log.warn({ code: err.code, server: ctx.peer?.authority }, 'request failed');
  }
  if (ctx.res.headersSent) {
    // A gRPC response under way ends with the error's status in its trailers; anything else is cut.
    if (isGrpc(ctx.req.header('content-type')) && !ctx.res.writableEnded && !ctx.clientGone) {
      ctx.res.addTrailers(Object.entries(grpcStatusFields(err.status, err.code, ctx.requestId)).flat());
      ctx.res.end();
    } else {
      // The head is out: the only honest signal left is a cut connection (HTTP/1.1) or a reset stream (HTTP/2).
      ctx.res.destroy();
    }
    return;
  }
  const phases = tag ? phasesOf(tag) : undefined;
  let reply;
  for (const f of phases?.errorFilter ?? []) {
    reply = f(ctx, err);
    if (reply) break;
  }
  // A request the proxy could not make sense of leaves the connection in an unknown state: close it.
  // So is one whose body was refused part way (413, 408): what is left of it cannot be skipped safely.
  const close = (tag?.[kRt].draining ?? false) || err.status === 400 || (ctx.head?.hasBody === true && !ctx.req.complete);
  sendReply(ctx, reply ?? errorReply(ctx, err), phases?.responseFilter ?? [], close);
}

/** A reply the proxy makes itself from inside an action (forwarding), through the route's response filters. */
export function reply(ctx: RequestCtx, verdict: NonNullable<Verdict>): void {
  const tag = (ctx.res as DownstreamResponse & Tagged)[kCtx];
  sendReply(ctx, verdict, tag ? phasesOf(tag).responseFilter : [], tag?.[kRt].draining ?? false);
}

function respond(ctx: ServedCtx, verdict: NonNullable<Verdict>): void {
  sendReply(ctx, verdict, phasesOf(ctx).responseFilter, ctx[kRt].draining);
}

/**
 * A WebSocket handshake past the request filters: a reply of the proxy's own that is not a success (an auth
 * challenge, a redirect) goes out as is; a success would silently downgrade the handshake, so it is refused.
 */
function afterUpgradeFilters(ctx: ServedCtx, v: Verdict): void {
  if (v) return v.status >= 300 ? respond(ctx, v) : fail(ctx, errors.websocketNotAllowed());
  const open = ctx[kPipe]!.upgrade;
  if (open) open(ctx);
  else fail(ctx, errors.websocketNotAllowed());
}

function afterRequestFilters(ctx: ServedCtx, v: Verdict): void {
  if (ctx.upgrade) return afterUpgradeFilters(ctx, v);
  if (v) return respond(ctx, v);
  const action = ctx[kPipe]!.action;
  if (action) action(ctx);
  else fail(ctx, errors.notFound());
}

/** A path spelt so that it must not be routed as it is: redirected to its plain spelling, or refused. */
function detour(ctx: ServedCtx, found: RouteFound): void {
  if (found.location === undefined) return fail(ctx, errors.requestBlocked(new Error(found.refuse)));
  respond(ctx, { status: permanentRedirect(ctx.req.method), headers: { location: found.location + ctx.query } });
}

function afterEarly(ctx: ServedCtx, early: Verdict): void {
  if (early) return respond(ctx, early);
  const table = ctx[kRt].tables.get(ctx.listener);
  const found = table?.match(ctx.host, ctx.path, ctx.req.method, ctx.req);
  if (!found) return fail(ctx, errors.notFound());
  if (found.config === undefined) return detour(ctx, found);
  if (found.path !== undefined) ctx.setTarget(found.path + ctx.query);
  ctx[kPipe] = found.config;
  ctx.route = found.config.ref;
  const v = runVerdicts(found.config.phases.requestFilter, ctx);
  if (v instanceof Promise) {
    v.then((r) => afterRequestFilters(ctx, r), (err: unknown) => fail(ctx, toProxyError(err)));
  } else {
    afterRequestFilters(ctx, v);
  }
}

/** The listener's 'request' handler (`this` is the ListenerState). */
export function handleRequest(this: ListenerState, req: DownstreamRequest, res: DownstreamResponse): void {
  serve(this, req, res, false);
}

/**
 * The listener's 'checkContinue' handler: a request with `Expect: 100-continue`. node:http would answer
 * 100 at once; here it is sent only when the body is about to be read, after routing, auth and limits.
 */
export function handleCheckContinue(this: ListenerState, req: DownstreamRequest, res: DownstreamResponse): void {
  serve(this, req, res, true);
}

/**
 * Serves a request that came with `Upgrade` (server/upgrade.ts): a WebSocket handshake (`upgrade`), a request
 * served as plain HTTP (undefined), or one refused (`'refuse'`: another protocol, with a body).
 */
export function serveRequest(state: ListenerState, req: DownstreamRequest, res: DownstreamResponse, upgrade: Upgrade | 'refuse' | undefined): void {
  serve(state, req, res, false, upgrade);
}

function serve(state: ListenerState, req: DownstreamRequest, res: DownstreamResponse, expectContinue: boolean, upgrade?: Upgrade | 'refuse'): void {
  const rt = state.runtime;
  rt.inflight++;
  // Draining: the response closes its HTTP/1.1 connection (`Connection: close`), so a client reusing it goes
  // to a new connection (another worker) instead of finding it closed under its next request.
  if (rt.draining) res.shouldKeepAlive = false;
  const ctx = new ServedCtx(req, res, state, rt);
  if (expectContinue) ctx.expectContinue = true;
  if (typeof upgrade === 'object') {
    ctx.upgrade = upgrade;
    (rt.upgrades ??= new Set()).add(ctx);
    if (rt.draining) upgrade.goingAway = 0;
  }
  (res as DownstreamResponse & Tagged)[kCtx] = ctx;
  res.on('close', onClose);
  try {
    ctx.head = readHead(ctx);
    ctx.requestId = requestIdFor(ctx.head, state.requestId);
    ctx.clientIp = clientAddress(ctx, rt.trusted);
    if (ctx.head.violation !== undefined) throw errors.badRequest(new Error(ctx.head.violation));
    if (upgrade === 'refuse') throw errors.upgradeUnsupported();
    const field = ctx.head.hostHeader;
    const last = (state.lastHost ??= { field: '', name: '' });
    if (field !== last.field) {
      last.field = field;
      last.name = hostName(field);
    }
    ctx.host = last.name;
    if (charCodeAt(ctx.path, 0) !== 47 /* / */) {
      const target = originForm(req.target, ctx.head.hostHeader);
      if (target !== undefined) ctx.setTarget(target);
    }
    const normal = normalTarget(ctx.path, ctx.query);
    if (normal !== undefined) ctx.setTarget(normal);
    const early = runVerdicts(rt.global.earlyRequestFilter, ctx);
    if (early instanceof Promise) {
      early.then((r) => afterEarly(ctx, r), (err: unknown) => fail(ctx, toProxyError(err)));
    } else {
      afterEarly(ctx, early);
    }
  } catch (err) {
    fail(ctx, toProxyError(err));
  }
}
