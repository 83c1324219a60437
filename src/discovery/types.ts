/** What discovery providers hand to the composition root. */

/** One discovered server, as the upstream registry takes it. */
export interface DiscoveredServer {
  /** `scheme://host:port`, an IPv6 address in brackets. */
  url: string;
  /** Relative share of requests, 1..1000. */
  weight: number;
  /** Used only when no primary server is up (SRV records past the lowest priority). */
  backup: boolean;
}

/** Where a provider logs: a pino logger fits. */
export interface DiscoveryLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}
