/**
 * One layer 4 connection: (SNI read), a peer picked by the upstream's balancer, a connect with failover to
 * other peers, then raw bytes piped both ways with backpressure (stream.pipe pauses the faster side) and
 * half-closes passed on. Counts in the peer's and the runtime's in-flight figures, so that a draining
 * server and a shutdown wait for it. Logged once when it ends.
 */
import { performance } from 'node:perf_hooks';
import { connect, type NetConnectOpts, type Socket } from 'node:net';
import type { Peer } from '../core/services.js';
import { encodeProxyHeader } from './proxy-protocol.js';
import { STREAM_HWM, type StreamRuntime, type StreamUpstream } from './types.js';

/** What a connection was handed: the client socket (paused), and bytes already read from it. */
export interface Accepted {
  client: Socket;
  head: Buffer;
  listener: string;
  upstream: StreamUpstream;
  runtime: StreamRuntime;
  idleMs: number;
  servername?: string | undefined;
  /** The upstream socket, once connected (closed with the listener). */
  track(up: Socket): void;
  /** Called once when both sides are closed. */
  onClose(up: Socket | undefined): void;
}

/** Opens a connection to one peer, within the upstream's connect timeout. */
function dial(peer: Peer, timeoutMs: number): Promise<Socket> {
  const u = new URL(peer.origin);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), allowHalfOpen: true, highWaterMark: STREAM_HWM } as NetConnectOpts);
    const timer = setTimeout(() => { s.destroy(); reject(new Error('connect timeout')); }, timeoutMs);
    timer.unref();
    s.once('connect', () => { clearTimeout(timer); s.off('error', reject); resolve(s); });
    s.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Picks and connects: up to `retries + 1` peers, each tried once; undefined when none would take it. */
async function connectSome(a: Accepted): Promise<{ peer: Peer; up: Socket } | undefined> {
  const tried = new Set<Peer>();
  const cfg = a.upstream.config;
  for (let i = 0; i <= cfg.retries; i++) {
    const peer = a.upstream.selector.pick(tried);
    if (!peer || a.client.destroyed) return undefined;
    tried.add(peer);
    peer.inflight++;
    try {
      const up = await dial(peer, cfg.timeouts.connect);
      a.upstream.observer?.observe(peer, 'ok');
      return { peer, up };
    } catch (err) {
      peer.inflight--;
      a.upstream.observer?.observe(peer, 'failure');
      a.runtime.log.warn({ listener: a.listener, upstream: a.upstream.name, server: peer.id, err: (err as Error).message }, 'stream: upstream connect failed');
    }
  }
  return undefined;
}

/** Connects and pipes; the client is closed when no server takes it. */
export async function relay(a: Accepted): Promise<void> {
  const { client } = a;
  const started = performance.now();
  const got = await connectSome(a);
  if (!got) {
    client.destroy();
    a.onClose(undefined);
    logClosed(a, undefined, started, 'no server');
    return;
  }
  const { peer, up } = got;
  a.track(up);
  if (client.destroyed) {
    up.destroy();
    peer.inflight--;
    a.onClose(up);
    return;
  }
  const cfg = a.upstream.config;
  if (cfg.proxy_protocol) {
    up.write(encodeProxyHeader(cfg.proxy_protocol, {
      source: client.remoteAddress ?? '', sourcePort: client.remotePort ?? 0,
      destination: client.localAddress ?? '', destinationPort: client.localPort ?? 0,
    }));
  }
  if (a.head.length) up.write(a.head);
  let reason = 'closed';
  const fail = (why: string) => (err?: Error): void => {
    reason = err ? `${why}: ${(err as NodeJS.ErrnoException).code ?? err.message}` : why;
    client.destroy();
    up.destroy();
  };
  client.setTimeout(a.idleMs, fail('idle timeout'));
  client.on('error', fail('client error'));
  up.on('error', fail('upstream error'));
  client.pipe(up);
  up.pipe(client);
  client.resume();
  let open = 2;
  const closed = (): void => {
    if (--open > 0) return;
    peer.inflight--;
    a.onClose(up);
    logClosed(a, { peer, up }, started, reason);
  };
  // A side that closes takes the other with it once what it sent is flushed (destroySoon: end, then destroy);
  // a FIN alone is a half-close that pipe passes on, and the other direction keeps flowing.
  client.once('close', () => { up.destroySoon(); closed(); });
  up.once('close', () => { client.destroySoon(); closed(); });
}

function logClosed(a: Accepted, got: { peer: Peer; up: Socket } | undefined, started: number, reason: string): void {
  a.runtime.log.info({
    listener: a.listener, client: a.client.remoteAddress, client_port: a.client.remotePort,
    upstream: a.upstream.name, server: got?.peer.id, ...(a.servername !== undefined ? { sni: a.servername } : {}),
    bytes_in: a.client.bytesRead, bytes_out: a.client.bytesWritten,
    duration_ms: Math.round(performance.now() - started), reason,
  }, 'stream connection');
}
