/**
 * The hot path: one undici dispatch per attempt, streaming both ways with backpressure. Failed attempts
 * are retried on another server when that is safe (retry.ts); each outcome feeds passive health and the
 * latency EWMA used by p2c. A client that goes away aborts the upstream request so no socket leaks.
 */
import { performance } from 'node:perf_hooks';
import type { Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RequestCtx } from '../core/context.js';
import { now } from '../core/clock.js';
import { errors, ProxyError } from '../core/errors.js';
import type { ResponseHead, UpstreamRequest } from '../core/plugin.js';
import type { Peer, ResponseTap, TapMode } from '../core/services.js';
import { noteStreamed } from '../core/memory.js';
import { readBody } from './body.js';
import { failed, pickPeer, recordLatency, type Exchange, type ForwardRoute } from './exchange.js';
import { clientResponseHeaders, clientTrailers, relayInformational, upstreamRequestHeaders, type RawFields, type UpstreamTrailers } from './headers.js';
import { mirror } from './mirror.js';
import { pipeEncoded } from './encoded.js';
import { isIdempotent, mayRetry, retryableError } from './retry.js';
import { fromUndici } from './undici-errors.js';
import { armGrpcDeadline, takeGrpcStatus } from './grpc.js';
import { isGrpc } from '../core/grpc.js';
import { answeredHere } from './max-forwards.js';
import type { DispatchOptions } from './h1/types.js';

export type { ForwardRoute } from './exchange.js';

/**
 * undici's handler interface in its raw form (onConnect/onHeaders/onData/onComplete/onError): the response
 * headers arrive as raw Buffer pairs and go to the client's header list directly, with none of the parsed
 * header object, the controller and the wrapper undici builds per request for the object form.
 */
class ForwardHandler implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined;
  resume: (() => void) | undefined;
  private started = false;
  private settled = false;
  private drainHooked = false;
  /** Bytes still expected per Content-Length (-1: unknown), so a body that arrives whole in one chunk goes
   * out with res.end(chunk): one write instead of write + end. */
  private remaining = -1;
  private ended = false;
  /** What the tap (cache) does with this response; 'pass' when there is none. */
  private tapMode: TapMode = 'pass';
  /** The client left during a cache fill that others wait on: the body goes on to the tap only. */
  private detached = false;
  /** Compresses the body on its way to the client (`compress`). */
  private encoder: Transform | undefined;
  /** The final response's status and when its head came (0: none yet). */
  private status = 0;
  private headAt = 0;
  private grpcStatus: string[] | undefined; // of a Trailers-Only upstream head, sent as trailers

  /** `attemptStart`: performance.now() when this attempt was sent (also the request's upstreamStart). */
  constructor(private readonly ex: Exchange, private readonly peer: Peer, private queued: boolean, private readonly attemptStart: number) {}

  abort(): void {
    if (this.tapMode === 'copy' && this.ex.tap!.keepFilling()) {
      this.detached = true;
      this.resume?.();
      return;
    }
    this.abortUpstream?.(errors.clientAborted());
  }

  /** A gRPC deadline passed: the upstream request is aborted with `err` (onError answers). */
  expire(err: ProxyError): void { this.abortUpstream?.(err); }

  /** Bookkeeping once per attempt, however it ends: `outcome` is a status, or the error's code. */
  private settle(outcome: string | number): void {
    if (this.settled) return;
    this.settled = true;
    const up = this.ex.route.upstream;
    this.peer.inflight--;
    up.inflight--;
    if (this.queued) { this.queued = false; up.pending--; }
    this.ex.ctx.abortUpstream = undefined;
    if (this.ex.ctx.attempts) this.ex.ctx.attempts.push({ server: this.peer.authority, outcome: String(outcome), ms: performance.now() - this.attemptStart });
    // One observation per attempt: its response head's status class and time, or, without a head, an error on
    // the server's side timed to the failure (a client that left before a response says nothing about the server).
    if (this.headAt) up.meter?.attempt(up.name, this.peer, this.status, (this.headAt - this.attemptStart) / 1000);
    else if (typeof outcome === 'string' && (outcome.startsWith('GH_UPSTREAM') || outcome === 'GH_GRPC_DEADLINE')) up.meter?.attempt(up.name, this.peer, 0, (performance.now() - this.attemptStart) / 1000);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.queued) { this.queued = false; this.ex.route.upstream.pending--; }
    if (this.ex.ctx.clientGone) abort(errors.clientAborted());
    else if (this.ex.expired) abort(this.ex.expired);
  }

  onHeaders(status: number, raw: RawFields, resume: () => void): boolean {
    this.resume = resume;
    const { ctx, route } = this.ex;
    if (status < 200) {
      relayInformational(ctx, status, raw, route.responseHeaders);
      return true;
    }
    const up = route.upstream;
    this.status = status;
    this.headAt = now();
    recordLatency(this.peer, this.headAt - this.attemptStart);
    up.observer?.observe(this.peer, status >= 500 ? 'failure' : 'ok');
    if (up.config.retry_on_status.includes(status) && this.retryStatus(status)) return true;
    this.started = true;
    ctx.upstreamMs = this.headAt - ctx.upstreamStart;
    const built = clientResponseHeaders(ctx, raw, ctx.head.hostHeader, route.responseHeaders, !route.userHooks);
    this.remaining = built.contentLength;
    const headers = built.headers;
    if (this.ex.grpc) this.grpcStatus = takeGrpcStatus(headers);
    const tap = this.ex.tap;
    // The list's start the upstream's parser already checked: none once a tap has had the list; shorter by the
    // gRPC status fields taken out of it.
    const checked = tap ? 0 : Math.max(0, built.checked - (this.grpcStatus?.length ?? 0));
    if (tap) {
      this.tapMode = tap.head(status, headers);
      if (this.tapMode === 'take') return true;
      if (this.tapMode === 'copy') tap.onDrain(() => this.resume?.());
    }
    if (up.affinity && this.ex.sticky !== this.peer) headers.push('set-cookie', up.affinity.setCookie(this.peer));
    // The head as an object only for those who may change it (response filters, compression).
    const filters = route.responseFilters;
    const head: ResponseHead | undefined = filters.length !== 0 || route.encode !== undefined ? { status, headers } : undefined;
    if (head !== undefined) this.filterHead(head);
    else ctx.status = status;
    if (ctx.clientGone) {
      this.abortUpstream?.(errors.clientAborted());
      return true;
    }
    try {
      if (head === undefined) ctx.res.writeHead(status, headers, checked);
      else ctx.res.writeHead(head.status, head.headers);
    } catch (err) {
      this.abortUpstream?.(err as Error);
    }
    return true;
  }

  /** The response filters, then compression, on a head that has either; sets the status the client gets. */
  private filterHead(head: ResponseHead): void {
    const { ctx, route } = this.ex;
    const filters = route.responseFilters;
    for (let i = 0; i < filters.length; i++) filters[i]!(ctx, head);
    ctx.status = head.status;
    const enc = route.encode?.(ctx, head);
    if (enc) {
      this.encoder = enc;
      this.remaining = -1;
      pipeEncoded(ctx, enc, { resume: () => this.resume?.(), abort: (err) => this.abortUpstream?.(err) });
    }
  }

  /** A retryable status from an idempotent request: drop this response and try another server. */
  private retryStatus(status: number): boolean {
    const { ex } = this;
    const { ctx, route } = ex;
    if (!isIdempotent(ctx, route.retryWithIdempotencyKey)) return false;
    ctx.attempts ??= [];
    const tried = (ex.tried ??= new Set());
    tried.add(this.peer);
    if (!mayRetry(ctx, route.upstream, ex.body instanceof Buffer, ctx.attempts.length + 1)) { tried.delete(this.peer); return false; }
    const next = pickPeer(ex);
    if (!next) { tried.delete(this.peer); return false; } // nobody else to ask: pass this answer on
    this.settle(status);
    this.abortUpstream?.(errors.upstreamReset(new Error(`retrying after status ${status}`)));
    attempt(ex, next);
    return true;
  }

  /** Returns false to pause the upstream until the client drains (undici's raw interface). */
  onData(chunk: Buffer): boolean {
    if (this.tapMode !== 'pass') {
      if (this.tapMode === 'take') return true;
      const more = this.ex.tap!.data(chunk);
      if (this.detached) return more;
      if (!more) {
        this.clientWrite(chunk);
        return false;
      }
    }
    return this.clientWrite(chunk);
  }

  private clientWrite(chunk: Buffer): boolean {
    const ctx = this.ex.ctx;
    if (this.encoder) return this.encoder.write(chunk);
    ctx.bytesOut += chunk.length;
    noteStreamed(chunk.length);
    const res = ctx.res;
    if (chunk.length === this.remaining && ctx.bytesOut === chunk.length) {
      this.ended = true;
      res.end(chunk);
      return true;
    }
    // Past the socket's high-water mark node:http keeps buffering; pause the upstream only beyond
    // `responseBuffer`, so a small response to a slow reader releases its upstream connection at once.
    if (!res.write(chunk) && res.writableLength > this.ex.route.responseBuffer) {
      if (!this.drainHooked) {
        this.drainHooked = true;
        // Only the attempt whose response goes out writes: no other handler hooks this response.
        res.on('drain', () => this.resume?.());
      }
      return false;
    }
    return true;
  }

  onComplete(trailers: UpstreamTrailers | null): void {
    const { ctx, route } = this.ex;
    this.settle(ctx.status);
    if (this.tapMode === 'copy') this.ex.tap!.end();
    if (this.ended || this.tapMode === 'take' || this.detached) return;
    // A compressed body ends when the encoder has flushed it (trailers are not sent with it).
    if (this.encoder) return void this.encoder.end();
    let list = trailers ? clientTrailers(trailers, route.responseHeaders.hidden) : [];
    if (this.grpcStatus) list = this.grpcStatus.concat(list);
    if (list.length) ctx.res.addTrailers(list);
    ctx.res.end();
  }

  onError(err: Error): void {
    if (this.settled) return; // this attempt was dropped for a retry
    const { ex, peer } = this;
    const { ctx, route } = ex;
    const perr = ctx.clientGone && !this.detached ? errors.clientAborted(err) : fromUndici(err);
    ctx.attempts ??= [];
    this.settle(perr.code);
    this.encoder?.destroy();
    if (this.tapMode === 'copy' || this.tapMode === 'take') {
      // The cache's fill (or its revalidation) failed part way: it drops what it has; the client's
      // response, if one went out, is cut as any other.
      ex.tap!.error(perr, true);
      if (this.detached || this.tapMode === 'take') return;
    }
    if (perr.code === 'GH_CLIENT_ABORTED') {
      // A client going away (its connection, its HTTP/2 stream, its request body) is never the server's
      // fault: no passive-health failure, no retry; logged as 499 unless a response head went out.
      ctx.error ??= perr;
      ctx.status = ctx.status || 499;
      if (!ctx.clientGone) ctx.res.destroy();
      return;
    }
    // A request body refused part way (413, 408) is the client's doing too: answered, not held against the server.
    if (perr.opts.source !== 'upstream') return route.fail(ctx, perr);
    route.upstream.observer?.observe(peer, 'failure');
    if (perr.code.endsWith('TIMEOUT')) recordLatency(peer, performance.now() - this.attemptStart);
    if (this.started || ctx.res.headersSent) {
      // Mid-body failure: the status line is gone, so the only honest signal is a cut connection (fail() cuts
      // it, and logs the failure as it logs one before the head).
      return route.fail(ctx, perr);
    }
    ex.lastError = perr;
    if (retryableError(perr, ctx, route.retryWithIdempotencyKey) && mayRetry(ctx, route.upstream, ex.body instanceof Buffer, ctx.attempts.length)) {
      (ex.tried ??= new Set()).add(peer);
      const next = pickPeer(ex);
      if (next) return void attempt(ex, next);
    }
    failed(ex, perr);
  }
}

/**
 * Runs the route's upstream request filters and the tap on `req`. Returns how many items at the start of its
 * fields are still the ones it was built with (`upstreamRequestHeaders`: an HTTP/1.1 parser's fields and the
 * proxy's own, made from them), which the native client does not test again (h1/request.ts); whatever a filter
 * put in their place or after them is tested. 0 when the client's fields were not an HTTP/1.1 parser's, or when
 * a user plugin with hooks runs (it may have changed the fields or what the proxy's are made of: ctx.req.rawHeaders,
 * ctx.head, ctx.requestId, the socket's address); the built-in plugins change none of them.
 */
function prepare(ex: Exchange, req: UpstreamRequest): number {
  const filters = ex.route.requestFilters;
  const valid = ex.ctx.req.fieldsChecked && !ex.route.userHooks;
  if (filters.length === 0 && ex.tap?.request === undefined) return valid ? req.headers.length : 0;
  const before = valid ? req.headers.slice() : undefined;
  for (let i = 0; i < filters.length; i++) filters[i]!(ex.ctx, req);
  ex.tap?.request?.(req);
  if (before === undefined) return 0;
  const after = req.headers;
  const n = Math.min(before.length, after.length);
  let i = 0;
  while (i < n && before[i] === after[i]) i++;
  return i - (i & 1); // a name whose value changed is tested with it
}

function attempt(ex: Exchange, peer: Peer): void {
  const { ctx, route } = ex;
  if (ex.expired) return; // answered when it passed
  const up = route.upstream;
  const max = up.config.max_requests;
  if (max !== undefined && up.inflight >= max) return failed(ex, errors.overloaded());
  let queued = false;
  if (peer.maxConnections !== 0 && peer.inflight >= peer.maxConnections) {
    const maxPending = up.config.max_pending;
    if (maxPending !== undefined && up.pending >= maxPending) return failed(ex, errors.overloaded());
    queued = true;
    up.pending++;
  }
  ctx.peer = peer;
  const req: UpstreamRequest = {
    method: ctx.req.method,
    path: ctx.upstreamPath,
    headers: upstreamRequestHeaders(ctx, ctx.head, up.config),
  };
  let checked: number;
  try {
    checked = prepare(ex, req);
  } catch (err) {
    // A request a filter failed to prepare is not sent (it may lack a signature or a credential).
    if (queued) up.pending--;
    const perr = err instanceof ProxyError ? err : errors.internal(err);
    // The tap (a cache fill others may wait on) learns that no response will come; it serves nothing itself.
    ex.tap?.error(perr, true);
    return route.fail(ctx, perr);
  }
  const sent = now();
  const handler = new ForwardHandler(ex, peer, queued, sent);
  ctx.abortUpstream = handler;
  peer.inflight++;
  up.inflight++;
  if (ex.tried?.size) up.meter?.retry(up.name, true); // a server was tried before this one
  ctx.upstreamStart = sent;
  if (route.mirror && ctx.attempts === undefined && (ex.body === null || ex.body instanceof Buffer)) {
    mirror(ctx, route.mirror, req.path, req.headers, ex.body as Buffer | null);
  }
  // The server name is the peer's own (undici would otherwise derive SNI from the client's Host, per request,
  // and drop a TLS connection whenever it changes).
  // (undici reads `servername` from the dispatch options; its types do not list it.)
  const opts: DispatchOptions = { path: req.path, method: req.method, headers: req.headers, body: ex.body, servername: peer.servername, checked };
  up.pool(peer).dispatch(opts, handler);
}

/** A gRPC request's deadline passed: the attempt in flight is aborted (its onError answers), or the error page. */
function expire(ex: Exchange): void {
  const ctx = ex.ctx;
  ex.expired = errors.grpcDeadline();
  if (ctx.abortUpstream instanceof ForwardHandler) ctx.abortUpstream.expire(ex.expired); else ex.route.fail(ctx, ex.expired);
}

function start(ex: Exchange): void {
  const peer = pickPeer(ex);
  if (peer === undefined) return failed(ex, errors.noServer());
  attempt(ex, peer);
}

/** Forwards the request to the route's upstream; the response (or the error page) goes to the client. */
export function forward(ctx: RequestCtx, route: ForwardRoute, tap?: ResponseTap): void {
  if (answeredHere(ctx, route)) return;
  if (ctx.expectContinue && ctx.head.hasBody && !ctx.res.headersSent) {
    // Everything before forwarding passed: now the client may send its body (RFC 9110 10.1.1).
    ctx.expectContinue = false;
    ctx.res.writeContinue();
  }
  const up = route.upstream;
  ctx.upstreamName = up.name;
  up.budget.request(ctx.start); // counted as the request arrived
  const head = ctx.head;
  const source = head.hasBody ? ctx.body ?? ctx.req.body : null;
  const ex: Exchange = {
    ctx, route, tried: undefined, body: source, lastError: undefined, tap,
    key: up.hashKey?.(ctx),
    sticky: up.affinity?.peerFor(ctx.req.header('cookie')),
    grpc: isGrpc(ctx.req.header('content-type')),
  };
  if (ex.grpc) armGrpcDeadline(ctx, () => expire(ex));
  // A small body is read whole first: a retry (or a mirror) can send it again, and a slow sender holds no
  // upstream connection while it trickles in.
  const cl = head.contentLength;
  if (source !== null && cl > 0 && cl <= route.bufferBodyUpTo) {
    readBody(source, cl).then((buf) => {
      ex.body = buf;
      start(ex);
    }, (err: unknown) => route.fail(ctx, err instanceof ProxyError ? err : errors.clientAborted(err)));
    return;
  }
  start(ex);
}
