/**
 * The figures of `gatehouse top`, from two samples of the admin API one interval apart: per route requests per
 * second, error % and p50/p99 latency over the interval (deltas of the request counter and the duration
 * histogram, observe/metrics.ts), per server its state and requests in flight (`GET /api/upstreams`), and its
 * rps and p99 when the proxy counts them (`gatehouse_upstream_request_duration_seconds`; absent from older
 * proxies, then shown as "-").
 */
import type { Sample } from './prom-text.js';
import { quantile } from '../core/figures.js';

/** One server as `GET /api/upstreams` lists it (the fields top reads). */
export interface ServerListing {
  id: string;
  up: boolean;
  draining?: boolean;
  inflight: number;
  latency_ms: number;
  health?: { active?: boolean };
}

export interface Snapshot {
  /** performance.now() when taken. */
  at: number;
  samples: Sample[];
  upstreams: { name: string; servers: ServerListing[] }[];
}

export interface RouteRow { route: string; upstreams: string[]; rps: number; errorPct?: number; p50?: number; p99?: number }
export interface ServerRow { upstream: string; server: string; state: string; inflight: number; latencyMs: number; rps?: number; p99?: number }
export interface Frame {
  intervalS: number;
  inflight?: number;
  routes: RouteRow[];
  servers: ServerRow[];
  /** The proxy counts requests per server (the metric exists). */
  perServer: boolean;
}

const REQUESTS = 'gatehouse_http_requests_total';
const DURATION = 'gatehouse_http_request_duration_seconds';
const SERVER_DURATION = 'gatehouse_upstream_request_duration_seconds';

const identity = (s: Sample): string => `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;

/**
 * The increase of each sample of `name` over the interval, summed by `key`. A counter lower than before (the
 * proxy restarted) counts from zero, as Prometheus's rate() does.
 */
function increases(prev: Snapshot, cur: Snapshot, name: string, key: (l: Record<string, string>) => string): Map<string, number> {
  const before = new Map(prev.samples.filter((s) => s.name === name).map((s) => [identity(s), s.value]));
  const out = new Map<string, number>();
  for (const s of cur.samples) {
    if (s.name !== name) continue;
    const was = before.get(identity(s)) ?? 0;
    const d = s.value >= was ? s.value - was : s.value;
    const k = key(s.labels);
    out.set(k, (out.get(k) ?? 0) + d);
  }
  return out;
}

/** Histogram buckets' increases by `key`, each a list of [upper bound, cumulative count] by bound. */
function bucketIncreases(prev: Snapshot, cur: Snapshot, name: string, key: (l: Record<string, string>) => string): Map<string, [number, number][]> {
  const byLe = increases(prev, cur, `${name}_bucket`, (l) => `${key(l)}\u0000${l.le}`);
  const out = new Map<string, Map<number, number>>();
  for (const [k, n] of byLe) {
    const i = k.lastIndexOf('\u0000');
    const le = k.slice(i + 1) === '+Inf' ? Infinity : Number(k.slice(i + 1));
    const m = out.get(k.slice(0, i)) ?? new Map<number, number>();
    m.set(le, (m.get(le) ?? 0) + n);
    out.set(k.slice(0, i), m);
  }
  return new Map([...out].map(([k, m]) => [k, [...m].sort((a, b) => a[0] - b[0])]));
}


function routeRows(prev: Snapshot, cur: Snapshot, dt: number): RouteRow[] {
  const total = increases(prev, cur, REQUESTS, (l) => l.route ?? '');
  const errors = increases(prev, cur, REQUESTS, (l) => (l.status_class === '5xx' ? l.route ?? '' : '\u0000'));
  const buckets = bucketIncreases(prev, cur, DURATION, (l) => l.route ?? '');
  const upstreams = new Map<string, Set<string>>();
  for (const s of cur.samples) {
    if (s.name !== REQUESTS) continue;
    const set = upstreams.get(s.labels.route ?? '') ?? new Set<string>();
    if (s.labels.upstream) set.add(s.labels.upstream);
    upstreams.set(s.labels.route ?? '', set);
  }
  const rows = [...total].map(([route, n]): RouteRow => {
    const b = buckets.get(route) ?? [];
    const p50 = quantile(b, 0.5);
    const p99 = quantile(b, 0.99);
    return {
      route, upstreams: [...upstreams.get(route) ?? []].sort(), rps: n / dt,
      ...(n > 0 ? { errorPct: (100 * (errors.get(route) ?? 0)) / n } : {}), ...(p50 !== undefined ? { p50 } : {}), ...(p99 !== undefined ? { p99 } : {}),
    };
  });
  return rows.sort((a, b) => b.rps - a.rps || (a.route < b.route ? -1 : 1));
}

function stateOf(s: ServerListing): string {
  if (s.draining) return 'draining';
  if (s.up) return 'up';
  return s.health?.active === false ? 'down' : 'ejected';
}

export function figures(prev: Snapshot, cur: Snapshot): Frame {
  const dt = Math.max(0.001, (cur.at - prev.at) / 1000);
  const perServer = cur.samples.some((s) => s.name.startsWith(SERVER_DURATION));
  const serverKey = (l: Record<string, string>): string => `${l.upstream ?? ''} ${l.server ?? ''}`;
  const serverCounts = increases(prev, cur, `${SERVER_DURATION}_count`, serverKey);
  const serverBuckets = bucketIncreases(prev, cur, SERVER_DURATION, serverKey);
  const servers = cur.upstreams.flatMap((u) => u.servers.map((s): ServerRow => {
    const key = `${u.name} ${s.id}`;
    const p99 = quantile(serverBuckets.get(key) ?? [], 0.99);
    return {
      upstream: u.name, server: s.id, state: stateOf(s), inflight: s.inflight, latencyMs: s.latency_ms,
      ...(perServer ? { rps: (serverCounts.get(key) ?? 0) / dt } : {}), ...(p99 !== undefined ? { p99 } : {}),
    };
  }));
  const inflight = cur.samples.find((s) => s.name === 'gatehouse_http_requests_in_flight')?.value;
  return { intervalS: dt, ...(inflight !== undefined ? { inflight } : {}), routes: routeRows(prev, cur, dt), servers, perServer };
}

export { quantile };
