/**
 * Least request: the eligible peer with the fewest requests in flight per unit of weight; ties are broken
 * at random so that equal peers share the load instead of the first one taking every tie.
 */
import { performance } from 'node:perf_hooks';
import { effectiveWeight, type Peer, type Selector } from '../core/services.js';
import { candidates } from './tiers.js';

export function leastRequest(peers: readonly Peer[], random: () => number = Math.random): Selector {
  return {
    peers,
    pick(exclude) {
      const list = candidates(peers, exclude);
      if (list.length <= 1) return list[0];
      const now = performance.now();
      let best: Peer | undefined;
      let bestScore = Infinity;
      let ties = 0;
      for (const p of list) {
        const score = (p.inflight + 1) / effectiveWeight(p, now);
        if (score < bestScore) {
          best = p;
          bestScore = score;
          ties = 1;
        } else if (score === bestScore && random() * ++ties < 1) {
          best = p; // reservoir sampling over the tied peers
        }
      }
      return best;
    },
  };
}
