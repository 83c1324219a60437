/**
 * Health: active probes and passive outlier detection, keeping each Peer's `up` flag.
 * A server is up when it passes active checks (or has none) and is not ejected. Passive: `failures`
 * consecutive failed attempts eject it for `ejection`, doubling on each repeat (up to 10×), never more than
 * `max_ejected_percent` of the pool at once; an active check that passes ends an ejection early (as Envoy).
 * Provides a PeerObserver (core/services.ts) for the forwarder; no phases hooked.
 */
import type { Logger } from 'pino';
import type { AttemptOutcome, Peer, PeerObserver } from '../core/services.js';
import { createProbe, type CheckResult } from './active.js';
import type { HealthConfig } from './schema.js';

export * from './schema.js';

export interface PeerHealth {
  /** Passing active checks (true when there are none). */
  active: boolean;
  /** Ejected by passive checks until this performance.now() time (0: not ejected). */
  ejectedUntil: number;
  ejections: number;
  consecutiveFailures: number;
  lastCheck?: string;
}

export interface HealthChecker extends PeerObserver {
  start(): void;
  status(peer: Peer): PeerHealth;
  close(): Promise<void>;
}

export function createHealth(
  upstream: string, peers: readonly Peer[], cfg: HealthConfig | undefined, log: Logger, connect: Record<string, unknown> = {},
): HealthChecker {
  const state = new Map<Peer, PeerHealth & { rise: number; fall: number; ejectTimer?: NodeJS.Timeout }>();
  for (const p of peers) state.set(p, { active: true, ejectedUntil: 0, ejections: 0, consecutiveFailures: 0, rise: 0, fall: 0 });
  const timers = new Set<NodeJS.Timeout>();
  const probes: { close(): Promise<void> }[] = [];
  let closed = false;

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
    const ejected = peers.filter((q) => state.get(q)!.ejectedUntil !== 0).length;
    if (((ejected + 1) / peers.length) * 100 > passive!.max_ejected_percent) return; // keep the pool serving
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
      const a = cfg?.active;
      if (!a) return;
      for (const p of peers) {
        const probe = createProbe(p, a, connect);
        probes.push(probe);
        const tick = (): void => {
          if (closed) return;
          void probe.run().then((r) => {
            if (closed) return;
            onCheck(p, r, a);
            schedule();
          });
        };
        const schedule = (): void => {
          const t = setTimeout(() => { timers.delete(t); tick(); }, a.interval * (0.9 + Math.random() * 0.2));
          t.unref();
          timers.add(t);
        };
        // First probes spread over one interval, so N servers (and N proxies) are not probed in lockstep.
        const t = setTimeout(() => { timers.delete(t); tick(); }, Math.random() * Math.min(a.interval, 1000));
        t.unref();
        timers.add(t);
      }
    },
    status(peer) {
      const { active, ejectedUntil, ejections, consecutiveFailures, lastCheck } = state.get(peer)!;
      return { active, ejectedUntil, ejections, consecutiveFailures, ...(lastCheck !== undefined ? { lastCheck } : {}) };
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      for (const s of state.values()) if (s.ejectTimer) clearTimeout(s.ejectTimer);
      await Promise.all(probes.map((p) => p.close()));
    },
  };
}
