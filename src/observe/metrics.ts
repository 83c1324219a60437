/**
 * Prometheus metrics (`GET /metrics` on the admin API): one prom-client Registry per Gatehouse instance, of the
 * process's lifetime (it outlives every config, as the upstream registry does), never prom-client's global one.
 * Requests are counted in the `logging` phase (plugin `metrics`, after the access log): every request, proxied,
 * answered by a route, redirected or failed, once. Labels stay bounded: route ids and upstream names come from
 * the config, methods outside the standard ones are `other`, statuses are classes (`2xx`); never a path.
 * Figures read from elsewhere (server health, cache counters, requests in flight) are read when scraped.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { definePlugin } from '../core/plugin.js';
import type { RequestCtx } from '../core/context.js';

/** What a scrape answers: the Prometheus text format and its content type. */
export interface MetricsText { contentType: string; text: string }

/** A registry's figures as JSON (prom-client `getMetricsAsJSON()`), as a worker sends them to its primary. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Where the figures not counted per request come from, read at each scrape. */
export interface MetricsSources {
  /** Upstreams and their servers (`id` = `host:port`), as the upstream registry lists them. */
  servers(): readonly { name: string; servers: readonly { id: string; up: boolean; removing?: true }[] }[];
  /** The shared cache's counters, once a config has made it. */
  cache(): { hits: number; misses: number; stale: number; revalidated: number; bypass: number } | undefined;
}

export interface Metrics {
  readonly registry: Registry;
  /** Counts a finished request (the `logging` phase). `upstream`: the route's upstream when the request has none. */
  requestDone(ctx: RequestCtx, upstream: string): void;
  /** A generation's request counter (server/handler.ts `Runtime.inflight`), summed into the in-flight gauge while tracked. */
  track(rt: { inflight: number }): void;
  untrack(rt: { inflight: number }): void;
  text(): Promise<MetricsText>;
  json(): Promise<MetricsJson>;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** Seconds: from 5 ms (a cache hit) to 30 s (a slow upstream); a long stream lands in +Inf. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Child { inc(): void; observe(seconds: number): void }

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'gatehouse_http_requests_total', help: 'HTTP requests finished, by route, upstream, method and status class',
    labelNames: ['route', 'upstream', 'method', 'status_class'] as const, registers: [registry],
  });
  const duration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds', help: 'Time from a request\'s arrival to the end of its response, by route, upstream and status class',
    labelNames: ['route', 'upstream', 'status_class'] as const, buckets: BUCKETS, registers: [registry],
  });
  const runtimes = new Set<{ inflight: number }>();
  new Gauge({
    name: 'gatehouse_http_requests_in_flight', help: 'HTTP requests received and not yet finished', registers: [registry],
    collect() {
      let n = 0;
      for (const rt of runtimes) n += rt.inflight;
      this.set(n);
    },
  });
  serverGauge(registry, sources);
  cacheCounter(registry, sources);
  // One child per label combination, made once: the hot path does one Map lookup.
  const children = new Map<string, Child>();
  function childFor(route: string, upstream: string, method: string, cls: string): Child {
    const key = `${route}\n${upstream}\n${method}\n${cls}`;
    let c = children.get(key);
    if (!c) {
      const counter = requests.labels(route, upstream, method, cls);
      const hist = duration.labels(route, upstream, cls);
      c = { inc: () => counter.inc(), observe: (s) => hist.observe(s) };
      children.set(key, c);
    }
    return c;
  }
  return {
    registry,
    requestDone(ctx, upstream) {
      const m = ctx.req.method ?? '';
      const status = ctx.status || ctx.res.statusCode;
      const c = childFor(ctx.route?.id ?? '', ctx.upstreamName ?? upstream, METHODS.has(m) ? m : 'other', CLASSES[Math.floor(status / 100) - 1] ?? 'other');
      c.inc();
      c.observe((performance.now() - ctx.start) / 1000);
    },
    track: (rt) => void runtimes.add(rt),
    untrack: (rt) => void runtimes.delete(rt),
    async text() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
    json: () => registry.getMetricsAsJSON() as Promise<MetricsJson>,
  };
}

/**
 * 1 when a server takes requests (up, not draining), else 0. Aggregated across workers with `min`: a server is
 * up only where every worker has it up (as `GET /api/upstreams` merges them).
 */
function serverGauge(registry: Registry, sources: MetricsSources): void {
  new Gauge({
    name: 'gatehouse_upstream_server_up', help: 'Whether an upstream server takes requests (1) or not (0: down, ejected or draining)',
    labelNames: ['upstream', 'server'] as const, registers: [registry], aggregator: 'min',
    collect() {
      this.reset();
      for (const u of sources.servers()) {
        // A server being removed and one added again at the same address: the new one is the one that counts.
        const ordered = [...u.servers.filter((s) => s.removing), ...u.servers.filter((s) => !s.removing)];
        for (const s of ordered) this.set({ upstream: u.name, server: s.id }, s.up ? 1 : 0);
      }
    },
  });
}

function cacheCounter(registry: Registry, sources: MetricsSources): void {
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

/**
 * The figures of every worker of a group as one (the primary's `GET /metrics`): counters and histograms summed,
 * `gatehouse_upstream_server_up` the minimum (aggregator `min`).
 */
export async function aggregateMetrics(lists: MetricsJson[]): Promise<MetricsText> {
  const merged = AggregatorRegistry.aggregate(lists);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

/** Options of the `metrics` plugin: the instance's metrics, and each route's upstream by route index. */
export interface MetricsPluginConfig { metrics: Metrics; upstreams: readonly string[] }

/** Plugin `metrics` (logging phase, last): counts every finished request. Without metrics, no hook. */
export const metricsPlugin = definePlugin<MetricsPluginConfig | undefined>({
  name: 'metrics',
  create(cfg) {
    if (!cfg) return {};
    const { metrics, upstreams } = cfg;
    return {
      global: {
        logging: (ctx) => metrics.requestDone(ctx, ctx.route ? upstreams[ctx.route.index] ?? '' : ''),
      },
    };
  },
});
