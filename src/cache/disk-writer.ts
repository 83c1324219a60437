/**
 * Streams one body to a temp file for the disk store. The write stream's own backpressure is passed through
 * (write() returns false, onDrain waits for 'drain'), so a fast origin never makes the proxy buffer a body
 * in memory. Any error, an abort, or a body past the store's bound turns the writer into a sink that swallows
 * the rest and resolves end() with undefined: a disk problem costs a cache entry, never the response.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ObjectWriter, StoredObject } from './store.js';

export interface BodyWriterOptions {
  /** Temp file to write (created exclusively). */
  tmp: string;
  /** The store's bound: past it the object can never be kept. */
  maxBytes: number;
  key: string;
  log: Logger | undefined;
  /** Called once the temp file is complete and closed; moves it into place. */
  commit(size: number): Promise<StoredObject | undefined>;
  /** Called once when the writer is finished either way (the store tracks open writers for close()). */
  settled(): void;
}

/** A writer whose temp file is removed on failure and handed to `commit` on success. */
export function bodyWriter(o: BodyWriterOptions): ObjectWriter {
  const ws = createWriteStream(o.tmp, { flags: 'wx' });
  let state: 'open' | 'ending' | 'failed' | 'done' = 'open';
  let written = 0;
  let waiters: Array<() => void> = [];
  let result: Promise<StoredObject | undefined> | undefined;
  // 'close' comes after 'finish' or after an error/destroy, so it is the one point where the fd is released.
  const closed = new Promise<void>((resolve) => ws.once('close', resolve));

  function flush(): void {
    const cbs = waiters;
    waiters = [];
    for (const cb of cbs) cb();
  }

  function fail(): void {
    if (state === 'failed' || state === 'done') return;
    state = 'failed';
    ws.destroy();
    flush(); // whoever waits for drain must not wait forever: the sink takes everything now
    void closed
      .then(() => rm(o.tmp, { force: true }))
      .catch((err: unknown) => o.log?.warn({ err, file: o.tmp }, 'cache: could not remove a temp body'))
      .finally(o.settled);
  }

  ws.on('drain', flush);
  ws.on('error', (err) => {
    o.log?.warn({ err, key: o.key }, 'cache: disk write failed; the object is not cached');
    fail();
  });

  async function finish(): Promise<StoredObject | undefined> {
    if (state !== 'open') return undefined;
    state = 'ending';
    ws.end();
    await closed;
    if (state !== 'ending') return undefined; // failed or aborted while flushing; fail() cleans up
    state = 'done';
    try {
      return await o.commit(written);
    } finally {
      o.settled();
    }
  }

  return {
    write(chunk) {
      if (state !== 'open') return true;
      written += chunk.length;
      if (written > o.maxBytes) {
        fail(); // can never be kept: stop spending disk on it
        return true;
      }
      return ws.write(chunk);
    },
    onDrain(cb) {
      if (state === 'open' && ws.writableNeedDrain) waiters.push(cb);
      else queueMicrotask(cb);
    },
    end() {
      result ??= finish();
      return result;
    },
    abort() {
      fail();
    },
  };
}
