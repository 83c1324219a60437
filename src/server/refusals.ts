/**
 * What a listener answers itself: CONNECT (405: a reverse proxy opens no tunnels), the refusals of node:http's
 * parser and timeouts (400, 408, 431, counted), and the connection filters (connection caps).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DownstreamRequest, DownstreamResponse } from '../core/downstream.js';
import { errors } from '../core/errors.js';
import type { RejectReason } from '../core/services.js';
import type { ListenerState } from './handler.js';
import type { H2Response } from './h2-response.js';
import type { H2Request } from './h2-stream.js';
import type { NodeRequest } from './node-http.js';
import { errorPage } from './reply.js';
import { refusalBytes, statusLine } from './h1/wire.js';
import { handleExtendedConnect } from './upgrade.js';

/** CONNECT's answer: 405 with the usual error body. */
function connectRefusal(state: ListenerState, req: DownstreamRequest): { status: number; headers: string[]; body: string } {
  const page = errorPage(errors.methodNotAllowed(), state.requestId(), req.header('accept'));
  const body = page.body as string;
  const headers = Object.entries(page.headers as Record<string, string>).flat();
  return { status: page.status, headers: [...headers, 'content-length', String(Buffer.byteLength(body))], body };
}

/**
 * CONNECT (RFC 9110 9.3.6) asks for a tunnel, which a reverse proxy does not open: 405 with the usual error
 * body, then close (node:http would otherwise drop the connection without an answer).
 */
export function onConnect(this: ListenerState, req: NodeRequest, socket: Socket): void {
  const { status, headers, body } = connectRefusal(this, req);
  socket.on('error', () => socket.destroy());
  let lines = '';
  for (let i = 0; i < headers.length; i += 2) lines += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  socket.end(`${statusLine(status)}${lines}connection: close\r\n\r\n${body}`);
}

/** HTTP/2 CONNECT (RFC 9113 8.5): an extended CONNECT for a WebSocket (RFC 8441) runs the pipeline like any
 * request; any other is refused on its stream. */
export function onStreamConnect(this: ListenerState, req: H2Request, res: H2Response): void {
  if (!handleExtendedConnect(this, req, res)) refuseConnect(this, req, res);
}

export function onConnection(this: ListenerState, socket: Socket): void {
  for (const f of this.runtime.global.connectionFilter) {
    if (!f(socket)) {
      this.runtime.meter?.rejected('connection_limit');
      socket.destroy();
      return;
    }
  }
}

/** node:http's own answers to a request its parser or timeouts refuse (as it sends them without a listener). */
const CLIENT_ERRORS: Record<string, RejectReason> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'bad_request',
  ERR_HTTP_REQUEST_TIMEOUT: 'client_timeout',
};

/** How a refusal by the engine itself (node:http's codes, which the native engine uses too) is counted. */
export function refusalReason(code: string): RejectReason {
  return CLIENT_ERRORS[code] ?? 'bad_request';
}

/**
 * A request node:http refuses before it reaches the handler: a head past `limits.header_size` (431), one that
 * took longer than `limits.header_timeout` (408), one it cannot parse (400). Counted, then answered exactly as
 * node:http does when nobody listens for 'clientError' (a connection reset or aborted is not a refusal).
 */
export function onClientError(this: ListenerState, err: NodeJS.ErrnoException, socket: Duplex): void {
  const code = err.code ?? '';
  if (code in CLIENT_ERRORS || code.startsWith('HPE_')) this.runtime.meter?.rejected(refusalReason(code));
  const pending = (socket as Duplex & { _httpMessage?: { _headerSent?: boolean } | null })._httpMessage;
  // The same bytes as the native engine's own refusals (h1/wire.ts).
  if (socket.writable && (!pending || !pending._headerSent)) socket.write(refusalBytes(code));
  socket.destroy(err);
}

/** CONNECT on the native engine: the same 405, through its response (the connection closes after it). */
export function refuseConnect(state: ListenerState, req: DownstreamRequest, res: DownstreamResponse): void {
  const { status, headers, body } = connectRefusal(state, req);
  res.shouldKeepAlive = false;
  res.writeHead(status, headers);
  res.end(body);
}
