/**
 * Client connections that read into one buffer shared by all of them (net's `onread` option): no Buffer, stream
 * push, 'data' event nor nextTick per read. node:net's server has no such option, so an accepted socket's handle
 * is given to a new `net.Socket` that has it, before anyone sees the connection (`OwnReadServer`).
 *
 * Until an HTTP/1.1 connection takes the reads (`takeReads`), each read is copied and pushed to the socket's
 * stream as before, so that connection filters (PROXY protocol, caps) and anything else read it as any socket;
 * after a hand-over (an Upgrade) they are pushed again (`releaseReads`). A sink gets a view of the shared buffer,
 * valid until it returns: what it keeps, it copies.
 */
import { Server as NetServer, Socket, type ServerOpts } from 'node:net';
import { readDone, readStart } from '../../core/clock.js';
import { subarray } from '../../core/strings.js';

/** What reads a connection's bytes in place (a view of the shared buffer, valid until it returns). */
export type ReadSink = (chunk: Buffer) => void;

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const kSink = Symbol('gatehouse.readSink');

interface OwnReadSocket extends Socket {
  [kSink]: ReadSink | undefined;
}

/** The parts of node:net's accepted socket that a new socket on the same handle takes over. */
interface Accepted extends Socket {
  _handle: { readStart?: unknown } | null | undefined;
  _server: NetServer | null;
  server: NetServer | null;
}

function onRead(socket: OwnReadSocket, n: number, buf: Uint8Array): boolean {
  const chunk = subarray(buf, 0, n);
  const sink = socket[kSink];
  if (sink !== undefined) {
    readStart();
    try {
      sink(chunk);
    } finally {
      readDone();
    }
    return true; // a sink that wants no more pauses the socket itself
  }
  return socket.push(Buffer.from(chunk));
}

/**
 * The same connection on a socket that reads into the shared buffer; `accepted` itself when that cannot be done
 * (no handle to take, or bytes already read from it).
 */
function ownReads(accepted: Socket): Socket {
  const old = accepted as Accepted;
  const handle = old._handle;
  if (handle == null || typeof handle.readStart !== 'function' || old.readableLength > 0 || old.destroyed) {
    // Accepted paused (pauseOnConnect): its first 'data' listener starts it, as any accepted socket's.
    (accepted as { readableFlowing: boolean | null }).readableFlowing = null;
    return accepted;
  }
  const socket = new Socket({
    handle, readable: true, writable: true, allowHalfOpen: old.allowHalfOpen,
    onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => onRead(socket, n, buf) },
  } as ConstructorParameters<typeof Socket>[0]) as OwnReadSocket & Accepted;
  socket[kSink] = undefined;
  // The server counts the connection until its socket closes (server.close waits for it): the new one's.
  socket._server = old._server;
  socket.server = old.server;
  old._server = null;
  old.server = null;
  old._handle = null;
  return socket;
}

/** A node:net server whose connections read into the shared buffer (the listener's 'connection' sees the new socket). */
export class OwnReadServer extends NetServer {
  constructor(options: ServerOpts) {
    // Paused: no read lands on the accepted socket before its handle moves.
    super({ ...options, pauseOnConnect: true });
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'connection') args[0] = ownReads(args[0] as Socket);
    return super.emit(event, ...args);
  }
}

/** Reads go to `sink` from now on; false when the socket does not read into the shared buffer, or holds bytes already. */
export function takeReads(socket: Socket, sink: ReadSink): boolean {
  const own = socket as OwnReadSocket;
  if (!(kSink in own) || socket.readableLength > 0) return false;
  own[kSink] = sink;
  return true;
}

/** Reads go to the socket's stream again (the consumer of an upgraded connection reads 'data'). */
export function releaseReads(socket: Socket): void {
  const own = socket as OwnReadSocket;
  if (kSink in own) own[kSink] = undefined;
}
