/**
 * Contracts shared between capabilities. A capability provides or consumes these; none imports another.
 */

/** One upstream server as the balancer hands it to the forwarder. */
export interface Peer {
  /** Stable id, e.g. `app#0`; used in logs, never sent to clients. */
  readonly id: string;
  /** `http://host:port` origin of the server. */
  readonly origin: string;
  /** `host:port` as written in the config; used to recognise backend addresses in Location headers. */
  readonly authority: string;
  readonly weight: number;
  /** Requests in flight to this peer (maintained by the forwarder). */
  inflight: number;
}

/** Picks a peer for one attempt. `exclude` lists peers already tried for this request. */
export interface Selector {
  pick(exclude?: ReadonlySet<Peer>): Peer | undefined;
  readonly peers: readonly Peer[];
}
