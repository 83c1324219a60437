/**
 * The byte relay of an open WebSocket: client ⇄ backend through two FrameScanners, with backpressure (pipe),
 * an idle timeout (no bytes either way), an optional maximum lifetime, and a clean Close 1001 (Going Away)
 * to both sides when the proxy drains, reloads or shuts down (RFC 6455 7.4.1).
 */
import { performance } from 'node:perf_hooks';
import type { Duplex, Readable, Writable } from 'node:stream';
import { closeFrame, FrameScanner } from './ws-frames.js';

export interface RelayEnds {
  /** What the client sends (its socket; the request stream on HTTP/2). */
  clientIn: Readable;
  /** Where the client's bytes go (its socket; the response stream on HTTP/2). */
  clientOut: Writable;
  upstream: Duplex;
  /** Bytes already read past each side's head. */
  clientHead: Buffer;
  upstreamHead: Buffer;
}

export interface RelayOptions {
  idleMs: number;
  maxLifetimeMs: number | undefined;
  /** Bytes from the client, to the client. */
  count(dir: 'in' | 'out', n: number): void;
  /** Ends the client side (its socket, or its HTTP/2 stream). */
  endClient(): void;
  destroyClient(): void;
  /** Called once, when both sides are closed. */
  done(): void;
}

/** How long each side has to answer a Close before its connection is cut. */
const CLOSE_WAIT_MS = 2000;

export interface Relay {
  /** Sends Close 1001 both ways (at frame boundaries), then closes both connections. */
  goAway(): void;
}

export function relay(ends: RelayEnds, opts: RelayOptions): Relay {
  let last = performance.now();
  const toUpstream = new FrameScanner({
    onBytes: (n) => { last = performance.now(); opts.count('in', n); },
    // RFC 6455 7.4.1: 1001, the client went away. Frames to a server are masked (5.3).
    endFrame: closeFrame(1001, '', true),
  });
  const toClient = new FrameScanner({
    onBytes: (n) => { last = performance.now(); opts.count('out', n); },
    // 1014 (IANA registry: Bad Gateway): the backend went away without a Close.
    endFrame: closeFrame(1014, 'backend went away', false),
  });
  const { clientIn, clientOut, upstream } = ends;
  let clientClosed = false, upstreamClosed = false, finished = false;
  const timers = new Set<NodeJS.Timeout>();
  const finish = (): void => {
    if (finished || !clientClosed || !upstreamClosed) return;
    finished = true;
    for (const t of timers) clearTimeout(t);
    opts.done();
  };
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    t.unref();
    timers.add(t);
  };
  const onClientClosed = (): void => {
    if (clientClosed) return;
    clientClosed = true;
    toUpstream.end();
    // The backend gets its Close; it has a moment to close its side, then its connection is cut.
    later(CLOSE_WAIT_MS, () => upstream.destroy());
    finish();
  };
  const onUpstreamClosed = (): void => {
    if (upstreamClosed) return;
    upstreamClosed = true;
    toClient.end();
    later(CLOSE_WAIT_MS, () => opts.destroyClient());
    finish();
  };
  upstream.on('error', onUpstreamClosed);
  upstream.on('close', onUpstreamClosed);
  upstream.on('end', onUpstreamClosed);
  clientIn.on('error', onClientClosed);
  clientIn.on('close', onClientClosed);
  clientIn.on('end', onClientClosed);
  clientOut.on('error', onClientClosed);
  clientOut.on('close', onClientClosed);
  // After the proxy's own Close, each side's Close in answer ends that side's connection.
  toUpstream.on('peerclose', () => opts.endClient());
  toClient.on('peerclose', () => upstream.end());
  if (ends.clientHead.length) toUpstream.write(ends.clientHead);
  if (ends.upstreamHead.length) toClient.write(ends.upstreamHead);
  clientIn.pipe(toUpstream).pipe(upstream);
  upstream.pipe(toClient);
  toClient.pipe(clientOut, { end: false });
  toClient.on('end', () => opts.endClient());

  const goAway = (): void => {
    toClient.inject(closeFrame(1001, 'Going Away', false));
    toUpstream.inject(closeFrame(1001, 'Going Away', true));
    later(CLOSE_WAIT_MS, () => { upstream.destroy(); opts.destroyClient(); });
  };
  if (opts.idleMs > 0) {
    const check = (): void => {
      const idle = performance.now() - last;
      if (idle >= opts.idleMs) goAway();
      else later(opts.idleMs - idle + 5, check);
    };
    later(opts.idleMs, check);
  }
  if (opts.maxLifetimeMs !== undefined) later(opts.maxLifetimeMs, goAway);
  return { goAway };
}
