/**
 * A group of worker processes (`workers: N | auto`, docs/operations.md), both sides of it.
 * - A worker: a whole Gatehouse on the config file, whose listeners node:cluster shares with the other workers.
 *   The primary calls it over IPC (cluster/ipc.ts) to list and change servers, reload, purge; its rate limits are
 *   counted in the primary (one count for the group) unless `state.redis` counts them in Redis.
 * - The primary (`startPrimary`): forks and keeps the workers (cluster/group.ts) and holds the admin API for the
 *   group, whose answers cover every worker: servers listed with the in-flight requests of all, changes made in
 *   all (and recorded in the overlay), the cache purged in all. Signals are the command's (cli/primary.ts).
 */
import type { Logger } from 'pino';
import { memoryStore, type RateDecision, type RateStore } from './protect/index.js';
import type { Gatehouse, WorkerHooks } from './gatehouse.js';
import type { GatehouseConfig } from './schema.js';
import { startAdmin, type AdminServer } from './admin/index.js';
import { adminOverlay, adminTarget, normalPurge, packageVersion } from './admin-target.js';
import { needsCache, sharedCacheTier } from './actions.js';
import { aggregateMetrics, aggregateMetricsJson, groupMetrics, mergeRecentErrors, primaryMetrics, type MetricsJson } from './observe/index.js';
import { createGroup, workerCount, type Group } from './cluster/group.js';
import { fleetPurges, fleetRegistry, sharedStateHolder, type FleetPurges } from './cluster/index.js';
import { isOurs, wireError, type FromWorker, type ToWorker, type WireError, type WorkerCall } from './cluster/ipc.js';
import { PurgeError, RegistryError, type SharedCacheTier, type AdminCache, type CachePurge, type AdminRegistry, type AdminTarget, type CacheStats, type ServerInfo, type UpstreamInfo } from './core/services.js';
import type { RecentError } from './core/figures.js';

export { workerCount } from './cluster/group.js';
export { WORKER_ENV } from './cluster/ipc.js';

/**
 * How long a worker handing over (a rolling restart) keeps idle keep-alive connections open: a client's next
 * request on one within it gets `Connection: close` and goes to a new worker, instead of a closed connection.
 */
const HANDOFF_LINGER_MS = 1000;

/** How long a stopped worker stays alive to refuse connections handed to it after its listeners closed. */
const EXIT_GRACE_MS = 200;

/** Longest wait for a stopping worker's last metrics (sent to the primary once drained, before it exits). */
const FINAL_METRICS_MS = 1000;

/** Longest wait for the primary's rate decision; past it the worker decides alone (logged once per outage). */
const RATE_TIMEOUT_MS = 250;

function send(m: FromWorker): void {
  process.send?.(m);
}

/** What a worker's Gatehouse is given (gatehouse.ts `WorkerHooks`), and `purgeRemote` once it is bound. */
export function workerHooks(log: Logger, slot: number): WorkerHooks & { purgeRemote(req: CachePurge): number } {
  let bound: { purgeRemote(req: CachePurge): number } | undefined;
  return {
    rates: primaryRates(log),
    slot,
    purged: (req) => send({ gh: 1, t: 'purged', req }),
    bind: (h) => { bound = h; },
    purgeRemote: (req) => bound?.purgeRemote(req) ?? 0,
  };
}

/** Rate decisions made in the primary for the whole group (`routes[].rate_limit` without `state.redis`). */
function primaryRates(log: Logger): { store(maxKeys: number): RateStore } {
  let next = 0;
  let alone = false;
  const pending = new Map<number, (d: RateDecision | undefined) => void>();
  process.on('message', (m: unknown) => {
    if (!isOurs<ToWorker>(m) || m.t !== 'rate') return;
    pending.get(m.id)?.(m.decision);
  });
  return {
    store(maxKeys) {
      const local = memoryStore({ maxKeys });
      return {
        take(key, interval, burst) {
          const id = ++next;
          return new Promise<RateDecision>((resolve) => {
            const timer = setTimeout(() => done(undefined), RATE_TIMEOUT_MS);
            timer.unref();
            function done(d: RateDecision | undefined): void {
              pending.delete(id);
              clearTimeout(timer);
              if (d) {
                if (alone) { alone = false; log.info('rate limits: the primary answers again, counting for the group'); }
                return resolve(d);
              }
              if (!alone) { alone = true; log.warn('rate limits: the primary did not answer in time, this worker counts alone until it does'); }
              resolve(local.take(key, interval, burst) as RateDecision);
            }
            pending.set(id, done);
            send({ gh: 1, t: 'rate', id, key, interval, burst, maxKeys });
          });
        },
        size: () => local.size(),
        close: () => local.close(),
      };
    },
  };
}

async function answer(gh: Gatehouse, call: WorkerCall, reload: () => Promise<GatehouseConfig>, hooks: ReturnType<typeof workerHooks>): Promise<unknown> {
  const r = gh.registry;
  switch (call.op) {
    case 'list': return r.list();
    case 'get': return r.get(call.upstream) ?? null;
    case 'add': return r.addServer(call.upstream, call.spec);
    case 'drain': return r.drainServer(call.upstream, call.id);
    case 'enable': return r.enableServer(call.upstream, call.id);
    case 'remove':
      // Answered once draining has begun; the server leaves when idle.
      r.removeServer(call.upstream, call.id).catch(() => undefined);
      return null;
    case 'reload':
      await gh.reload(await reload());
      return null;
    case 'purge': return call.remote ? hooks.purgeRemote(call.req) : gh.cache?.purge(call.req) ?? 0;
    case 'cache': return gh.cache?.stats() ?? null;
    case 'metrics': return gh.metrics.json();
    case 'errors': return gh.recentErrors();
  }
}

/**
 * Tells the primary this worker is serving, then answers its calls; stops (draining) when it says so, or when
 * the primary is gone (the IPC channel closed).
 */
export function serveWorker(gh: Gatehouse, opts: { log: Logger; reload: () => Promise<GatehouseConfig>; hooks: ReturnType<typeof workerHooks> }): void {
  const { log } = opts;
  let stopping = false;
  const stop = (why: string, handoff = false): void => {
    if (stopping) return;
    stopping = true;
    log.info(`${why}: finishing in-flight requests (up to ${gh.config.shutdown.timeout} ms)`);
    // Alive a moment after its listeners closed: under round-robin scheduling (NODE_CLUSTER_SCHED_POLICY=rr), a
    // connection the primary handed over meanwhile is refused, and so dealt to another worker, instead of lost.
    // Drained, its last counts go to the primary (before the upstream registry closes: it lists the servers).
    gh.stop({ ...(handoff ? { lingerMs: HANDOFF_LINGER_MS } : {}), drained: () => sendFinal(gh, log) })
      .finally(() => setTimeout(() => process.exit(0), EXIT_GRACE_MS));
  };
  process.on('message', (m: unknown) => {
    if (!isOurs<ToWorker>(m)) return;
    if (m.t === 'stop') return stop(m.handoff ? 'replaced by a new worker' : 'asked to stop by the primary', m.handoff);
    if (m.t !== 'call') return;
    answer(gh, m.call, opts.reload, opts.hooks).then(
      (value) => send({ gh: 1, t: 'reply', id: m.id, ok: true, value }),
      (err: unknown) => send({ gh: 1, t: 'reply', id: m.id, ok: false, error: wireError(err) }),
    );
  });
  process.on('disconnect', () => stop('the primary process is gone'));
  send({ gh: 1, t: 'ready' });
}

/**
 * A worker told to stop, drained: its metrics for the primary, which keeps them in the group's totals once it
 * has left (observe/group-metrics.ts). Waits until the message is written, up to FINAL_METRICS_MS.
 */
async function sendFinal(gh: Gatehouse, log: Logger): Promise<void> {
  if (!process.connected) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => { timer = setTimeout(r, FINAL_METRICS_MS).unref(); });
  const sent = gh.metrics.json().then((metrics) => new Promise<void>((r) => {
    if (!process.connected) return r();
    process.send?.({ gh: 1, t: 'final', metrics } satisfies FromWorker, undefined, {}, () => r());
  })).catch((err: unknown) => log.warn({ err }, 'could not send the last metrics to the primary: the counts since its last scrape are lost'));
  await Promise.race([sent, late]);
  clearTimeout(timer);
}

function fromWire(e: WireError): Error {
  if (e.name === 'RegistryError') return new RegistryError(e.message, e.code === 'not_found' ? 'not_found' : 'invalid');
  if (e.name === 'PurgeError') return new PurgeError(e.message);
  return new Error(e.message);
}

/** One server as the group sees it: requests in flight in every worker; up only where every worker has it up. */
function mergeServer(s: ServerInfo, others: ServerInfo[]): ServerInfo {
  return {
    ...s,
    inflight: others.reduce((n, o) => n + o.inflight, s.inflight),
    up: others.every((o) => o.up) && s.up,
    idle: others.every((o) => o.idle) && s.idle,
    latency_ms: Math.round(others.reduce((n, o) => n + o.latency_ms, s.latency_ms) / (others.length + 1)),
  };
}

/** Every worker's upstreams merged into one list (the first worker's servers, with the others' figures). */
export function mergeUpstreams(lists: UpstreamInfo[][]): UpstreamInfo[] {
  const [first, ...rest] = lists;
  if (!first) return [];
  return first.map((u) => ({
    name: u.name,
    servers: u.servers.map((s) => mergeServer(s, rest.flatMap((l) => {
      const o = l.find((x) => x.name === u.name)?.servers.find((x) => x.id === s.id && x.removing === s.removing);
      return o ? [o] : [];
    }))),
  }));
}

/** Numbers summed field by field (the cache figures of every worker); the hit ratio recomputed. */
function sumStats(all: CacheStats[]): CacheStats | undefined {
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, add(v, (b as Record<string, unknown>)[k])]));
    }
    return a;
  };
  const [first, ...rest] = all;
  if (!first) return undefined;
  const total = rest.reduce((acc, s) => add(acc, s) as CacheStats, first);
  const c = total.counters;
  const found = c.hits + c.stale + c.revalidated;
  return { ...total, hit_ratio: found + c.misses ? found / (found + c.misses) : 0 };
}

function groupRegistry(group: Group): AdminRegistry {
  return {
    async get(name) {
      const first = group.ready()[0];
      return first ? ((await group.call(first, { op: 'get', upstream: name })) as UpstreamInfo | null) ?? undefined : undefined;
    },
    addServer: async (upstream, spec) => (await group.broadcast({ op: 'add', upstream, spec })) as ServerInfo,
    drainServer: async (upstream, id) => (await group.broadcast({ op: 'drain', upstream, id })) as ServerInfo,
    enableServer: async (upstream, id) => (await group.broadcast({ op: 'enable', upstream, id })) as ServerInfo,
    removeServer: async (upstream, id) => { await group.broadcast({ op: 'remove', upstream, id }); },
  };
}

function groupCache(group: Group, purges: () => FleetPurges | undefined, tier?: SharedCacheTier): AdminCache {
  return {
    // Each worker holds its own copy of an object: the count is one worker's.
    async purge(req) {
      const normal = normalPurge(req);
      const n = (await group.broadcast({ op: 'purge', req: normal, remote: true })) as number;
      purges()?.publish(normal);
      // The workers applied it as a remote purge: the shared tier (`cache.redis`) is purged here, once.
      tier?.purge(normal);
      return n;
    },
    stats: async () => sumStats(((await group.gather({ op: 'cache' })) as (CacheStats | null)[]).filter((s): s is CacheStats => s !== null))
      ?? ({ enabled: true } as CacheStats),
  };
}

export interface Primary {
  group: Group;
  target: AdminTarget;
  admin: AdminServer | undefined;
  /** The config the group runs (the last one applied). */
  config(): GatehouseConfig;
  restart(): Promise<{ workers: number }>;
  /** Stops the workers (draining up to `timeoutMs`), then the admin API; writes the overlay. */
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Forks the workers and waits until each one listens, then starts the admin API for the group. Rejects (nothing
 * left running) when a worker exits before listening or the admin API cannot start.
 */
export async function startPrimary(opts: { file: string; config: GatehouseConfig; log: Logger; load(): Promise<GatehouseConfig> }): Promise<Primary> {
  const { log, file } = opts;
  let config = opts.config;
  let version = 1;
  // The primary's own figures: reloads happen here, applied in every worker (which count none).
  const own = primaryMetrics();
  // Each worker's last figures, and the departed workers' counts: the group's counters never fall.
  const figures = groupMetrics();
  // One count for the group: the primary's memory stores (one per bound of keys), as one process would keep.
  const rates = new Map<number, RateStore>();
  let purges: FleetPurges | undefined;
  const group = createGroup({
    log, fromWire,
    purged(from, req) {
      // A worker's PURGE or invalidation: the other workers, then the other instances.
      group.tellOthers(from, { op: 'purge', req, remote: true });
      purges?.publish(req);
    },
    rate(q) {
      let store = rates.get(q.maxKeys);
      if (!store) rates.set(q.maxKeys, (store = memoryStore({ maxKeys: q.maxKeys })));
      return store.take(q.key, q.interval, q.burst) as RateDecision;
    },
    final: (m, metrics) => figures.seen(m.worker.id, metrics as MetricsJson, Infinity),
    left: (m) => figures.left(m.worker.id),
  });
  /** The figures to merge: every worker's, read now (or last, if it did not answer), the departed's, the primary's. */
  const metricsLists = async (): Promise<MetricsJson[]> => {
    for (const a of await group.gatherEach({ op: 'metrics' })) figures.seen(a.member.worker.id, a.value as MetricsJson, a.order);
    return [...figures.lists(), await own.json()];
  };
  const n = workerCount(config.workers);
  log.info({ workers: n, pid: process.pid }, `primary process: starting ${n} workers`);
  await group.start(n);
  log.info({ workers: n }, `${n} workers listening`);

  async function apply(next: GatehouseConfig): Promise<void> {
    await group.broadcast({ op: 'reload' });
    const before = config;
    config = next;
    version++;
    if (JSON.stringify(next.admin) !== JSON.stringify(before.admin)) log.warn('admin settings changed: restart the primary to apply them');
    const want = workerCount(next.workers);
    if (want !== group.members().length) {
      log.info({ workers: want }, `workers: ${group.members().length} → ${want}`);
      await group.resize(want);
    }
    void fleet?.rebuild();
  }

  const overlay = config.admin ? adminOverlay(config, file, log) : undefined;
  const registry = groupRegistry(group);
  const restart = async (): Promise<{ workers: number }> => {
    // A new worker reads the overlay file: every change recorded so far is written before it starts.
    await overlay?.flush();
    return group.restart();
  };
  const recorded = overlay ? overlay.record(registry) : registry;
  // With `state.redis` too, the group's API changes are shared with every instance on that Redis (cluster/fleet.ts).
  const shared = sharedStateHolder(log);
  const state = shared.get(config);
  const fleet = config.admin ? fleetRegistry(recorded, state, log) : undefined;
  purges = state && fleetPurges({ redis: state.redis, prefix: state.prefix, log, apply: (req) => group.tellOthers(undefined, { op: 'purge', req, remote: true }) });
  const tier = sharedCacheTier(config, state, log);
  await fleet?.rebuild();
  const target = adminTarget({
    config: () => config,
    version: () => version,
    upstreams: async () => mergeUpstreams((await group.gather({ op: 'list' })) as UpstreamInfo[][]),
    ready: () => group.ready().length > 0,
    load: opts.load,
    apply: (next) => own.reloads.track(apply(next), () => version),
    reloads: own.reloads,
    registry: fleet?.registry ?? recorded,
    cache: () => (needsCache(config) ? groupCache(group, () => purges, tier) : undefined),
    restart,
    // Counters and histograms summed over the workers, those gone included; a server is up only where every
    // worker has it up (min); the primary's reload figures once.
    metrics: async () => aggregateMetrics(await metricsLists()),
    metricsJson: async () => aggregateMetricsJson(await metricsLists()),
    recentErrors: async () => mergeRecentErrors((await group.gather({ op: 'errors' })) as RecentError[][]),
  });
  /** What the primary holds in Redis, closed once the workers are gone. */
  const closeShared = async (): Promise<void> => {
    await fleet?.close();
    await purges?.close();
    await tier?.close();
    await shared.close();
  };
  let admin: AdminServer | undefined;
  if (config.admin) {
    try {
      admin = await startAdmin(config.admin, target, { log, version: packageVersion() });
    } catch (err) {
      await group.stop(0);
      await closeShared();
      throw err;
    }
  }
  return {
    group, target, admin, restart,
    config: () => config,
    async stop(timeoutMs) {
      await group.stop(timeoutMs);
      await admin?.close();
      await overlay?.flush();
      await closeShared();
      for (const s of rates.values()) s.close();
    },
  };
}
