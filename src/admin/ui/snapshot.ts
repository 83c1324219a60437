/**
 * The dashboard's snapshot (`event: snapshot` of `GET /api/events`): routes, upstreams and servers with health
 * and live figures, the last 5xx requests and the config in force, all from what `AdminTarget` offers, so
 * that it reads the same from one process and from the primary of a group of workers.
 */
import type { ConfigLoad, MetricFamily, RecentError } from '../../core/figures.js';
import type { AdminTarget, ServerInfo } from '../../core/services.js';
import { figuresBetween, readHistogram, ROUTE_DURATION, SERVER_DURATION, UNKNOWN, type Figures, type Series } from './figures.js';

export type Health = 'healthy' | 'unhealthy' | 'draining';

export interface RouteFigures extends Figures { id: string; action: string; upstream: string | null }

export interface ServerFigures extends Figures {
  id: string; url: string; health: Health; inflight: number; weight: number; backup: boolean; source: string; removing: boolean;
}

export interface Snapshot {
  /** ms since the epoch. */
  time: number;
  /** Seconds the figures cover (up to `WINDOW_MS`); 0 until a second sample. */
  window: number;
  routes: RouteFigures[];
  upstreams: { name: string; servers: ServerFigures[] }[];
  errors: readonly RecentError[];
  config: { version: number; hash: string; lastReload: ConfigLoad | null };
}

/** The figures cover the last 10 s: steady enough to read, quick to show an outage. */
const WINDOW_MS = 10_000;

interface Sample { t: number; routes: Map<string, Series> | undefined; servers: Map<string, Series> | undefined }

const serverKey = (upstream: unknown, server: unknown): string => `${String(upstream)} ${String(server)}`;

/** Draining (or being removed) first: such a server is neither up nor failing. */
function healthOf(s: ServerInfo): Health {
  if (s.draining || s.removing) return 'draining';
  return s.up ? 'healthy' : 'unhealthy';
}

/** Keeps the samples of the last window and turns them into snapshots. */
export function createSampler(target: AdminTarget): { sample(): Promise<Snapshot> } {
  const samples: Sample[] = [];
  function remember(families: readonly MetricFamily[] | undefined, t: number): { now: Sample; before: Sample | undefined } {
    const now: Sample = {
      t,
      routes: families && readHistogram(families, ROUTE_DURATION, (l) => (l.route === undefined ? undefined : String(l.route))),
      servers: families && readHistogram(families, SERVER_DURATION, (l) => serverKey(l.upstream, l.server)),
    };
    // Samples from before a pause in sampling (no dashboard open for a while) would make a window of hours.
    while (samples.length > 0 && samples[0]!.t < t - 2 * WINDOW_MS) samples.shift();
    samples.push(now);
    // The oldest sample kept is the first one inside the window (or the only one before now).
    while (samples.length > 2 && samples[1]!.t <= t - WINDOW_MS) samples.shift();
    return { now, before: samples.length > 1 ? samples[0] : undefined };
  }
  return {
    async sample() {
      const [families, upstreams, errors] = await Promise.all([target.metricsJson?.(), target.upstreams(), target.recentErrors?.() ?? []]);
      const { now, before } = remember(families, Date.now());
      const seconds = before ? (now.t - before.t) / 1000 : 0;
      const between = (of: 'routes' | 'servers', key: string): Figures =>
        now[of] ? figuresBetween(now[of].get(key), before?.[of]?.get(key), seconds) : UNKNOWN;
      const cfg = target.config();
      return {
        time: now.t,
        window: seconds,
        routes: target.routes().map((r) => ({ id: r.id, action: r.action, upstream: r.upstream ?? null, ...between('routes', r.id) })),
        upstreams: upstreams.map((u) => ({
          name: u.name,
          servers: u.servers.map((s) => ({
            id: s.id, url: s.url, health: healthOf(s), inflight: s.inflight, weight: s.weight, backup: s.backup, source: s.source,
            removing: s.removing === true, ...between('servers', serverKey(u.name, s.id)),
          })),
        })),
        errors,
        config: { version: cfg.version, hash: cfg.hash, lastReload: target.lastReload?.() ?? null },
      };
    },
  };
}
