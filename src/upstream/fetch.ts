/**
 * A request the proxy makes for itself, with no client waiting on the response: the cache's background
 * revalidation (RFC 5861 stale-while-revalidate) and its background fills. It goes to a server the balancer
 * picks, with the headers the triggering request would have had (the route's request filters run), and its
 * outcome feeds passive health like any attempt. No retries: the next request will try again.
 */
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RequestCtx } from '../core/context.js';
import type { FetchedResponse } from '../core/services.js';
import { errors } from '../core/errors.js';
import type { Phases, UpstreamRequest } from '../core/plugin.js';
import { clientResponseHeaders, upstreamRequestHeaders, type RawFields, type ResponseHeaderOptions } from './headers.js';
import type { UpstreamPool, UpstreamRuntime } from './pool.js';
import { fromUndici } from './undici-errors.js';

export interface FetchRoute {
  readonly upstream: UpstreamRuntime;
  readonly requestFilters: readonly Phases['upstreamRequestFilter'][];
  readonly responseHeaders: ResponseHeaderOptions;
}

/**
 * The response to one request on `pool`: its head once it comes, its body as a stream with backpressure.
 * `closed` runs once the body closes, however it ends (watched from the start: a body can fail before the
 * caller has it). A failure after the head reaches the body a turn later, once the caller listens.
 */
function request(pool: UpstreamPool, opts: Dispatcher.DispatchOptions, closed: () => void): Promise<{ status: number; raw: RawFields; body: PassThrough }> {
  return new Promise((resolve, reject) => {
    const body = new PassThrough();
    let headed = false;
    let resume: (() => void) | undefined;
    let abort: ((err?: Error) => void) | undefined;
    body.on('drain', () => resume?.());
    body.once('close', () => {
      if (!body.writableFinished) abort?.(new Error('response body closed by its reader'));
      closed();
    });
    pool.dispatch(opts, {
      onConnect(a) { abort = a; },
      onHeaders(status, raw, r) {
        if (status < 200) return true;
        headed = true;
        resume = r;
        resolve({ status, raw, body });
        return true;
      },
      onData: (chunk) => body.write(chunk),
      onComplete: () => { body.end(); },
      onError(err) {
        if (headed) setImmediate(() => body.destroy(err));
        else reject(err);
      },
    });
  });
}

/** GETs `ctx`'s target from the route's upstream; `edit` changes the request first (conditional headers). */
export async function fetchUpstream(ctx: RequestCtx, route: FetchRoute, edit: (req: UpstreamRequest) => void): Promise<FetchedResponse> {
  const up = route.upstream;
  const peer = up.selector.pick(undefined, up.hashKey?.(ctx));
  if (!peer) throw errors.noServer();
  const req: UpstreamRequest = { method: 'GET', path: ctx.upstreamPath, headers: upstreamRequestHeaders(ctx, ctx.head, up.config) };
  for (const f of route.requestFilters) f(ctx, req);
  edit(req);
  peer.inflight++;
  up.inflight++;
  let done = false;
  const settle = (): void => {
    if (done) return;
    done = true;
    peer.inflight--;
    up.inflight--;
  };
  try {
    // (undici reads `servername` from the dispatch options; its types do not list it.)
    const res = await request(up.pool(peer), { method: req.method, path: req.path, headers: req.headers, ...({ servername: peer.servername } as object) }, settle);
    up.observer?.observe(peer, res.status >= 500 ? 'failure' : 'ok');
    const built = clientResponseHeaders(ctx, res.raw, ctx.head.hostHeader, route.responseHeaders);
    return { status: res.status, headers: built.headers, body: res.body };
  } catch (err) {
    settle();
    const perr = fromUndici(err as Error);
    if (perr.opts.source === 'upstream') up.observer?.observe(peer, 'failure');
    throw perr;
  }
}
