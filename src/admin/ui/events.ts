/**
 * `GET /api/events`: the dashboard's live feed, server-sent events (WHATWG HTML §9.2) of one snapshot a
 * second. One sampler per admin server, running while a stream is open (and a little after, so that a page
 * reloaded has its rates at once); every stream gets the same snapshot. Streams are bounded in number and in
 * what they may leave unread, and end cleanly when the admin API stops.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdminTarget } from '../../core/services.js';
import { AdminError } from '../http.js';
import { createSampler, type Snapshot } from './snapshot.js';

export interface EventHub {
  /** Answers a request for the feed: the stream, or a 503 when `maxStreams` are open. */
  open(res: ServerResponse): void;
  /** Streams open now. */
  size(): number;
  /** Ends every stream and stops sampling. */
  close(): void;
}

export interface EventHubOptions {
  log: Logger;
  /** Between snapshots (ms): 1000. */
  intervalMs?: number;
  /** Streams open at once: 16. */
  maxStreams?: number;
}

/** Sampling goes on this long after the last stream closed. */
const LINGER_MS = 30_000;
/** A stream whose reader leaves more than this unread is closed: a stalled page must not hold memory. */
const MAX_UNREAD = 1 << 20;
/** Nor may a reader stay behind this long (the socket's buffers full, frames waiting here) with less unread. */
const MAX_STALL_MS = 15_000;

const frame = (s: Snapshot): string => `event: snapshot\ndata: ${JSON.stringify(s)}\n\n`;

export function createEventHub(target: AdminTarget, opts: EventHubOptions): EventHub {
  const intervalMs = opts.intervalMs ?? 1000;
  const maxStreams = opts.maxStreams ?? 16;
  const sampler = createSampler(target);
  /** Each open stream, and since when its reader has been behind (0: keeping up). */
  const streams = new Map<ServerResponse, number>();
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let closed = false;
  let lastStreamAt = 0;
  let failing = false;
  let last: Snapshot | undefined;

  function write(res: ServerResponse, text: string): void {
    if (res.destroyed) return void streams.delete(res);
    const now = Date.now();
    const behind = res.writableNeedDrain ? streams.get(res) || now : 0;
    if (res.writableLength > MAX_UNREAD || now - (behind || now) > MAX_STALL_MS) {
      streams.delete(res);
      res.destroy();
      return;
    }
    streams.set(res, behind);
    res.write(text);
  }
  const broadcast = (text: string): void => { for (const res of streams.keys()) write(res, text); };

  async function tick(): Promise<void> {
    if (streams.size > 0) lastStreamAt = Date.now();
    else if (Date.now() - lastStreamAt > LINGER_MS) return stop();
    // A sample still running (workers slow to answer): a heartbeat keeps the streams (and proxies between) open.
    if (busy) return broadcast(': heartbeat\n\n');
    busy = true;
    try {
      last = await sampler.sample();
      if (!closed) broadcast(frame(last));
      if (failing) opts.log.info('dashboard: figures available again');
      failing = false;
    } catch (err) {
      if (!failing) opts.log.warn({ err }, 'dashboard: the figures could not be read');
      failing = true;
      broadcast(': heartbeat (figures unavailable)\n\n');
    } finally {
      busy = false;
    }
  }

  function stop(): void {
    clearInterval(timer);
    timer = undefined;
  }

  return {
    open(res) {
      if (closed) throw new AdminError(503, 'GH_ADMIN_STOPPING', 'the admin API is stopping');
      if (streams.size >= maxStreams) {
        throw new AdminError(503, 'GH_ADMIN_TOO_MANY_STREAMS', `${maxStreams} event streams are open already (close a dashboard, or retry later)`);
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
        // Proxies in between (nginx) must pass each event on at once.
        'x-accel-buffering': 'no',
      });
      // HEAD: the head only; it is not a stream (it would hold a slot and never be written to).
      if (res.req.method === 'HEAD') return void res.end();
      streams.set(res, 0);
      lastStreamAt = Date.now();
      res.on('close', () => streams.delete(res));
      // EventSource's reconnection delay; the dashboard reconnects by itself.
      res.write('retry: 2000\n\n');
      if (last && Date.now() - last.time < 2 * intervalMs) write(res, frame(last));
      if (!timer) {
        timer = setInterval(() => void tick(), intervalMs);
        timer.unref();
        void tick();
      }
    },
    size: () => streams.size,
    close() {
      closed = true;
      stop();
      for (const res of streams.keys()) res.end();
      streams.clear();
    },
  };
}
