/**
 * Request ids for requests that bring none: 16 random bytes as 32 hex digits, as nginx's `$request_id`
 * (`b1946ac92492d2347c6235b4d2611184`). Unpredictable, so an id says nothing of the proxy's traffic (a
 * counter would let anyone measure the request rate between two of their own requests), and unique across
 * listeners, workers, instances and restarts without coordination. The bytes come from a pool refilled 4 KiB
 * at a time (randomFillSync) and made hex at once: randomUUID() cost ~1 µs per request in the proxy (#16), a
 * cut of the pool's hex a small fraction of that.
 */
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;

/** A new generator: each call returns a new id. */
export function requestIds(poolSize = 4096): () => string {
  const pool = Buffer.allocUnsafe(poolSize - (poolSize % ID_BYTES));
  // The pool as hex at once: an id is a cut of it (no call into C++ per id).
  let hex = '';
  let off = hex.length;
  return () => {
    if (off === hex.length) {
      hex = randomFillSync(pool).toString('hex');
      off = 0;
    }
    off += ID_BYTES * 2;
    return hex.slice(off - ID_BYTES * 2, off);
  };
}
