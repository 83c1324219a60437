/**
 * Weighted random, and power of two choices (p2c): two peers drawn at random (by weight), the one with the
 * lower cost wins, cost = (in flight + 1) × latency EWMA / weight — so a slow server gets less traffic
 * (Envoy's least request and Linkerd's peak-EWMA do the same).
 */
import { performance } from 'node:perf_hooks';
import { effectiveWeight, type Peer, type Selector } from '../core/services.js';
import { candidates } from './tiers.js';

function weightedDraw(list: readonly Peer[], now: number, random: () => number, skip?: Peer): Peer | undefined {
  let total = 0;
  for (const p of list) if (p !== skip) total += effectiveWeight(p, now);
  let r = random() * total;
  for (const p of list) {
    if (p === skip) continue;
    r -= effectiveWeight(p, now);
    if (r < 0) return p;
  }
  for (let i = list.length - 1; i >= 0; i--) if (list[i] !== skip) return list[i];
  return undefined;
}

export function weightedRandom(peers: readonly Peer[], random: () => number = Math.random): Selector {
  return {
    peers,
    pick(exclude) {
      const list = candidates(peers, exclude);
      return list.length <= 1 ? list[0] : weightedDraw(list, performance.now(), random);
    },
  };
}

/** Latency assumed for a peer not measured yet: the others' mean, so a new peer is neither shunned nor flooded. */
function cost(p: Peer, now: number, fallbackMs: number): number {
  const latency = p.ewmaMs > 0 ? p.ewmaMs : fallbackMs;
  return ((p.inflight + 1) * Math.max(latency, 0.001)) / effectiveWeight(p, now);
}

export function powerOfTwo(peers: readonly Peer[], random: () => number = Math.random): Selector {
  return {
    peers,
    pick(exclude) {
      const list = candidates(peers, exclude);
      if (list.length <= 1) return list[0];
      const now = performance.now();
      const a = weightedDraw(list, now, random)!;
      const b = weightedDraw(list, now, random, a)!;
      let sum = 0;
      let n = 0;
      for (const p of list) if (p.ewmaMs > 0) { sum += p.ewmaMs; n++; }
      const fallback = n ? sum / n : 1;
      return cost(a, now, fallback) <= cost(b, now, fallback) ? a : b;
    },
  };
}
