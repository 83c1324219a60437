/**
 * A request the proxy makes for itself, with no client waiting on the response: the cache's background
 * revalidation (RFC 5861 stale-while-revalidate) and its background fills. It goes to a server the balancer
 * picks, with the headers the triggering request would have had (the route's request filters run), and its
 * outcome feeds passive health like any attempt. No retries: the next request will try again.
 */
import type { RequestCtx } from '../core/context.js';
import type { FetchedResponse } from '../core/services.js';
import { errors } from '../core/errors.js';
import type { Phases, UpstreamRequest } from '../core/plugin.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ResponseHeaderOptions } from './headers.js';
import type { UpstreamRuntime } from './pool.js';
import { fromUndici } from './undici-errors.js';

export interface FetchRoute {
  readonly upstream: UpstreamRuntime;
  readonly requestFilters: readonly Phases['upstreamRequestFilter'][];
  readonly responseHeaders: ResponseHeaderOptions;
}

/** GETs `ctx`'s target from the route's upstream; `edit` changes the request first (conditional headers). */
export async function fetchUpstream(ctx: RequestCtx, route: FetchRoute, edit: (req: UpstreamRequest) => void): Promise<FetchedResponse> {
  const up = route.upstream;
  const peer = up.selector.pick(undefined, up.hashKey?.(ctx));
  if (!peer) throw errors.noServer();
  const req: UpstreamRequest = { method: 'GET', path: ctx.upstreamPath, headers: upstreamRequestHeaders(ctx, ctx.head, { host: up.config.host }) };
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
    const res = await up.pool(peer).request({
      method: req.method, path: req.path, headers: req.headers,
      // (undici reads `servername` from the dispatch options; its types do not list it.)
      ...({ servername: peer.servername } as object),
    });
    up.observer?.observe(peer, res.statusCode >= 500 ? 'failure' : 'ok');
    res.body.once('close', settle);
    const raw: Buffer[] = [];
    for (const [name, v] of Object.entries(res.headers)) {
      for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) raw.push(Buffer.from(name), Buffer.from(one, 'latin1'));
    }
    const built = clientResponseHeaders(ctx, raw, ctx.head.hostHeader, route.responseHeaders);
    return { status: res.statusCode, headers: built.headers, body: res.body };
  } catch (err) {
    settle();
    const perr = fromUndici(err as Error);
    if (perr.opts.source === 'upstream') up.observer?.observe(peer, 'failure');
    throw perr;
  }
}
