/**
 * A request body, counted and watched while it streams: past `max` bytes it errors with 413 (so the upstream
 * never receives more than the limit: the request to it is aborted), and a pause longer than `idleMs`
 * errors with 408 (a slow sender cannot hold an upstream connection).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { errors } from '../core/errors.js';
import { noteStreamed } from '../core/memory.js';

class LimitedBody extends Transform {
  private seen = 0;
  private timer: NodeJS.Timeout;

  /** Bytes of body received so far (the access log's bytes_in when the length was not declared). */
  get bytesSeen(): number { return this.seen; }

  constructor(private readonly max: number, idleMs: number) {
    super();
    this.timer = setTimeout(() => this.destroy(errors.bodyTimeout()), idleMs);
    this.timer.unref();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    noteStreamed(chunk.length);
    if (this.seen > this.max) return cb(errors.bodyTooLarge());
    this.timer.refresh();
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    clearTimeout(this.timer);
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    cb(err);
  }
}

export function limitBody(req: Readable, max: number, idleMs: number): LimitedBody {
  const body = new LimitedBody(max, idleMs);
  req.on('error', (err) => body.destroy(err));
  // HTTP/1.1: the connection closed mid-body; HTTP/2: the stream was reset (RST_STREAM) or its connection lost.
  req.on('aborted', () => body.destroy(errors.clientAborted(new Error('client aborted the request body'))));
  // Whoever reads the body (the forwarder) gets its errors too; one nobody reads (the request was answered
  // without it: a `respond` route, no server up) ends here rather than as an uncaught 'error'.
  body.on('error', () => req.unpipe(body));
  req.pipe(body);
  return body;
}
