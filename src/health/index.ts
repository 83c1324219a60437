/**
 * Health: active probes and passive outlier detection, keeping each Peer's `up` flag.
 * A server is up when it passes active checks (or has none) and is not ejected. Passive: `failures`
 * consecutive failed attempts eject it for `ejection`, doubling on each repeat (up to 10×), never more than
 * `max_ejected_percent` of the pool at once; an active check that passes ends an ejection early (as Envoy).
 * Provides a PeerObserver (core/services.ts) for the forwarder; no phases hooked.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AttemptOutcome, Peer, PeerMonitor, ServerHealth } from '../core/services.js';
import { createProbe, type CheckResult } from './active.js';
import type { HealthConfig } from './schema.js';

export * from './schema.js';

export type PeerHealth = ServerHealth;

export type HealthChecker = PeerMonitor;

export function createHealth(
  upstream: string, peers: readonly Peer[], cfg: HealthConfig | undefined, log: Logger, connect: Record<string, unknown> = {},
): HealthChecker {
  const state = new Map<Peer, PeerHealth & { rise: number; fall: number; ejectTimer?: NodeJS.Timeout }>();
  const fresh = (): PeerHealth & { rise: number; fall: number } => ({ active: true, ejectedUntil: 0, ejections: 0, consecutiveFailures: 0, rise: 0, fall: 0 });
  for (const p of peers) state.set(p, fresh());
  /** Each probed server's probe and pending timer. */
  const probes = new Map<Peer, { close(): Promise<void>; timer?: NodeJS.Timeout | undefined }>();
  let closed = false;
  let started = false;

  function refresh(p: Peer, why: string): void {
    const s = state.get(p)!;
    const up = s.active && s.ejectedUntil === 0;
    if (up === p.up) return;
    p.up = up;
    if (up) p.upSince = performance.now();
    log[up ? 'info' : 'warn']({ upstream, server: p.authority, up, reason: why }, `server ${up ? 'up' : 'down'}`);
  }

  function endEjection(p: Peer, why: string): void {
    const s = state.get(p)!;
    if (s.ejectTimer) clearTimeout(s.ejectTimer);
    s.ejectTimer = undefined;
    s.ejectedUntil = 0;
    s.consecutiveFailures = 0;
    refresh(p, why);
  }

  const passive = cfg?.passive;
  function eject(p: Peer, s: PeerHealth & { ejectTimer?: NodeJS.Timeout }): void {
    const ejected = [...state.values()].filter((q) => q.ejectedUntil !== 0).length;
    if (((ejected + 1) / state.size) * 100 > passive!.max_ejected_percent) return; // keep the pool serving
    s.ejections++;
    const ms = passive!.ejection * Math.min(2 ** (s.ejections - 1), 10);
    s.ejectedUntil = performance.now() + ms;
    s.ejectTimer = setTimeout(() => endEjection(p, 'ejection time over'), ms);
    s.ejectTimer.unref();
    refresh(p, `${s.consecutiveFailures} consecutive failures: ejected for ${ms} ms`);
  }

  function onCheck(p: Peer, r: CheckResult, a: NonNullable<HealthConfig['active']>): void {
    const s = state.get(p)!;
    s.lastCheck = r.ok ? 'ok' : r.reason;
    if (r.ok) {
      s.fall = 0;
      s.rise++;
      if (s.ejectedUntil !== 0) endEjection(p, 'active check passed');
      if (!s.active && s.rise >= a.rise) {
        s.active = true;
        refresh(p, `${s.rise} checks passed`);
      }
    } else {
      s.rise = 0;
      s.fall++;
      if (s.active && s.fall >= a.fall) {
        s.active = false;
        refresh(p, `${s.fall} checks failed (${r.reason})`);
      }
    }
  }

  /** Probes one server on its own jittered timer, while it is watched. */
  function probe(p: Peer): void {
    const a = cfg?.active;
    if (!a || probes.has(p)) return;
    const entry: ReturnType<typeof createProbe> & { timer?: NodeJS.Timeout | undefined } = createProbe(p, a, connect);
    probes.set(p, entry);
    const live = (): boolean => !closed && probes.get(p) === entry;
    const schedule = (ms: number): void => {
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (!live()) return;
        void entry.run().then((r) => {
          if (!live()) return;
          onCheck(p, r, a);
          schedule(a.interval * (0.9 + Math.random() * 0.2));
        });
      }, ms);
      entry.timer.unref();
    };
    // First probes spread over one interval, so N servers (and N proxies) are not probed in lockstep.
    schedule(Math.random() * Math.min(a.interval, 1000));
  }

  return {
    observe(peer: Peer, outcome: AttemptOutcome) {
      if (!passive) return;
      const s = state.get(peer);
      if (!s) return;
      if (outcome === 'ok') {
        s.consecutiveFailures = 0;
        return;
      }
      if (++s.consecutiveFailures >= passive.failures && s.ejectedUntil === 0) eject(peer, s);
    },
    start() {
      started = true;
      for (const p of state.keys()) probe(p);
    },
    add(peer) {
      if (state.has(peer) || closed) return;
      state.set(peer, fresh());
      if (started) probe(peer);
    },
    async remove(peer) {
      const s = state.get(peer);
      if (s?.ejectTimer) clearTimeout(s.ejectTimer);
      state.delete(peer);
      const pr = probes.get(peer);
      probes.delete(peer);
      if (pr?.timer) clearTimeout(pr.timer);
      await pr?.close();
    },
    status(peer) {
      const { active, ejectedUntil, ejections, consecutiveFailures, lastCheck } = state.get(peer) ?? fresh();
      return { active, ejectedUntil, ejections, consecutiveFailures, ...(lastCheck !== undefined ? { lastCheck } : {}) };
    },
    async close() {
      closed = true;
      for (const s of state.values()) if (s.ejectTimer) clearTimeout(s.ejectTimer);
      for (const p of probes.values()) if (p.timer) clearTimeout(p.timer);
      await Promise.all([...probes.values()].map((p) => p.close()));
    },
  };
}
