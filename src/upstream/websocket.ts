/**
 * WebSocket proxying (RFC 6455; RFC 8441 for HTTP/2 clients). undici cannot upgrade, so the handshake goes
 * to the chosen server over a connection of its own (node:http's client over net/tls): the request head is
 * rewritten as for forwarding (X-Forwarded-*, Via, hop-by-hop dropped) but keeps `Connection: Upgrade`,
 * `Upgrade: websocket` and the Sec-WebSocket-* fields. A 101 is relayed and the bytes are piped both ways
 * (ws-relay.ts), frames untouched; any other answer is relayed as a normal response.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { RequestCtx } from '../core/context.js';
import { fieldObject } from '../core/downstream.js';
import { errors, ProxyError } from '../core/errors.js';
import type { PeerChoice, ResponseHead, UpstreamRequest } from '../core/plugin.js';
import type { Peer } from '../core/services.js';
import type { ForwardRoute } from './forward.js';
import { upstreamRequestHeaders } from './headers.js';
import { openTunnel } from './ws-open.js';

export interface WebSocketRoute {
  readonly forward: ForwardRoute;
  readonly idleMs: number;
  readonly maxLifetimeMs: number | undefined;
}

/** One handshake's state, across attempts (a refused connection is tried on another server). */
interface Handshake {
  readonly ctx: RequestCtx;
  readonly route: WebSocketRoute;
  readonly tried: Set<Peer>;
  readonly key: string | undefined;
}

function pickPeer(hs: Handshake): Peer | undefined {
  const { ctx, route } = hs;
  const up = route.forward.upstream;
  const filters = route.forward.peerFilters;
  if (filters.length) {
    const choice: PeerChoice = { upstream: up.name, peers: up.peers, tried: hs.tried.size ? hs.tried : undefined };
    for (const f of filters) {
      const p = f(ctx, choice);
      if (p !== undefined && p.up && !hs.tried.has(p) && up.peers.includes(p)) return p;
    }
  }
  const sticky = up.affinity?.peerFor(ctx.req.header('cookie'));
  if (sticky !== undefined && sticky.up && !hs.tried.has(sticky)) return sticky;
  return up.selector.pick(hs.tried.size ? hs.tried : undefined, hs.key);
}

/** The handshake sent upstream: always HTTP/1.1 GET with Upgrade (RFC 8441 5: an HTTP/2 CONNECT becomes one). */
function upstreamRequest(ctx: RequestCtx, route: WebSocketRoute): UpstreamRequest {
  const up = route.forward.upstream;
  // Connection, Upgrade and the fields Connection names are hop-by-hop and dropped here; Sec-WebSocket-* stay.
  const headers = upstreamRequestHeaders(ctx, ctx.head, up.config);
  if (ctx.req.httpVersion === '2') {
    // RFC 8441 4-5: no Sec-WebSocket-Key over HTTP/2; the HTTP/1.1 server needs one (its Accept is not relayed).
    headers.push('sec-websocket-key', randomBytes(16).toString('base64'));
    const authority = ctx.req.header(':authority');
    if (ctx.head.hostHeader === undefined && authority !== undefined && up.config.host === undefined) headers.push('host', authority);
  }
  headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
  return { method: 'GET', path: ctx.upstreamPath, headers };
}

function connectTo(peer: Peer, route: WebSocketRoute): Socket {
  const u = new URL(peer.url);
  const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (u.protocol !== 'https:') return netConnect({ host, port });
  return tlsConnect({ host, port, servername: peer.servername, ALPNProtocols: ['http/1.1'], ...route.forward.upstream.tls?.() });
}

function connectError(err: NodeJS.ErrnoException): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return errors.upstreamConnect(err);
  return errors.upstreamReset(err);
}

function attempt(hs: Handshake, peer: Peer): void {
  const { ctx, route } = hs;
  const up = route.forward.upstream;
  const max = up.config.max_requests;
  if (max !== undefined && up.inflight >= max) return route.forward.fail(ctx, errors.overloaded());
  ctx.peer = peer;
  const req = upstreamRequest(ctx, route);
  try {
    for (const f of route.forward.requestFilters) f(ctx, req);
  } catch (err) {
    return route.forward.fail(ctx, err instanceof ProxyError ? err : errors.internal(err));
  }
  if (hs.tried.size) up.meter?.retry(up.name, true); // a server was tried before this one
  ctx.upstreamStart = performance.now();
  const creq = request({ method: req.method, path: req.path, headers: fieldObject(req.headers), createConnection: () => connectTo(peer, route) });
  // Connect, then the response head, each within the upstream's timeouts.
  const t = up.config.timeouts;
  let timer = setTimeout(() => creq.destroy(errors.upstreamConnectTimeout(new Error('connect timeout'))), t.connect);
  timer.unref();
  creq.once('socket', (s: Socket) => s.once('encrypted' in s ? 'secureConnect' : 'connect', () => {
    clearTimeout(timer);
    timer = setTimeout(() => creq.destroy(errors.upstreamHeadersTimeout(new Error('response head timeout'))), t.response_headers);
    timer.unref();
  }));
  const cancel = (): void => { creq.destroy(errors.clientAborted()); };
  ctx.abortUpstream = { abort: cancel };
  creq.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    ctx.abortUpstream = undefined;
    onError(hs, peer, connectError(err));
  });
  creq.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    clearTimeout(timer);
    ctx.abortUpstream = undefined;
    settleHead(hs, peer, res.statusCode ?? 101);
    openTunnel(ctx, route, { res, socket, head, peer });
  });
  creq.on('response', (res: IncomingMessage) => {
    clearTimeout(timer);
    ctx.abortUpstream = undefined;
    settleHead(hs, peer, res.statusCode ?? 502);
    relayResponse(ctx, route, res, creq);
  });
  creq.end();
}

function settleHead(hs: Handshake, peer: Peer, status: number): void {
  const up = hs.route.forward.upstream;
  hs.ctx.upstreamMs = performance.now() - hs.ctx.upstreamStart;
  up.observer?.observe(peer, status >= 500 ? 'failure' : 'ok');
  up.meter?.attempt(up.name, peer, status, hs.ctx.upstreamMs / 1000);
}

function onError(hs: Handshake, peer: Peer, err: ProxyError): void {
  const { ctx, route } = hs;
  const up = route.forward.upstream;
  if (err.code === 'GH_CLIENT_ABORTED') {
    ctx.error ??= err;
    return;
  }
  up.observer?.observe(peer, 'failure');
  up.meter?.attempt(up.name, peer, 0, (performance.now() - ctx.upstreamStart) / 1000);
  (ctx.attempts ??= []).push({ server: peer.authority, outcome: err.code, ms: performance.now() - ctx.upstreamStart });
  // Nothing was sent but a GET head: a refused or timed-out connection is tried on another server.
  if (err.opts.retryable && ctx.attempts.length <= up.config.retries) {
    hs.tried.add(peer);
    const next = pickPeer(hs);
    if (next) return attempt(hs, next);
  }
  route.forward.fail(ctx, err);
}

/** The server did not switch protocols: its answer goes to the client as a normal response. */
function relayResponse(ctx: RequestCtx, route: WebSocketRoute, res: IncomingMessage, creq: ClientRequest): void {
  const hidden = route.forward.responseHeaders.hidden;
  const headers: string[] = [];
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (!hidden.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
  headers.push('x-request-id', ctx.requestId);
  const head: ResponseHead = { status: res.statusCode ?? 502, headers };
  for (const f of route.forward.responseFilters) f(ctx, head);
  ctx.status = head.status;
  const out = ctx.res;
  try {
    out.writeHead(head.status, head.headers);
  } catch (err) {
    ctx.log.error({ err }, 'response headers refused');
    creq.destroy();
    out.destroy();
    return;
  }
  res.on('data', (c: Buffer) => {
    ctx.bytesOut += c.length;
    if (!out.write(c)) res.pause();
  });
  out.on('drain', () => res.resume());
  res.once('end', () => out.end());
  res.on('error', () => out.destroy());
  out.on('close', () => creq.destroy());
}

/** Opens a WebSocket to the route's upstream for a request that asked for one (ctx.upgrade). */
export function proxyWebSocket(ctx: RequestCtx, route: WebSocketRoute): void {
  const up = route.forward.upstream;
  ctx.upstreamName = up.name;
  const hs: Handshake = { ctx, route, tried: new Set(), key: up.hashKey?.(ctx) };
  const peer = pickPeer(hs);
  if (peer === undefined) return route.forward.fail(ctx, errors.noServer());
  attempt(hs, peer);
}
