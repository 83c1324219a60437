/**
 * A buffered line writer for the access log. Lines are appended to a pending string (a rope: no copy, no
 * call into C++ per line) and written in batches of at least `batch` characters, encoded once per batch:
 * synchronously for a file (as nginx writes its log; a page-cache write is a few microseconds), asynchronously
 * for stdout, which may be a slow pipe. Written by hand because sonic-boom (pino.destination) measures the
 * whole pending batch on every write, which made the access log a fifth of the proxy's cost per request at
 * 8 KiB batches. (Encoding once per batch rather than each line into a Buffer: no size bound per line to
 * check, slightly cheaper in a tight loop, the same in the proxy, #16.)
 *
 * If stdout stops draining, at most `maxPending` bytes wait; newer batches are dropped and counted, never
 * allowed to grow the heap without bound.
 *
 * A worker of a group (`workers:`) shares stdout with its siblings: on a pipe only a write of at most PIPE_BUF
 * bytes is atomic (never split, never interleaved), so its batches go out in pieces of at most that, cut at
 * line ends. A file is opened for appending, where every write lands whole.
 */

/** POSIX PIPE_BUF on Linux: writes up to this size to a pipe are atomic. */
const PIPE_BUF = 4096;
import cluster from 'node:cluster';
import { closeSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LineWriter {
  write(line: string): void;
  /** Writes what is buffered; resolves once it has reached the file or pipe. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface LineWriterOptions {
  /** A file path (appended to, parent directories created), or undefined for stdout. */
  path: string | undefined;
  batch?: number;
  maxPending?: number;
  /** Writes to stdout in atomic pieces (at most PIPE_BUF bytes, whole lines): by default in a cluster worker. */
  atomic?: boolean;
}

export function createLineWriter(opts: LineWriterOptions): LineWriter {
  const batch = opts.batch ?? 8 * 1024;
  const maxPending = opts.maxPending ?? 16 * 1024 * 1024;
  const sync = opts.path !== undefined;
  const atomic = !sync && (opts.atomic ?? cluster.isWorker);
  let fd = 1;
  if (opts.path !== undefined) {
    mkdirSync(dirname(opts.path), { recursive: true });
    fd = openSync(opts.path, 'a');
  }
  let pending = '';
  // Async mode: batches waiting for the pipe, and who waits for them to drain.
  const queue: Buffer[] = [];
  let queued = 0;
  let writing = false;
  let waiters: (() => void)[] = [];

  /** A file write: the string encoded by writeSync itself; a short write (rare on a file) goes on as bytes. */
  function writeAllSync(text: string): void {
    const n = writeSync(fd, text);
    if (n === Buffer.byteLength(text)) return; // once per batch; the string is flat by now
    const b = Buffer.from(text);
    let done = n;
    while (done < b.length) done += writeSync(fd, b, done, b.length - done);
  }

  function pump(): void {
    const b = queue[0];
    if (b === undefined) {
      writing = false;
      for (const w of waiters.splice(0)) w();
      return;
    }
    writing = true;
    write(fd, b, 0, b.length, null, (err, n) => {
      if (err) {
        if (err.code === 'EAGAIN') return void setTimeout(pump, 5); // a full non-blocking pipe: try again shortly
        queue.length = 0; // stdout is gone: nothing more can be written
        queued = 0;
        return pump();
      }
      if (n < b.length) queue[0] = b.subarray(n);
      else queue.shift();
      queued -= n;
      pump();
    });
  }

  /** A finished batch: written now (a file), or queued for the pipe unless too much already waits. */
  function emit(text: string): void {
    if (sync) return writeAllSync(text);
    const chunk = Buffer.from(text);
    if (atomic && chunk.length > PIPE_BUF) return emitPieces(chunk);
    if (queued + chunk.length > maxPending) return;
    queue.push(chunk);
    queued += chunk.length;
    if (!writing) pump();
  }

  /** Pieces of at most PIPE_BUF bytes ending at a line end (a longer single line goes out as it is). */
  function emitPieces(chunk: Buffer): void {
    let start = 0;
    while (chunk.length - start > PIPE_BUF) {
      const nl = chunk.lastIndexOf(10, start + PIPE_BUF - 1);
      const end = nl >= start ? nl + 1 : Math.max(chunk.indexOf(10, start) + 1, start + PIPE_BUF);
      queueChunk(chunk.subarray(start, end));
      start = end;
    }
    if (start < chunk.length) queueChunk(chunk.subarray(start));
  }

  function queueChunk(chunk: Buffer): void {
    if (queued + chunk.length > maxPending) return;
    queue.push(chunk);
    queued += chunk.length;
    if (!writing) pump();
  }

  function drain(): void {
    if (pending === '') return;
    const text = pending;
    pending = '';
    emit(text);
  }

  return {
    write(line) {
      pending += line;
      if (pending.length >= batch) drain();
    },
    flush() {
      drain();
      if (sync || !writing) return Promise.resolve();
      return new Promise<void>((resolve) => { waiters.push(resolve); });
    },
    async close() {
      await this.flush();
      if (fd !== 1) closeSync(fd);
      waiters = [];
    },
  };
}
