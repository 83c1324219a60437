/**
 * WebSocket frame boundaries, as bytes pass (RFC 6455 5.2): each direction of a tunnel goes through a
 * FrameScanner that reads frame headers (FIN/opcode, 7/16/64-bit payload length, mask) and counts payload
 * bytes without buffering them. Frames are passed on untouched; the proxy can then inject a frame of its own
 * (a Close) only between two frames, never inside one.
 */
import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const OP_CLOSE = 0x8;

/**
 * A Close frame (RFC 6455 5.5.1) with a status code (7.4.1) and a short reason. `masked`: a frame sent to a
 * server must be masked (5.3), one sent to a client must not be.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason.slice(0, 120));
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  const head = Buffer.from([0x80 | OP_CLOSE, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
  return Buffer.concat([head, key, payload]);
}

export interface ScannerOptions {
  /** Called with the length of every chunk that passes (counting, idle tracking). */
  onBytes(n: number): void;
  /** Sent when the source ends without having sent a Close, if it ended between frames. */
  endFrame: Buffer;
}

/**
 * One direction of a tunnel. Passes bytes through unchanged while tracking where frames begin and end.
 * `inject(frame)` sends a Close at the next frame boundary and drops what follows (RFC 6455 5.5.1: nothing
 * is sent after a Close); the source's own Close, when it comes, is reported by a 'peerclose' event.
 */
export class FrameScanner extends Transform {
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private hdrNeed = 2;
  private opcode = 0;
  /** Payload bytes left in the current frame. */
  private remaining = 0;
  private pending: Buffer | undefined;
  /** A Close has gone out this way (passed through or injected): nothing more is passed. */
  closeSent = false;
  /** The proxy injected its Close: what follows is dropped. */
  private shut = false;

  constructor(private readonly opts: ScannerOptions) {
    super({ highWaterMark: 16 * 1024 });
  }

  /** Between two frames (no header or payload part way through). */
  get atBoundary(): boolean {
    return this.hdrLen === 0 && this.remaining === 0;
  }

  /** Sends `frame` at the next frame boundary (at once when between frames); then drops the rest. */
  inject(frame: Buffer): void {
    if (this.closeSent || this.shut || this.pending) return;
    if (this.atBoundary) this.sendOwn(frame);
    else this.pending = frame;
  }

  private sendOwn(frame: Buffer): void {
    this.shut = true;
    this.closeSent = true;
    this.pending = undefined;
    this.push(frame);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.opts.onBytes(chunk.length);
    if (this.shut) {
      this.scan(chunk, 0, false);
      return cb();
    }
    const stop = this.scan(chunk, 0, this.pending !== undefined);
    if (stop === chunk.length && this.pending === undefined) {
      this.push(chunk);
      return cb();
    }
    // A Close is waiting and a frame ended inside this chunk: the bytes up to it, then the Close.
    if (stop > 0) this.push(stop === chunk.length ? chunk : chunk.subarray(0, stop));
    if (this.pending && this.atBoundary) {
      this.sendOwn(this.pending);
      this.scan(chunk, stop, false);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    // The source ended (or failed) without a Close: the other side is told so, when that can be done cleanly.
    if (!this.closeSent && this.atBoundary) this.sendOwn(this.opts.endFrame);
    cb();
  }

  /**
   * Reads frame headers from `from`; returns where it stopped: the chunk's end, or (with `stopAtBoundary`) the
   * first frame boundary.
   */
  private scan(chunk: Buffer, from: number, stopAtBoundary: boolean): number {
    let i = from;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.frameEnd();
      } else {
        i = this.readHeader(chunk, i);
      }
      if (stopAtBoundary && this.atBoundary) return i;
    }
    return i;
  }

  private readHeader(chunk: Buffer, i: number): number {
    while (i < chunk.length && this.hdrLen < this.hdrNeed) {
      this.hdr[this.hdrLen++] = chunk[i++]!;
      if (this.hdrLen === 2) {
        const len7 = this.hdr[1]! & 0x7f;
        this.hdrNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.hdr[1]! & 0x80 ? 4 : 0);
      }
    }
    if (this.hdrLen < this.hdrNeed) return i;
    this.opcode = this.hdr[0]! & 0x0f;
    const len7 = this.hdr[1]! & 0x7f;
    // RFC 6455 5.2: 16-bit or 64-bit network-order lengths (the top bit of the 64-bit one is 0).
    this.remaining = len7 === 126 ? this.hdr.readUInt16BE(2) : len7 === 127 ? Number(this.hdr.readBigUInt64BE(2)) : len7;
    this.hdrLen = 0;
    this.hdrNeed = 2;
    if (this.remaining === 0) this.frameEnd();
    return i;
  }

  private frameEnd(): void {
    if (this.opcode !== OP_CLOSE) return;
    if (this.shut) this.emit('peerclose');
    else this.closeSent = true;
  }
}
