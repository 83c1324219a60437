/** A forwarded body compressed on its way to the client (the route's `compress`; the Transform comes from cache/). */
import type { Transform } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import { noteStreamed } from '../core/memory.js';

/**
 * Sends the encoder's output to the client with the client's backpressure (the encoder pauses); the encoder's
 * own backpressure pauses the upstream (`resume` when it drains). The response ends when the encoder has flushed.
 */
export function pipeEncoded(ctx: RequestCtx, enc: Transform, upstream: { resume(): void; abort(err: Error): void }): void {
  const res = ctx.res;
  enc.on('data', (c: Buffer) => {
    ctx.bytesOut += c.length;
    noteStreamed(c.length);
    if (!res.write(c)) enc.pause();
  });
  res.on('drain', () => { if (enc.isPaused()) enc.resume(); });
  enc.once('end', () => { if (!ctx.clientGone) res.end(); });
  enc.on('drain', () => upstream.resume());
  enc.once('error', (err) => {
    upstream.abort(err);
    res.destroy();
  });
}
