/**
 * Prometheus metrics (`GET /metrics` on the admin API): one prom-client Registry per Gatehouse instance, of the
 * process's lifetime (it outlives every config, as the upstream registry does), never prom-client's global one.
 * Requests are counted in the `logging` phase (plugin `metrics`, after the access log): every request, proxied,
 * answered by a route, redirected or failed, once. The listeners and the forwarder report through `meter`
 * (core/services.ts ProxyMeter). Labels stay bounded: route ids, upstream, server and listener names come from
 * the config or the registry, methods outside the standard ones are `other`, statuses are classes (`2xx`),
 * refusals one of a closed list of reasons; never a path. Figures kept elsewhere are read when scraped.
 */
import { performance } from 'node:perf_hooks';
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { kRejected, type RequestCtx } from '../core/context.js';
import { definePlugin } from '../core/plugin.js';
import type { ProxyMeter, RejectReason } from '../core/services.js';
import { reloadLog, type ReloadLog } from './reload-log.js';
import { requestStats, serverKey, type RouteRecord } from './request-stats.js';
import { cacheMetrics, listenerMetrics, serverMetrics, type MetricsSources } from './scraped.js';

export type { MetricsSources } from './scraped.js';
export type { ReloadLog } from './reload-log.js';
export type { RouteRecord } from './request-stats.js';

/** What a scrape answers: the Prometheus text format and its content type. */
export interface MetricsText { contentType: string; text: string }

/** A registry's figures as JSON (prom-client `getMetricsAsJSON()`), as a worker sends them to its primary. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export interface Metrics {
  readonly registry: Registry;
  /** What the listeners and the forwarder report (connections, TLS handshakes, attempts, retries, refusals). */
  readonly meter: ProxyMeter;
  /** Config reloads; undefined in a worker of a group, whose primary counts them. */
  readonly reloads: ReloadLog | undefined;
  /** The figures of a route: looked up once per route and config, then handed to `requestDone`. */
  route(id: string, upstream: string): RouteRecord;
  /** Counts a finished request (the `logging` phase) on its route's record. */
  requestDone(ctx: RequestCtx, route: RouteRecord): void;
  /** A generation's request counter (server/handler.ts `Runtime.inflight`), summed into the in-flight gauge while tracked. */
  track(rt: { inflight: number }): void;
  untrack(rt: { inflight: number }): void;
  text(): Promise<MetricsText>;
  json(): Promise<MetricsJson>;
}

/** Every reason a refusal is counted under; each starts at 0, so that `rate()` sees the series from the start. */
const REASONS: readonly RejectReason[] = [
  'rate_limited', 'connection_limit', 'overloaded', 'upstream_overflow', 'body_too_large', 'headers_too_large',
  'uri_too_long', 'ip_denied', 'auth_failed', 'request_rules', 'client_timeout', 'bad_request',
];

/** The refusals among the proxy's own error codes (core/errors.ts), by reason. */
const REASON_OF = new Map<string, RejectReason>([
  ['GH_RATE_LIMITED', 'rate_limited'], ['GH_OVERLOADED', 'overloaded'], ['GH_UPSTREAM_OVERLOADED', 'upstream_overflow'],
  ['GH_BODY_TOO_LARGE', 'body_too_large'], ['GH_HEADERS_TOO_LARGE', 'headers_too_large'], ['GH_URI_TOO_LONG', 'uri_too_long'],
  ['GH_ACCESS_DENIED', 'ip_denied'], ['GH_UNAUTHORIZED', 'auth_failed'], ['GH_REQUEST_BLOCKED', 'request_rules'],
  ['GH_REQUEST_DENIED', 'request_rules'], ['GH_BODY_TIMEOUT', 'client_timeout'], ['GH_BAD_REQUEST', 'bad_request'],
]);

/** `reloads`: count config reloads here (false in a worker of a group). */
export function createMetrics(sources: MetricsSources, opts: { reloads?: boolean } = {}): Metrics {
  const registry = new Registry();
  const stats = requestStats(registry, () => {
    const listed = new Set<string>();
    for (const u of sources.servers()) for (const s of u.servers) listed.add(serverKey(u.name, s.id));
    return listed;
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
  serverMetrics(registry, sources);
  cacheMetrics(registry, sources);
  listenerMetrics(registry, sources);
  const meter = eventCounters(registry, stats.attempt);
  const reloads = opts.reloads === false ? undefined : reloadLog(registry);
  return {
    registry, meter, reloads,
    route: stats.route,
    requestDone(ctx, route) {
      const status = ctx.status || ctx.res.statusCode;
      stats.request(route, ctx.req.method, status, ((ctx.end || performance.now()) - ctx.start) / 1000, ctx.bytesIn, ctx.bytesOut);
      if (status < 300) return;
      const err = ctx.error;
      const reason = err ? REASON_OF.get(err.code) : ctx.get(kRejected);
      if (reason !== undefined) meter.rejected(reason);
    },
    track: (rt) => void runtimes.add(rt),
    untrack: (rt) => void runtimes.delete(rt),
    async text() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
    json: () => registry.getMetricsAsJSON() as Promise<MetricsJson>,
  };
}

/** The counters of events reported through the meter (none per request on the hot path). */
function eventCounters(registry: Registry, attempt: ProxyMeter['attempt']): ProxyMeter {
  const counter = <L extends string>(name: string, help: string, label: L): Counter<L> =>
    new Counter({ name, help, labelNames: [label] as const, registers: [registry] });
  const retries = counter('gatehouse_upstream_retries_total', 'Retries: attempts sent to another server after one failed or answered with a status in retry_on_status', 'upstream');
  const refusedRetries = counter('gatehouse_upstream_retry_budget_exhausted_total', 'Retries not sent because the upstream\'s retry budget was spent', 'upstream');
  const connections = counter('gatehouse_connections_total', 'Client connections accepted by an HTTP listener', 'listener');
  const handshakes = counter('gatehouse_tls_handshakes_total', 'TLS handshakes on the listeners, by result: ok, failed', 'result');
  const rejections = counter('gatehouse_rejections_total', 'Requests and connections the proxy refused itself, by reason (docs/operations.md)', 'reason');
  for (const reason of REASONS) rejections.inc({ reason }, 0);
  for (const result of ['ok', 'failed']) handshakes.inc({ result }, 0);
  // Children bound once: a connection or a handshake does not hash its labels (as request-stats.ts avoids).
  const [handshakeOk, handshakeFailed] = [handshakes.labels('ok'), handshakes.labels('failed')];
  const byListener = new Map<string, { inc(): void }>();
  const spans = counter('gatehouse_tracing_spans_total', 'Spans given to the OTLP exporter, by result: exported (taken by the receiver), dropped (queue full), failed (export refused or timed out)', 'result');
  return {
    attempt,
    retry: (upstream, sent) => (sent ? retries : refusedRetries).inc({ upstream }),
    connection(listener) {
      let c = byListener.get(listener);
      if (!c) byListener.set(listener, (c = connections.labels(listener)));
      c.inc();
    },
    handshake: (ok) => (ok ? handshakeOk : handshakeFailed).inc(),
    rejected: (reason) => rejections.inc({ reason }),
    spans: (result, n) => spans.inc({ result }, n),
  };
}

/**
 * The figures of every worker of a group as one (the primary's `GET /metrics`), with the primary's own (config
 * reloads): counters and histograms summed, gauges as each one's `aggregator` says (server up: the minimum…).
 */
export async function aggregateMetrics(lists: MetricsJson[]): Promise<MetricsText> {
  const merged = AggregatorRegistry.aggregate(lists);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

/** The primary's own metrics (config reloads, which happen there), merged with the workers' by `aggregateMetrics`. */
export function primaryMetrics(): { reloads: ReloadLog; json(): Promise<MetricsJson> } {
  const registry = new Registry();
  const reloads = reloadLog(registry);
  return { reloads, json: () => registry.getMetricsAsJSON() as Promise<MetricsJson> };
}

/** Options of the `metrics` plugin: the instance's metrics, and each route's upstream by route index. */
export interface MetricsPluginConfig { metrics: Metrics; upstreams: readonly string[] }

/** Plugin `metrics` (logging phase, last): counts every finished request. Without metrics, no hook. */
export const metricsPlugin = definePlugin<MetricsPluginConfig | undefined>({
  name: 'metrics',
  create(cfg) {
    if (!cfg) return {};
    const { metrics, upstreams } = cfg;
    // Each route's record, found on its first request of this config: a request then indexes an array.
    const records: (RouteRecord | undefined)[] = [];
    let unrouted: RouteRecord | undefined;
    return {
      global: {
        logging(ctx) {
          const r = ctx.route;
          metrics.requestDone(ctx, r ? (records[r.index] ??= metrics.route(r.id, upstreams[r.index] ?? '')) : (unrouted ??= metrics.route('', '')));
        },
      },
    };
  },
});
