/**
 * Smooth weighted round robin (as nginx): each pick adds every peer's weight to its current score, takes
 * the highest, and subtracts the total from it. Weights 3:1 give a,a,b,a — spread out, never a burst.
 */
import type { Peer, Selector } from '../core/services.js';

export function roundRobin(peers: readonly Peer[]): Selector {
  const current = new Float64Array(peers.length);
  const uniform = peers.every((p) => p.weight === peers[0]!.weight);
  let next = 0;
  return {
    peers,
    pick(exclude) {
      if (uniform) {
        for (let n = 0; n < peers.length; n++) {
          const p = peers[next]!;
          next = next + 1 === peers.length ? 0 : next + 1;
          if (!exclude?.has(p)) return p;
        }
        return undefined;
      }
      let best = -1;
      let total = 0;
      for (let i = 0; i < peers.length; i++) {
        const p = peers[i]!;
        if (exclude?.has(p)) continue;
        current[i]! += p.weight;
        total += p.weight;
        if (best === -1 || current[i]! > current[best]!) best = i;
      }
      if (best === -1) return undefined;
      current[best]! -= total;
      return peers[best];
    },
  };
}
