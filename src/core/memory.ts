/**
 * Streaming memory: every chunk a socket reads is a Buffer whose memory V8 returns only when a GC finds
 * it dead, and with big streams V8 waits until some 64 MB of such external memory piles up. A young-
 * generation collection every 16 MiB streamed keeps a proxy streaming gigabytes at a flat footprint; it
 * costs well under a millisecond and never happens on small requests. Process-wide by nature (one heap).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const EVERY = 16 * 1024 * 1024;
let streamed = 0;
let collect: ((opts: { type: 'minor'; execution: 'sync' }) => void) | undefined | null = null;

function collector(): typeof collect {
  if (collect === null) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as typeof collect;
    } catch {
      collect = undefined;
    }
  }
  return collect;
}

/** Counts streamed body bytes; past every 16 MiB, asks V8 for a minor collection. */
export function noteStreamed(bytes: number): void {
  streamed += bytes;
  if (streamed < EVERY) return;
  streamed = 0;
  collector()?.({ type: 'minor', execution: 'sync' });
}
