/**
 * Contracts shared between capabilities. A capability provides or consumes these; none imports another.
 */

/** One upstream server as the balancer hands it to the forwarder. Mutable state is kept by its owners:
 * `inflight` and `ewmaMs` by the forwarder, `up` and `upSince` by the health checker. */
export interface Peer {
  /** Stable id, e.g. `app[0]`; used in logs and the status API, never sent to clients. */
  readonly id: string;
  /** The server URL as configured, e.g. `http://10.0.0.5:8080`. */
  readonly url: string;
  /** `http://host:port` origin of the server. */
  readonly origin: string;
  /** `host:port`; used to recognise backend addresses in Location headers. */
  readonly authority: string;
  readonly weight: number;
  /** Used only when no primary server is up. */
  readonly backup: boolean;
  /** Ramp-up time after the server comes back (0: none). */
  readonly slowStartMs: number;
  /** The name sent as SNI and checked against an https server's certificate: the upstream's `tls.server_name`,
   * else the URL's host name (unset for an IP address). Never the client's Host. Unused for plain http. */
  readonly servername?: string | undefined;
  /** Most connections to this server (0: unlimited); requests beyond wait in its queue. */
  readonly maxConnections: number;
  /** Requests in flight to this peer. */
  inflight: number;
  /** Eligible for traffic: passing health checks and not ejected. */
  up: boolean;
  /** performance.now() when it last came up (for slow start); 0 when it was up from the start. */
  upSince: number;
  /** Exponentially weighted moving average of response-head latency, in ms (0 until measured). */
  ewmaMs: number;
}

/** Picks a peer for one attempt. `exclude` lists peers already tried; `key` is the hash key, when one applies. */
export interface Selector {
  pick(exclude?: ReadonlySet<Peer>, key?: string): Peer | undefined;
  readonly peers: readonly Peer[];
}

/** What an attempt came to, as passive health checking sees it. */
export type AttemptOutcome = 'ok' | 'failure';

/** Receives the outcome of every attempt (passive health checking provides one). */
export interface PeerObserver {
  observe(peer: Peer, outcome: AttemptOutcome): void;
}

/** The weight a peer has now: its configured weight, ramped up linearly during slow start. */
export function effectiveWeight(peer: Peer, now: number): number {
  if (peer.slowStartMs === 0 || peer.upSince === 0) return peer.weight;
  const f = (now - peer.upSince) / peer.slowStartMs;
  return f >= 1 ? peer.weight : peer.weight * Math.max(0.05, f);
}
