/**
 * Socket writes made during one turn of the event loop go out at its end, together (#16). A socket written to is
 * corked; every corked socket is uncorked once, after the turn's I/O callbacks (`setImmediate`: the check phase of
 * the same loop iteration), so each socket still makes one write (a writev when it holds several pieces), in order.
 *
 * Why: on loopback a write does the receiver's TCP work and wakes the process reading it (on another core, an
 * inter-processor interrupt, dear in a virtual machine). Writes to many connections of one peer (wrk, an origin's
 * worker) made back to back find it awake after the first; made as each read is handled, each may wake it again.
 * Measured with `npm run bench:pair` against the build before it (BENCH_OLD): 0.89x-0.92x the CPU per request
 * (docs/benchmarks.md). The delay is the rest of the turn: no timer, no extra syscall.
 *
 * Bytes held this way are lost if the socket is destroyed before the end of the turn: whoever destroys a socket
 * that may hold them (a refusal, a client gone with pipelined answers written, a response cut short) calls
 * `destroyHeld`, and whoever hands it to someone else (an Upgrade) calls `release`, so that what was written
 * before still goes out as it did when every write went out at once. Writes made in a `setImmediate` callback
 * (the check phase) go out in the next iteration's.
 */
import type { Socket } from 'node:net';

let held: Socket[] = [];
let queued = false;

function flush(): void {
  queued = false;
  const list = held;
  held = [];
  for (let i = 0; i < list.length; i++) {
    const socket = list[i]!;
    try {
      socket.uncork();
    } catch (err) {
      socket.destroy(err as Error); // one socket's failure keeps no other corked
    }
  }
}

/** The socket's writes until the end of this turn go out then (a socket corked by its owner is left as it is). */
export function hold(socket: Socket): void {
  if (socket.writableCorked !== 0 || socket.destroyed) return;
  socket.cork();
  held.push(socket);
  if (!queued) {
    queued = true;
    setImmediate(flush);
  }
}

/** What the socket holds goes out now (its flush at the end of the turn then finds nothing to do). */
export function release(socket: Socket): void {
  while (socket.writableCorked > 0) socket.uncork();
}

/** Destroys the socket after sending what it holds. */
export function destroyHeld(socket: Socket): void {
  release(socket);
  socket.destroy();
}
