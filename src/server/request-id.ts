/**
 * Request ids for requests that bring none: a random prefix drawn once per generator (64 bits, hex) and a
 * counter, `3f9a0c2be17d4a55-1842`. One generator per listener: two listeners, two workers, two processes or a
 * restart each draw their own prefix, so ids do not repeat across them (a collision of two prefixes is a 1 in
 * 2^64 event per pair), and the counter keeps them apart within one. randomUUID() cost ~1 µs per request in
 * the proxy (#16); this is a string concatenation. The counter stays exact up to 2^53 requests.
 */
import { randomBytes } from 'node:crypto';

/** A new generator: each call returns the next id. */
export function requestIds(): () => string {
  const prefix = `${randomBytes(8).toString('hex')}-`;
  let n = 0;
  return () => prefix + ++n;
}
