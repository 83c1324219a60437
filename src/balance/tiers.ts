/** Which peers may take a request: up, not excluded; primaries, or backups when no primary is up. */
import type { Peer } from '../core/services.js';

export function isEligible(p: Peer, exclude: ReadonlySet<Peer> | undefined): boolean {
  return p.up && (exclude === undefined || !exclude.has(p));
}

/** The eligible peers of the first tier that has any (primaries, then backups). */
export function candidates(peers: readonly Peer[], exclude: ReadonlySet<Peer> | undefined): Peer[] {
  const out: Peer[] = [];
  for (const p of peers) if (!p.backup && isEligible(p, exclude)) out.push(p);
  if (out.length) return out;
  for (const p of peers) if (p.backup && isEligible(p, exclude)) out.push(p);
  return out;
}

export function hasSlowStart(peers: readonly Peer[]): boolean {
  return peers.some((p) => p.slowStartMs > 0);
}
