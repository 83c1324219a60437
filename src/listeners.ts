/** Listener settings the composition root derives from a config: server options, ACME names, URLs. */
import { engineOf, type GatehouseConfig } from './schema.js';
import type { Listener, ServerOptions } from './server/listen.js';

/** The exact host names of the routes that serve a listener: what ACME certifies by default. */
export function routeHosts(cfg: GatehouseConfig, listener: string): string[] {
  const names = new Set<string>();
  for (const r of cfg.routes) {
    const only = r.match.listener;
    if (only !== undefined && !(Array.isArray(only) ? only.includes(listener) : only === listener)) continue;
    for (const h of r.match.host === undefined ? [] : Array.isArray(r.match.host) ? r.match.host : [r.match.host]) {
      if (!h.includes('*')) names.add(h.toLowerCase());
    }
  }
  return [...names];
}

export function serverOptions(cfg: GatehouseConfig): ServerOptions {
  const l = cfg.limits;
  return {
    maxHeaderSize: l.header_size, headersTimeout: l.header_timeout, keepAliveTimeout: l.keepalive_timeout,
    maxRequestsPerSocket: l.max_requests_per_connection, maxHeadersCount: Math.max(2000, l.header_count + 1),
    engine: engineOf(cfg.engine),
  };
}

/** `https://ADDRESS` for a TLS listener, `http://ADDRESS` for a plain one. */
export function listenerUrl(l: Listener): string {
  return `${l.state.secure ? 'https' : 'http'}://${l.address()}`;
}

