/**
 * Traffic mirroring: a copy of the request goes to a second upstream, fire and forget. Its response is
 * read and discarded, its failures only logged at debug level; it never delays or fails the real request.
 * Requests whose body is streamed (not buffered) are not mirrored: the body can be read only once.
 */
import type { Dispatcher } from 'undici';
import type { RequestCtx } from '../core/context.js';
import type { UpstreamRuntime } from './pool.js';

export interface MirrorTarget { readonly upstream: UpstreamRuntime; readonly percent: number }

const discard: Dispatcher.DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseData() {},
  onResponseEnd() {},
  onResponseError() {},
};

export function mirror(ctx: RequestCtx, target: MirrorTarget, path: string, headers: string[], body: Buffer | null): void {
  if (target.percent < 100 && Math.random() * 100 >= target.percent) return;
  const peer = target.upstream.selector.pick();
  if (!peer) return;
  try {
    target.upstream.pool(peer).dispatch({ method: ctx.req.method, path, headers, body }, discard);
  } catch (err) {
    ctx.log.debug({ err }, 'mirror request failed');
  }
}
