/**
 * The switch: relays the server's 101 to the client (HTTP/1.1), or answers the extended CONNECT with 200
 * (HTTP/2, RFC 8441 5), then hands both connections to the relay and keeps the peer's counters while it runs.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import type { ResponseHead } from '../core/plugin.js';
import type { Peer } from '../core/services.js';
import type { WebSocketRoute } from './websocket.js';
import { relay, type RelayEnds } from './ws-relay.js';

export interface Switched {
  res: IncomingMessage;
  socket: Socket;
  head: Buffer;
  peer: Peer;
}

/** Fields of the server's 101 that are not passed on (HTTP/2 has no Connection or Upgrade, nor Accept: RFC 8441 5). */
const H2_DROPPED: ReadonlySet<string> = new Set(['sec-websocket-accept']);

/** The client's response head: the server's fields (hidden and hop-by-hop ones dropped), through the route's filters. */
function clientHead(ctx: RequestCtx, route: WebSocketRoute, res: IncomingMessage, h2: boolean): ResponseHead {
  const hidden = route.forward.responseHeaders.hidden;
  const headers: string[] = [];
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (hidden.has(name) || (h2 && H2_DROPPED.has(name))) continue;
    headers.push(name, raw[i + 1]!);
  }
  // RFC 6455 4.2.2: the 101 names the protocol switched to.
  if (!h2) headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
  headers.push('x-request-id', ctx.requestId);
  const head: ResponseHead = { status: h2 ? 200 : 101, headers };
  for (const f of route.forward.responseFilters) f(ctx, head);
  return head;
}

export function openTunnel(ctx: RequestCtx, route: WebSocketRoute, sw: Switched): void {
  const upgrade = ctx.upgrade!;
  const h2 = ctx.req.httpVersion === '2';
  if (ctx.clientGone) return void sw.socket.destroy();
  const head = clientHead(ctx, route, sw.res, h2);
  try {
    ctx.res.writeHead(head.status, head.headers);
    // HTTP/1.1: the 101 head goes out and the response is done; the socket carries frames from here on.
    // HTTP/2: the 200 head goes out now; the stream's DATA frames carry them, and end with the response.
    if (!h2) ctx.res.end();
    else ctx.res.flushHeaders();
  } catch (err) {
    ctx.log.error({ err }, 'WebSocket response headers refused');
    sw.socket.destroy();
    ctx.res.destroy();
    return;
  }
  ctx.status = head.status;
  const up = route.forward.upstream;
  const peer = sw.peer;
  // A WebSocket holds its server for its whole life: least-request balancing sees it.
  peer.inflight++;
  up.inflight++;
  sw.socket.setNoDelay(true);
  const client = upgrade.socket;
  // The relay's own idle timeout governs from here (a socket's or a stream's timer would cut a quiet tunnel).
  (client as Duplex & { setTimeout?(ms: number): unknown }).setTimeout?.(0);
  const ends: RelayEnds = { clientIn: client, clientOut: client, upstream: sw.socket, clientHead: upgrade.head, upstreamHead: sw.head };
  const r = relay(ends, {
    idleMs: route.idleMs, maxLifetimeMs: route.maxLifetimeMs,
    count: (dir, n) => { if (dir === 'in') ctx.bytesIn += n; else ctx.bytesOut += n; },
    // HTTP/2: through the response, which ends (or resets) the stream and so completes the exchange.
    endClient: () => { if (h2) ctx.res.end(); else client.end(); },
    destroyClient: () => { if (h2) ctx.res.destroy(); else client.destroy(); },
    done: () => {
      peer.inflight--;
      up.inflight--;
      upgrade.onGoAway = undefined;
    },
  });
  upgrade.onGoAway = (graceMs) => {
    const t = setTimeout(() => r.goAway(), graceMs);
    t.unref();
  };
  if (upgrade.goingAway !== undefined) upgrade.onGoAway(upgrade.goingAway);
}
