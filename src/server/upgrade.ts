/**
 * The listener's 'upgrade' event (HTTP/1.1 `Connection: Upgrade`) and HTTP/2 extended CONNECT (RFC 8441):
 * the request runs the same pipeline as any other (routing, access rules, auth, rate limits), answered
 * through a response bound to the detached socket (or the stream), so every error reply and log line is the
 * usual one. A proxy route then opens the tunnel (upstream/websocket.ts); a route that takes no upgrades answers 400.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DownstreamRequest, DownstreamResponse, Upgrade } from '../core/downstream.js';
import type { H2Response } from './h2-response.js';
import type { H2Request } from './h2-stream.js';
import { serveRequest, type ListenerState } from './handler.js';
import { NodeResponse, type NodeRequest } from './node-http.js';

/** RFC 9110 7.8: the Upgrade field lists protocols; only `websocket` (RFC 6455 4.1, any case) is proxied. */
function isWebSocket(req: DownstreamRequest): boolean {
  const v = req.header('upgrade');
  return v !== undefined && v.split(',').some((p) => p.trim().toLowerCase() === 'websocket');
}

function newUpgrade(socket: Duplex, head: Buffer): Upgrade {
  return { socket, head, goingAway: undefined, onGoAway: undefined };
}

/** The listener's 'upgrade' handler (`this` is the ListenerState). */
export function handleUpgrade(this: ListenerState, req: NodeRequest, socket: Socket, head: Buffer): void {
  // node:http gave the socket up with the upgrade: its errors, timeouts and drain are ours now.
  socket.on('error', () => socket.destroy());
  const res = new NodeResponse(req);
  // Node's parser has let this connection go: whatever the answer, the connection closes after it.
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  socket.on('drain', () => { if ((socket as Socket & { _httpMessage?: unknown })._httpMessage === res) res.emit('drain'); });
  // Any answer but a 101 ends the connection; after a 101 the socket belongs to the tunnel.
  res.on('finish', () => { if (res.statusCode !== 101) socket.end(); });
  serveUpgrade(this, req, res, socket, head);
}

/**
 * A request with `Upgrade`, its socket detached from the engine (node:http's, or the native one, whose response
 * ends the connection after any answer but a 101): a WebSocket handshake, or a request served without it.
 */
export function serveUpgrade(state: ListenerState, req: DownstreamRequest, res: DownstreamResponse, socket: Duplex, head: Buffer): void {
  if (isWebSocket(req)) return serveRequest(state, req, res, newUpgrade(socket, head));
  // Another protocol (h2c, TLS/1.0…): RFC 9110 7.8 lets a server ignore Upgrade, so the request is served as
  // plain HTTP without it, as if the engine had never seen it. Its body, past the parser, cannot be read here.
  const length = req.header('content-length');
  serveRequest(state, req, res, (length !== undefined && length !== '0') || req.header('transfer-encoding') !== undefined ? 'refuse' : undefined);
}

/** HTTP/2 extended CONNECT with `:protocol websocket` (RFC 8441 4); false for any other CONNECT. */
export function handleExtendedConnect(state: ListenerState, req: H2Request, res: H2Response): boolean {
  if (req.header(':protocol') !== 'websocket') return false;
  serveRequest(state, req, res, newUpgrade(req.stream, Buffer.alloc(0)));
  return true;
}
