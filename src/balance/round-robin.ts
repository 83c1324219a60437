/**
 * Smooth weighted round robin (as nginx): each pick adds every eligible peer's weight to its current score,
 * takes the highest, and subtracts the total from it. Weights 3:1 give a,a,b,a — spread out, never a burst.
 * Backups take part only when no primary is eligible; slow start lowers a recovering peer's weight.
 */
import { performance } from 'node:perf_hooks';
import { effectiveWeight, type Peer, type Selector } from '../core/services.js';
import { hasSlowStart, isEligible } from './tiers.js';

export function roundRobin(peers: readonly Peer[]): Selector {
  const current = new Float64Array(peers.length);
  const slow = hasSlowStart(peers);

  function pickTier(exclude: ReadonlySet<Peer> | undefined, backup: boolean, now: number): Peer | undefined {
    let best = -1;
    let total = 0;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      if (p.backup !== backup || !isEligible(p, exclude)) continue;
      const w = slow ? effectiveWeight(p, now) : p.weight;
      current[i]! += w;
      total += w;
      if (best === -1 || current[i]! > current[best]!) best = i;
    }
    if (best === -1) return undefined;
    current[best]! -= total;
    return peers[best];
  }

  return {
    peers,
    pick(exclude) {
      const now = slow ? performance.now() : 0;
      return pickTier(exclude, false, now) ?? pickTier(exclude, true, now);
    },
  };
}
