/**
 * Metrics read from elsewhere when scraped, at no cost per request: the upstream servers (up, in flight, circuit,
 * ejections), the cache's counters, the listeners' open connections and the certificates they serve. Each gauge
 * says how a group of workers merges it (`aggregator`): summed, or the minimum or maximum where a sum means nothing.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CertificateExpiry } from '../core/services.js';

/** One server as the upstream registry lists it (`id` = `host:port`). */
export interface ServerFigures {
  id: string;
  up: boolean;
  inflight: number;
  health: { ejectedUntil: number; ejections: number };
  removing?: true;
}

/** Where the figures not counted per request come from, read at each scrape. */
export interface MetricsSources {
  /** Upstreams and their servers, as the upstream registry lists them. */
  servers(): readonly { name: string; servers: readonly ServerFigures[] }[];
  /** The shared cache's counters, once a config has made it. */
  cache(): { hits: number; misses: number; stale: number; revalidated: number; bypass: number } | undefined;
  /** The listeners: open client connections (undefined where not counted: layer 4) and the certificates served. */
  listeners?(): readonly { name: string; open: number | undefined; certificates: readonly CertificateExpiry[] }[];
}

/** Each server once per upstream: of a server being removed and one added again at the same address, the new one. */
function eachServer(sources: MetricsSources, fn: (labels: { upstream: string; server: string }, s: ServerFigures) => void): void {
  for (const u of sources.servers()) {
    const ordered = [...u.servers.filter((s) => s.removing), ...u.servers.filter((s) => !s.removing)];
    for (const s of ordered) fn({ upstream: u.name, server: s.id }, s);
  }
}

export function serverMetrics(registry: Registry, sources: MetricsSources): void {
  const labelNames = ['upstream', 'server'] as const;
  // Up only where every worker has it up (`min`), as `GET /api/upstreams` merges them.
  new Gauge({
    name: 'gatehouse_upstream_server_up', help: 'Whether an upstream server takes requests (1) or not (0: down, ejected or draining)',
    labelNames, registers: [registry], aggregator: 'min',
    collect() {
      this.reset();
      eachServer(sources, (l, s) => this.set(l, s.up ? 1 : 0));
    },
  });
  new Gauge({
    name: 'gatehouse_upstream_server_in_flight', help: 'Requests in flight to an upstream server',
    labelNames, registers: [registry],
    collect() {
      this.reset();
      eachServer(sources, (l, s) => this.set(l, s.inflight));
    },
  });
  // Open where any worker has ejected it (`max`).
  new Gauge({
    name: 'gatehouse_upstream_server_circuit_open', help: 'Whether passive health checking has ejected an upstream server (1: its circuit is open, no requests until the ejection ends) or not (0)',
    labelNames, registers: [registry], aggregator: 'max',
    collect() {
      this.reset();
      eachServer(sources, (l, s) => this.set(l, s.health.ejectedUntil !== 0 ? 1 : 0));
    },
  });
  new Counter({
    name: 'gatehouse_upstream_server_ejections_total', help: 'Passive outlier ejections of an upstream server (since its health settings last changed)',
    labelNames, registers: [registry],
    collect() {
      this.reset();
      eachServer(sources, (l, s) => this.inc(l, s.health.ejections));
    },
  });
}

export function cacheMetrics(registry: Registry, sources: MetricsSources): void {
  new Counter({
    name: 'gatehouse_cache_lookups_total', help: 'Cache lookups (this proxy\'s cache) by result: hit, stale (served stale), revalidated, miss, bypass',
    labelNames: ['result'] as const, registers: [registry],
    collect() {
      const c = sources.cache();
      this.reset();
      if (!c) return;
      this.inc({ result: 'hit' }, c.hits);
      this.inc({ result: 'stale' }, c.stale);
      this.inc({ result: 'revalidated' }, c.revalidated);
      this.inc({ result: 'miss' }, c.misses);
      this.inc({ result: 'bypass' }, c.bypass);
    },
  });
}

export function listenerMetrics(registry: Registry, sources: MetricsSources): void {
  new Gauge({
    name: 'gatehouse_connections_open', help: 'Client connections open on an HTTP listener (HTTP/1.1 and HTTP/2)',
    labelNames: ['listener'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const l of sources.listeners?.() ?? []) if (l.open !== undefined) this.set({ listener: l.name }, l.open);
    },
  });
  // The soonest expiry wherever the name is served (`min`, over listeners and workers).
  new Gauge({
    name: 'gatehouse_tls_certificate_expiry_seconds', help: 'When the certificate served for a host name expires (its notAfter), unix seconds',
    labelNames: ['host'] as const, registers: [registry], aggregator: 'min',
    collect() {
      this.reset();
      const soonest = new Map<string, number>();
      for (const l of sources.listeners?.() ?? []) {
        for (const c of l.certificates) for (const host of c.names) soonest.set(host, Math.min(soonest.get(host) ?? Infinity, c.notAfter));
      }
      for (const [host, at] of soonest) this.set({ host }, at);
    },
  });
}
