/** One runtime per configured upstream: its peers, an undici Pool per peer, and the selector that picks. */
import { Pool } from 'undici';
import type { Peer, Selector } from '../core/services.js';
import type { UpstreamConfig } from './schema.js';

export interface UpstreamRuntime {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly peers: readonly Peer[];
  readonly selector: Selector;
  /** Lower-cased `host:port` of every server. */
  readonly authorities: ReadonlySet<string>;
  pool(peer: Peer): Pool;
  close(): Promise<void>;
}

export type SelectorFactory = (peers: readonly Peer[], cfg: UpstreamConfig) => Selector;

export function createUpstream(name: string, cfg: UpstreamConfig, makeSelector: SelectorFactory): UpstreamRuntime {
  const peers: Peer[] = [];
  const pools = new Map<Peer, Pool>();
  cfg.servers.forEach((s, i) => {
    const { url, weight } = typeof s === 'string' ? { url: s, weight: 1 } : s;
    const u = new URL(url);
    const peer: Peer = { id: `${name}[${i}]`, origin: u.origin, authority: u.host, weight, inflight: 0 };
    peers.push(peer);
    pools.set(peer, new Pool(u.origin, {
      connect: { timeout: cfg.timeouts.connect },
      headersTimeout: cfg.timeouts.response_headers,
      bodyTimeout: cfg.timeouts.idle,
      keepAliveTimeout: cfg.keepalive.idle_timeout,
      keepAliveMaxTimeout: Math.max(cfg.keepalive.idle_timeout, 1000),
      ...(cfg.keepalive.max_connections ? { connections: cfg.keepalive.max_connections } : {}),
    }));
  });
  const authorities = new Set<string>();
  for (const p of peers) {
    authorities.add(p.authority.toLowerCase());
    // `http://host` without a port is also `host:80`.
    if (!/:\d+$/.test(p.authority)) authorities.add(`${p.authority.toLowerCase()}:80`);
  }
  return {
    name, config: cfg, peers, selector: makeSelector(peers, cfg), authorities,
    pool: (peer) => pools.get(peer)!,
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
    },
  };
}
