/**
 * The access log: one JSON line per request, written in the `logging` phase through a buffered line writer
 * (line-writer.ts: 8 KiB batches). The line is built by a fixed serializer rather than pino's generic
 * object walk: the fields never change, and on the hot path pino's serializer cost a third of the proxy's
 * throughput (measured with `npm run bench`). Buffered lines are flushed every second and on close.
 */
import { performance } from 'node:perf_hooks';
import { createLineWriter } from './line-writer.js';
import { traceIdOf } from './trace-spans.js';
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';

export interface AccessLog {
  write(ctx: RequestCtx, err: ProxyError | undefined): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

// Characters that need JSON escaping: control characters, quote, backslash, and lone surrogates.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal; JSON.stringify only when the value needs escaping. (A charCodeAt loop instead of the
 * RegExp measured slower in the proxy, 0.7 against 0.35 µs per line, #16.) */
function str(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

function optStr(key: string, v: string | undefined): string {
  return v === undefined ? '' : `,"${key}":${str(v)}`;
}

/** `.000` to `.999`: the fraction of a millisecond figure, looked up rather than padded and joined per line. */
const FRACTIONS: readonly string[] = Array.from({ length: 1000 }, (_, i) => `.${String(i).padStart(3, '0')}`);

/** Milliseconds with three decimals, formatted from integers (a double's shortest-form printing is slow). */
function ms(v: number): string {
  const us = Math.round(v * 1000);
  if (!(us >= 0) || us > 0x7fffffff) return String(Math.round(v * 1000) / 1000);
  const frac = us % 1000;
  return `${(us - frac) / 1000}${FRACTIONS[frac]!}`;
}

/**
 * The parts of the last line of one access log, with their JSON: consecutive requests mostly repeat their time
 * (to the millisecond), client, method, host, path, status, sizes, route, upstream and server, so a line is
 * joined from a few memoised pieces (each rebuilt, and its escaping checked, only when one of its fields
 * changes) instead of twenty-odd, and no piece is made twice for the same values (#16).
 */
export interface LineMemo {
  time: string;
  /** `{"time":"…","reqId":"` */
  head: string;
  client: string;
  method: string;
  host: string;
  /** `","client":"…","method":"…","host":…,"path":` */
  mid: string;
  path: string;
  pathJson: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  route: string | undefined;
  upstream: string | undefined;
  server: string | undefined;
  /** `,"status":…,"bytes_in":…,"bytes_out":…` and route, upstream, server, then `,"duration_ms":` */
  tail: string;
}

/**
 * `s` made one flat string (V8 flattens a rope when it reads it as a number): a memoised piece is joined into
 * every line that repeats it, and the batch (line-writer.ts) copies a flat piece at once instead of walking its
 * tree of pieces again for each line (a batch's copy 10.6 -> 6.9 µs per 8 KiB in a tight loop).
 */
function flat(s: string): string {
  Number(s);
  return s;
}

export function lineMemo(): LineMemo {
  return {
    time: '', head: '', client: '', method: '', host: '', mid: '', path: '', pathJson: '', status: -1, bytesIn: -1, bytesOut: -1,
    route: undefined, upstream: undefined, server: undefined, tail: '',
  };
}

/** The JSON line for one request (exported for tests); `traceId` with `tracing` on. */
export function accessLine(ctx: RequestCtx, err: ProxyError | undefined, now: number, time: string, traceId?: string, memo = lineMemo()): string {
  if (time !== memo.time) {
    memo.time = time;
    memo.head = flat(`{"time":"${time}","reqId":"`);
  }
  // The request id (generated, or a client's checked against [A-Za-z0-9._:+/=-]), the trace id (hex), the client
  // address and the method (an HTTP token, checked by the parser) never need escaping.
  const client = ctx.clientIp;
  const method = ctx.req.method;
  if (ctx.host !== memo.host || client !== memo.client || method !== memo.method || memo.mid === '') {
    memo.host = ctx.host;
    memo.client = client;
    memo.method = method;
    memo.mid = flat(`","client":"${client}","method":"${method}","host":${str(ctx.host)},"path":`);
  }
  if (ctx.path !== memo.path || memo.pathJson === '') {
    memo.path = ctx.path;
    memo.pathJson = flat(str(ctx.path));
  }
  const status = ctx.status || ctx.res.statusCode;
  const route = ctx.route?.id;
  const upstream = ctx.upstreamName;
  const server = ctx.peer?.authority;
  if (status !== memo.status || ctx.bytesIn !== memo.bytesIn || ctx.bytesOut !== memo.bytesOut || route !== memo.route || upstream !== memo.upstream || server !== memo.server) {
    memo.status = status;
    memo.bytesIn = ctx.bytesIn;
    memo.bytesOut = ctx.bytesOut;
    memo.route = route;
    memo.upstream = upstream;
    memo.server = server;
    memo.tail = flat(`,"status":${status},"bytes_in":${ctx.bytesIn},"bytes_out":${ctx.bytesOut}${optStr('route', route)}${optStr('upstream', upstream)}${optStr('server', server)},"duration_ms":`);
  }
  let line = memo.head + ctx.requestId + (traceId === undefined ? memo.mid : `","trace_id":"${traceId}${memo.mid}`) + memo.pathJson + memo.tail + ms(now - ctx.start);
  if (ctx.upstreamMs >= 0) line += `,"upstream_ms":${ms(ctx.upstreamMs)}`;
  if (ctx.attempts) line += `,"attempts":${JSON.stringify(ctx.attempts.map((a) => ({ ...a, ms: Math.round(a.ms * 1000) / 1000 })))}`;
  if (err) line += `,"error":"${err.code}"`;
  return `${line}}\n`;
}

export interface AccessLogOptions {
  /** Each line carries the request's `trace_id` (the config has `tracing`). */
  traceIds?: boolean;
}

export function createAccessLog(dest: string | undefined, opts: AccessLogOptions = {}): AccessLog {
  const traced = opts.traceIds === true;
  // A file is written synchronously in 8 KiB batches (as nginx writes its log); stdout may be a slow pipe, so async.
  const out = createLineWriter({ path: dest });
  // ISO time, formatted at most once per millisecond.
  let lastMs = 0;
  let lastIso = '';
  const memo = lineMemo();
  const timer = setInterval(() => void out.flush(), 1000);
  timer.unref();
  return {
    write(ctx, err) {
      const wall = Date.now();
      if (wall !== lastMs) {
        lastMs = wall;
        lastIso = new Date(wall).toISOString();
      }
      out.write(accessLine(ctx, err, ctx.end || performance.now(), lastIso, traced ? traceIdOf(ctx) : undefined, memo));
    },
    flush: () => out.flush(),
    async close() {
      clearInterval(timer);
      await out.close();
    },
  };
}
