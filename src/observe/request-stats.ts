/**
 * The figures counted per request (by route) and per upstream attempt (by server), kept as plain numbers that
 * the hot path adds to: a request finds its route's record by index and its method with one Map lookup, and
 * builds no label string (a prom-client child hashes its labels on every call). A scrape turns the records into
 * samples in prom-client's JSON form, which the registry prints and the primary of a group merges like any other.
 */
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import type { Peer } from '../core/services.js';

type Sample = MetricValue<string> & { metricName?: string };

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'other'];
const METHOD_INDEX = new Map(METHODS.slice(0, -1).map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length - 1;
/** Status classes by index; the sixth is `other` for a request, `error` for an attempt that got no response. */
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const N_CLASSES = CLASSES.length + 1;

/** Seconds: from 5 ms (a cache hit) to 30 s (a slow upstream); a long stream lands in +Inf. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Status → class index: 0-4 for 1xx-5xx, 5 for anything else (0: no response). */
function classOf(status: number): number {
  const c = Math.floor(status / 100) - 1;
  return c >= 0 && c < 5 ? c : 5;
}

class Histogram {
  /** Observations per bucket (not cumulative: made so when scraped). */
  readonly counts = new Float64Array(BUCKETS.length);
  sum = 0;
  count = 0;
  observe(v: number): void {
    let i = 0;
    while (i < BUCKETS.length && v > BUCKETS[i]!) i++;
    if (i < BUCKETS.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
  samples(name: string, labels: Record<string, string>, out: Sample[]): void {
    let acc = 0;
    for (let i = 0; i < BUCKETS.length; i++) {
      acc += this.counts[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: BUCKETS[i]! }, value: acc });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: this.count });
    out.push({ metricName: `${name}_sum`, labels, value: this.sum });
    out.push({ metricName: `${name}_count`, labels, value: this.count });
  }
}

/** One route's figures; the same record for the same route id and upstream across reloads. */
export class RouteRecord {
  /** Requests by method × status class. */
  readonly requests = new Float64Array(METHODS.length * N_CLASSES);
  readonly durations: (Histogram | undefined)[] = [];
  bytesIn = 0;
  bytesOut = 0;
  constructor(readonly route: string, readonly upstream: string) {}
}

class ServerRecord {
  /** Attempt durations by status class (the sixth: `error`). */
  readonly attempts: (Histogram | undefined)[] = [];
  constructor(readonly upstream: string, readonly server: string) {}
}

export interface RequestStats {
  /** The record of a route, looked up once per route and config (never per request). */
  route(id: string, upstream: string): RouteRecord;
  /** A finished request. */
  request(r: RouteRecord, method: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void;
  /** One attempt to `peer` of `upstream`; `status` 0: it failed before or instead of a whole response. */
  attempt(upstream: string, peer: Peer, status: number, seconds: number): void;
}

/** A metric whose samples are made when scraped, registered as prom-client registers its own. */
function collected(registry: Registry, m: { name: string; help: string; type: 'counter' | 'histogram' }, fill: (out: Sample[]) => void): void {
  const metric = {
    ...m, aggregator: 'sum' as const,
    get: async (): Promise<MetricObjectWithValues<Sample>> => {
      const values: Sample[] = [];
      fill(values);
      // prom-client's types give `type` as an enum; at run time (and in its text format) it is the name.
      return { ...m, aggregator: 'sum', values } as unknown as MetricObjectWithValues<Sample>;
    },
    reset: () => undefined,
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

/**
 * Registers the per-request and per-attempt metrics in `registry`. `live(upstream, server)`: whether a server is
 * still listed; the series of one that left end at the next scrape.
 */
export function requestStats(registry: Registry, live: () => ReadonlySet<string>): RequestStats {
  const routes = new Map<string, RouteRecord>();
  const servers = new Map<string, ServerRecord>();
  const byPeer = new WeakMap<Peer, ServerRecord>();
  const routeLabels = (r: RouteRecord): Record<string, string> => ({ route: r.route, upstream: r.upstream });

  collected(registry, { name: 'gatehouse_http_requests_total', help: 'HTTP requests finished, by route, upstream, method and status class', type: 'counter' }, (out) => {
    for (const r of routes.values()) {
      for (let i = 0; i < r.requests.length; i++) {
        const n = r.requests[i]!;
        if (n > 0) out.push({ labels: { ...routeLabels(r), method: METHODS[Math.floor(i / N_CLASSES)]!, status_class: CLASSES[i % N_CLASSES] ?? 'other' }, value: n });
      }
    }
  });
  collected(registry, { name: 'gatehouse_http_request_duration_seconds', help: 'Time from a request\'s arrival to the end of its response, by route, upstream and status class', type: 'histogram' }, (out) => {
    for (const r of routes.values()) {
      r.durations.forEach((h, c) => h?.samples('gatehouse_http_request_duration_seconds', { ...routeLabels(r), status_class: CLASSES[c] ?? 'other' }, out));
    }
  });
  collected(registry, { name: 'gatehouse_http_request_bytes_total', help: 'Request body bytes received from clients, by route and upstream', type: 'counter' }, (out) => {
    for (const r of routes.values()) out.push({ labels: routeLabels(r), value: r.bytesIn });
  });
  collected(registry, { name: 'gatehouse_http_response_bytes_total', help: 'Response body bytes sent to clients, by route and upstream', type: 'counter' }, (out) => {
    for (const r of routes.values()) out.push({ labels: routeLabels(r), value: r.bytesOut });
  });
  const attemptHelp = 'Attempts to upstream servers (retries each count), by status class of the response head (error: no head, '
    + 'a connect failure, timeout or reset): seconds to the response head, or to the failure';
  collected(registry, { name: 'gatehouse_upstream_request_duration_seconds', help: attemptHelp, type: 'histogram' }, (out) => {
    const listed = live();
    for (const [key, s] of servers) {
      if (!listed.has(key)) { servers.delete(key); continue; }
      s.attempts.forEach((h, c) => h?.samples('gatehouse_upstream_request_duration_seconds', { upstream: s.upstream, server: s.server, status_class: CLASSES[c] ?? 'error' }, out));
    }
  });

  return {
    route(id, upstream) {
      const key = `${id}\n${upstream}`;
      let r = routes.get(key);
      if (!r) routes.set(key, (r = new RouteRecord(id, upstream)));
      return r;
    },
    request(r, method, status, seconds, bytesIn, bytesOut) {
      const c = classOf(status);
      r.requests[(METHOD_INDEX.get(method) ?? OTHER_METHOD) * N_CLASSES + c]!++;
      (r.durations[c] ??= new Histogram()).observe(seconds);
      r.bytesIn += bytesIn;
      r.bytesOut += bytesOut;
    },
    attempt(upstream, peer, status, seconds) {
      let s = byPeer.get(peer);
      if (!s) {
        const key = serverKey(upstream, peer.id);
        s = servers.get(key);
        if (!s) servers.set(key, (s = new ServerRecord(upstream, peer.id)));
        byPeer.set(peer, s);
      }
      (s.attempts[classOf(status)] ??= new Histogram()).observe(seconds);
    },
  };
}

/** The key `live()` lists a server by. */
export function serverKey(upstream: string, server: string): string {
  return `${upstream}\n${server}`;
}
