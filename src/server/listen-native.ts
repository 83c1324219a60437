/**
 * A listener on Gatehouse's own HTTP/1.1 engine (`engine: native`, server/h1/): a node:net server (node:tls for
 * HTTPS) whose connections h1/ serves, through the same handlers as node:http's events — requests, `Expect:
 * 100-continue`, upgrades, CONNECT's 405 — and the same counting of the requests the engine refuses itself.
 * HTTPS with HTTP/2 keeps node:http2 for h2 connections; the others (ALPN http/1.1, or none) come here.
 */
import type { Socket } from 'node:net';
import type { Server } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { OwnReadServer } from './h1/reads.js';
import { createH1Server, type H1Server } from './h1/server.js';
import { refusalReason, refuseConnect } from './refusals.js';
import { handleCheckContinue, handleRequest, type ListenerState } from './handler.js';
import { serveUpgrade } from './upgrade.js';
import type { ServerOptions } from './listen.js';

/** The engine for one listener. CONNECT gets the 405 node:http listeners give (a reverse proxy opens no tunnels). */
export function nativeEngine(state: ListenerState, opts: ServerOptions): H1Server {
  const onRequest = handleRequest.bind(state);
  const onCheckContinue = handleCheckContinue.bind(state);
  return createH1Server({
    request: (req, res) => (req.expectContinue ? onCheckContinue(req, res) : onRequest(req, res)),
    upgrade: (req, socket, head, res) => serveUpgrade(state, req, res, socket, head),
    connect: (req, _socket, _head, res) => refuseConnect(state, req, res),
    refused: (code) => state.runtime.meter?.rejected(refusalReason(code)),
  }, {
    maxHeaderSize: opts.maxHeaderSize, maxHeadersCount: opts.maxHeadersCount, maxRequestsPerSocket: opts.maxRequestsPerSocket,
    headersTimeout: opts.headersTimeout, keepAliveTimeout: opts.keepAliveTimeout,
  });
}

/**
 * A plain listener's server: node:net, its connections reading into one shared buffer (h1/reads.ts); listen.ts
 * hands each connection to `serveSocket` after its filters.
 */
export function plainServer(): Server {
  return new OwnReadServer({ noDelay: true }) as unknown as Server;
}

/** Serves a plain connection that passed the connection filters (a socket a filter destroyed is not served). */
export function serveSocket(h1: H1Server): (s: Socket) => void {
  return (s) => { if (!s.destroyed) h1.serve(s); };
}

/**
 * A TLS listener's HTTP/1.1 connections, once their handshake is done. With HTTP/2 on, node:http2 still offers
 * both protocols by ALPN (allowHTTP1), and its own connection listener gets the h2 ones only: every other
 * (`http/1.1`, or no ALPN) comes here.
 */
export function serveSecure(server: Server, h1: H1Server, h2: boolean): void {
  if (!h2) return void server.on('secureConnection', (s: Socket) => h1.serve(s));
  const own = server.listeners('secureConnection') as ((s: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (s: TLSSocket) => {
    if (s.alpnProtocol === 'h2') for (const f of own) f.call(server, s);
    else h1.serve(s);
  });
}
