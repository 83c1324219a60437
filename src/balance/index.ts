/**
 * Balancing: picks a server for each attempt behind the `Selector` contract (core/services.ts):
 * round_robin (smooth weighted), least_request, random, p2c (in-flight × latency EWMA) and hash (ketama ring).
 * Every selector honours `up` (health), backups (used only when no primary is up) and slow start.
 * No phases hooked; the upstream capability consumes the Selector and the sticky cookie helpers.
 */
import type { Peer, Selector } from '../core/services.js';
import { consistentHash } from './hash.js';
import { leastRequest } from './least-request.js';
import { powerOfTwo, weightedRandom } from './random.js';
import { roundRobin } from './round-robin.js';
import type { BalanceConfig } from './schema.js';

export { roundRobin } from './round-robin.js';
export { leastRequest } from './least-request.js';
export { weightedRandom, powerOfTwo } from './random.js';
export { consistentHash, hashKey } from './hash.js';
export { stickyCookie, type StickyCookie } from './sticky.js';
export * from './schema.js';

/** The selector for an upstream's `balance` setting. */
export function createSelector(balance: BalanceConfig, peers: readonly Peer[]): Selector {
  switch (balance) {
    case 'least_request': return leastRequest(peers);
    case 'random': return weightedRandom(peers);
    case 'p2c': return powerOfTwo(peers);
    case 'hash': return consistentHash(peers, roundRobin(peers));
    case 'round_robin':
    default: return roundRobin(peers);
  }
}
