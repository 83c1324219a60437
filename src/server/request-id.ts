/**
 * Request ids for requests that bring none: 16 random bytes as 32 hex digits, as nginx's `$request_id`
 * (`b1946ac92492d2347c6235b4d2611184`). Unpredictable, so an id says nothing of the proxy's traffic (a
 * counter would let anyone measure the request rate between two of their own requests), and unique across
 * listeners, workers, instances and restarts without coordination. The bytes come from a pool refilled 4 KiB
 * at a time (randomFillSync): randomUUID() cost ~1 µs per request in the proxy (#16), a hex slice of the pool a
 * fraction of that.
 */
import { randomFillSync } from 'node:crypto';
import { hexSlice } from '../core/strings.js';

const ID_BYTES = 16;

/** A new generator: each call returns a new id. */
export function requestIds(poolSize = 4096): () => string {
  const pool = Buffer.allocUnsafe(poolSize - (poolSize % ID_BYTES));
  let off = pool.length;
  return () => {
    if (off === pool.length) {
      randomFillSync(pool);
      off = 0;
    }
    off += ID_BYTES;
    return hexSlice(pool, off - ID_BYTES, off);
  };
}
