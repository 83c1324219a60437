/**
 * Consistent hashing on a ring (ketama, as nginx `hash … consistent` and Pingora): each server owns
 * 160 points per unit of weight, placed by MD5 of its URL, so adding or removing one of N servers moves
 * about 1/N of the keys. A key goes to the first eligible server clockwise from its own point; when that
 * server is down the next one on the ring takes the key, and gives it back when it recovers.
 */
import { createHash } from 'node:crypto';
import type { Peer, Selector } from '../core/services.js';
import { isEligible } from './tiers.js';

const POINTS_PER_WEIGHT = 160;

interface Ring { points: Uint32Array; owners: Peer[] }

function buildRing(peers: readonly Peer[]): Ring {
  const entries: [number, Peer][] = [];
  for (const p of peers) {
    // The URL, not the index: a server keeps its points when others are added or removed.
    for (let i = 0; i < (p.weight * POINTS_PER_WEIGHT) / 4; i++) {
      const digest = createHash('md5').update(`${p.url}-${i}`).digest();
      for (let j = 0; j < 4; j++) entries.push([digest.readUInt32LE(j * 4), p]);
    }
  }
  entries.sort((a, b) => a[0] - b[0]);
  return { points: Uint32Array.from(entries.map((e) => e[0])), owners: entries.map((e) => e[1]) };
}

export function hashKey(key: string): number {
  return createHash('md5').update(key).digest().readUInt32LE(0);
}

function lookup(ring: Ring, h: number, exclude: ReadonlySet<Peer> | undefined): Peer | undefined {
  const { points, owners } = ring;
  if (points.length === 0) return undefined;
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  for (let n = 0; n < owners.length; n++) {
    const p = owners[(lo + n) % owners.length]!;
    if (isEligible(p, exclude)) return p;
  }
  return undefined;
}

export function consistentHash(peers: readonly Peer[], fallback: Selector): Selector {
  const primary = buildRing(peers.filter((p) => !p.backup));
  const backup = buildRing(peers.filter((p) => p.backup));
  return {
    peers,
    pick(exclude, key) {
      if (key === undefined) return fallback.pick(exclude); // no key in this request: spread evenly
      const h = hashKey(key);
      return lookup(primary, h, exclude) ?? lookup(backup, h, exclude);
    },
  };
}
