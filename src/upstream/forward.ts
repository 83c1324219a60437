/**
 * The hot path: one undici dispatch per attempt, streaming both ways with backpressure. A connect failure
 * before any byte of the request body was read is retried on another server. A client that goes away aborts
 * the upstream request so no upstream socket leaks.
 */
import type { Dispatcher } from 'undici';
import type { RequestCtx } from '../core/context.js';
import { errors, type ProxyError } from '../core/errors.js';
import type { Phases, ResponseHead, UpstreamRequest } from '../core/plugin.js';
import type { Peer } from '../core/services.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ResponseHeaderOptions } from './headers.js';
import type { UpstreamRuntime } from './pool.js';
import { fromUndici } from './undici-errors.js';

export interface ForwardRoute {
  readonly upstream: UpstreamRuntime;
  readonly requestFilters: readonly Phases['upstreamRequestFilter'][];
  readonly responseFilters: readonly Phases['responseFilter'][];
  readonly responseHeaders: ResponseHeaderOptions;
  /** Answers the client with the proxy's own error page (the kernel's error path). */
  readonly fail: (ctx: RequestCtx, err: ProxyError) => void;
}

type Controller = Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestStart']>>[0];

const kHandler = Symbol('gatehouse.forward');
type ResWithHandler = RequestCtx['res'] & { [kHandler]?: ForwardHandler };

function onDrain(this: ResWithHandler): void {
  this[kHandler]?.controller?.resume();
}

class ForwardHandler implements Dispatcher.DispatchHandler {
  controller: Controller | undefined;
  private started = false;
  private drainHooked = false;
  /** Response body bytes still expected per Content-Length (-1: unknown), so a body that arrives whole
   * in one chunk goes out with res.end(chunk): one write instead of write + end. */
  private remaining = -1;
  private ended = false;
  private readonly attemptStart = performance.now();

  constructor(
    private readonly ctx: RequestCtx,
    private readonly route: ForwardRoute,
    private readonly peer: Peer,
    private readonly tried: Set<Peer> | undefined,
  ) {}

  abort(): void {
    this.controller?.abort(errors.clientAborted());
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.ctx.res.destroyed) controller.abort(errors.clientAborted());
  }

  onResponseStart(controller: Controller, status: number, headers: Record<string, string | string[] | undefined>): void {
    const { ctx, route } = this;
    if (status < 200) {
      // RFC 9110 15.2: relay informational responses (103 Early Hints); 100 is answered by node:http itself.
      if (status === 103 && !ctx.res.headersSent) {
        const hints: Record<string, string | string[]> = {};
        for (const k in headers) if (k === 'link' || !route.responseHeaders.hidden.has(k)) hints[k] = headers[k]!;
        if (hints.link) ctx.res.writeEarlyHints(hints as { link: string | string[] });
      }
      return;
    }
    this.started = true;
    ctx.upstreamMs = performance.now() - ctx.upstreamStart;
    const cl = headers['content-length'];
    if (typeof cl === 'string') this.remaining = Number(cl);
    const head: ResponseHead = { status, headers: clientResponseHeaders(ctx, headers, ctx.head.hostHeader, route.responseHeaders) };
    for (const f of route.responseFilters) f(ctx, head);
    ctx.status = head.status;
    const res = ctx.res;
    if (res.destroyed) return void controller.abort(errors.clientAborted());
    try {
      res.writeHead(head.status, head.headers);
    } catch (err) {
      controller.abort(err as Error);
    }
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.ctx.bytesOut += chunk.length;
    const res = this.ctx.res as ResWithHandler;
    if (chunk.length === this.remaining && this.ctx.bytesOut === chunk.length) {
      this.ended = true;
      res.end(chunk);
      return;
    }
    if (!res.write(chunk)) {
      controller.pause();
      if (!this.drainHooked) {
        this.drainHooked = true;
        res.on('drain', onDrain);
      }
    }
  }

  onResponseEnd(_controller: Controller, trailers: Record<string, string | string[] | undefined>): void {
    const { ctx } = this;
    ctx.peer!.inflight--;
    ctx.abortUpstream = undefined;
    if (ctx.attempts) ctx.attempts.push({ server: this.peer.authority, outcome: String(ctx.status), ms: performance.now() - this.attemptStart });
    if (this.ended) return;
    let hasTrailers = false;
    for (const _ in trailers) { hasTrailers = true; break; }
    if (hasTrailers) {
      const t: [string, string][] = [];
      for (const k in trailers) {
        const v = trailers[k];
        if (v === undefined || this.route.responseHeaders.hidden.has(k)) continue;
        for (const item of Array.isArray(v) ? v : [v]) t.push([k, item]);
      }
      ctx.res.addTrailers(t);
    }
    ctx.res.end();
  }

  onResponseError(_controller: Controller, err: Error): void {
    const { ctx, route, peer } = this;
    peer.inflight--;
    ctx.abortUpstream = undefined;
    const clientGone = ctx.res.destroyed || (ctx.req.destroyed && !ctx.req.complete);
    const perr = clientGone ? errors.clientAborted(err) : fromUndici(err);
    (ctx.attempts ??= []).push({ server: peer.authority, outcome: perr.code, ms: performance.now() - this.attemptStart });
    if (this.started || ctx.res.headersSent) {
      // Mid-body failure: the status line is gone, so the only honest signal is a cut connection.
      ctx.status = ctx.status || perr.status;
      ctx.res.destroy();
      return;
    }
    if (clientGone) {
      ctx.status = 499;
      return;
    }
    const bodyTouched = ctx.head.hasBody && (ctx.req.readableDidRead || ctx.req.readableEnded);
    if (perr.opts.retryable && !bodyTouched && ctx.attempts.length <= route.upstream.config.retries) {
      const tried = this.tried ?? new Set<Peer>();
      tried.add(peer);
      // As nginx: when every server failed, the client gets the last failure (502/504), not a 503.
      if (tried.size < route.upstream.peers.length) return void attempt(ctx, route, tried);
    }
    route.fail(ctx, perr);
  }
}

function attempt(ctx: RequestCtx, route: ForwardRoute, tried: Set<Peer> | undefined): void {
  const up = route.upstream;
  const peer = up.selector.pick(tried);
  if (peer === undefined) return route.fail(ctx, errors.noServer());
  ctx.peer = peer;
  const req: UpstreamRequest = {
    method: ctx.req.method!,
    path: ctx.upstreamPath,
    headers: upstreamRequestHeaders(ctx, ctx.head, { host: up.config.host }),
  };
  for (const f of route.requestFilters) f(ctx, req);
  const handler = new ForwardHandler(ctx, route, peer, tried);
  (ctx.res as ResWithHandler)[kHandler] = handler;
  ctx.abortUpstream = handler;
  peer.inflight++;
  ctx.upstreamStart = performance.now();
  up.pool(peer).dispatch({
    path: req.path,
    method: req.method,
    headers: req.headers,
    body: ctx.head.hasBody ? ctx.req : null,
  }, handler);
}

/** Forwards the request to the route's upstream; the response (or the error page) goes to the client. */
export function forward(ctx: RequestCtx, route: ForwardRoute): void {
  ctx.upstreamName = route.upstream.name;
  attempt(ctx, route, undefined);
}
