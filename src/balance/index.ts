/**
 * Balancing: picks a server for each attempt behind the `Selector` contract (core/services.ts).
 * Provides: round robin (smooth weighted). No phases hooked; the upstream capability consumes the Selector.
 */
export { roundRobin } from './round-robin.js';
