/**
 * The spans of one request, built once it has ended (the `logging` phase): a SERVER span for the request and a
 * CLIENT span per upstream attempt, with the attributes of the OpenTelemetry HTTP semantic conventions
 * (semconv: "Semantic conventions for HTTP spans"). Only what identifies the request without its data: the
 * path but not the query string (semconv lets url.query out; its values may be secrets), no header values
 * besides the User-Agent and Host. What the client wrote is cut to 1024 characters (`clientStr`).
 */
import { stateKey, type RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';
import type { Peer } from '../core/services.js';
import type { OtlpAttribute, OtlpSpan } from './trace-export.js';

/** One upstream attempt's span, opened when the attempt is about to be sent. */
export interface AttemptSpan {
  readonly spanId: string;
  /** performance.now() when the attempt's request was prepared. */
  readonly start: number;
  readonly peer: Peer | undefined;
  readonly upstream: string | undefined;
  readonly method: string;
  /** The upstream path, without its query string. */
  readonly path: string;
}

/** A request's place in its trace (per request: RequestCtx state). */
export interface RequestTrace {
  readonly traceId: string;
  /** The request's own (SERVER) span. */
  readonly spanId: string;
  /** The caller's span, from a valid incoming traceparent. */
  readonly parentId: string | undefined;
  readonly sampled: boolean;
  /** Sampled, and an exporter is there: only then are the path and the attempts kept. */
  readonly record: boolean;
  /** Pass the incoming tracestate on: it came with a valid traceparent, within the limits of §3.3.1. */
  readonly keepState: boolean;
  /** The request's path (no query), as received; '' when the trace is not recorded. */
  readonly path: string;
  /** Recorded traces only. */
  attempts: AttemptSpan[] | undefined;
}

export const kTrace = stateKey<RequestTrace>('tracing.trace');

/** The trace id of a request, once the `tracing` plugin has given it one (for the access log). */
export function traceIdOf(ctx: RequestCtx): string | undefined {
  return ctx.get(kTrace)?.traceId;
}

// SpanKind and StatusCode of trace.proto.
const KIND_SERVER = 2;
const KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

// semconv http.request.method: the methods of RFC 9110 and PATCH; any other is `_OTHER` (its spelling in
// http.request.method_original), so that span names stay a bounded set.
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** Unix nanoseconds as a decimal string, from milliseconds since the epoch (with a fraction). */
export function unixNanos(ms: number): string {
  let whole = Math.floor(ms);
  let ns = Math.round((ms - whole) * 1e6);
  if (ns >= 1e6) { whole++; ns -= 1e6; }
  return `${whole}${String(ns).padStart(6, '0')}`;
}

const str = (key: string, v: string): OtlpAttribute => ({ key, value: { stringValue: v } });

/** Longest client-sourced string attribute kept, in characters (1 KiB of ASCII). */
const MAX_CLIENT_ATTRIBUTE = 1024;

/**
 * A string attribute whose value the client chose (its path, User-Agent, Host, method): cut to 1024 characters,
 * as an OpenTelemetry SDK's attribute value length limit cuts, so that `max_queue` spans waiting for export
 * stay small whatever the header limits allow. A surrogate pair is not split.
 */
function clientStr(key: string, v: string): OtlpAttribute {
  if (v.length <= MAX_CLIENT_ATTRIBUTE) return str(key, v);
  const end = (v.charCodeAt(MAX_CLIENT_ATTRIBUTE - 1) & 0xfc00) === 0xd800 ? MAX_CLIENT_ATTRIBUTE - 1 : MAX_CLIENT_ATTRIBUTE;
  return str(key, v.slice(0, end));
}
const int = (key: string, v: number): OtlpAttribute => ({ key, value: { intValue: String(v) } });

function methodAttributes(method: string, out: OtlpAttribute[]): string {
  if (METHODS.has(method)) {
    out.push(str('http.request.method', method));
    return method;
  }
  out.push(str('http.request.method', '_OTHER'), clientStr('http.request.method_original', method));
  return 'HTTP';
}

/** `host:port` → [host, port] (an IPv6 address without its brackets). */
function splitAuthority(authority: string): [string, number | undefined] {
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.endsWith(']')) return [authority.replace(/^\[|\]$/g, ''), undefined];
  return [authority.slice(0, colon).replace(/^\[|\]$/g, ''), Number(authority.slice(colon + 1))];
}

/** The SERVER span of a finished request. `toWall`: performance.now() time → Unix ms. */
export function serverSpan(ctx: RequestCtx, t: RequestTrace, opts: { err: ProxyError | undefined; end: number; toWall: number }): OtlpSpan {
  const attrs: OtlpAttribute[] = [];
  const name = methodAttributes(ctx.req.method, attrs);
  const status = ctx.status || ctx.res.statusCode;
  const req = ctx.req;
  attrs.push(
    str('url.scheme', ctx.proto), clientStr('url.path', t.path),
    str('network.protocol.version', req.httpVersion),
    str('client.address', ctx.clientIp), str('gatehouse.request_id', ctx.requestId),
  );
  if (ctx.host) attrs.push(clientStr('server.address', ctx.host));
  const port = req.localPort;
  if (port !== undefined) attrs.push(int('server.port', port));
  if (ctx.route) attrs.push(str('http.route', ctx.route.id));
  if (status) attrs.push(int('http.response.status_code', status));
  const ua = req.header('user-agent');
  if (ua !== undefined) attrs.push(clientStr('user_agent.original', ua));
  // semconv: a server span is an error for a 5xx (a 4xx is the client's), and whenever the request failed.
  const errorType = opts.err?.code ?? (status >= 500 ? String(status) : undefined);
  if (errorType !== undefined) attrs.push(str('error.type', errorType));
  return {
    traceId: t.traceId, spanId: t.spanId, ...(t.parentId ? { parentSpanId: t.parentId } : {}),
    name: ctx.route ? `${name} ${ctx.route.id}` : name, kind: KIND_SERVER,
    startTimeUnixNano: unixNanos(opts.toWall + ctx.start), endTimeUnixNano: unixNanos(opts.toWall + opts.end),
    attributes: attrs, status: { code: status >= 500 ? STATUS_ERROR : STATUS_UNSET },
  };
}

/** How attempt `i` ended: its status, or the error that ended it. */
function outcomeOf(ctx: RequestCtx, i: number, last: boolean, err: ProxyError | undefined): { status?: number; error?: string; ms?: number } {
  const rec = ctx.attempts?.[i];
  if (rec !== undefined) {
    const n = Number(rec.outcome);
    return Number.isInteger(n) ? { status: n, ms: rec.ms } : { error: rec.outcome, ms: rec.ms };
  }
  if (!last) return {};
  if (err !== undefined && err.opts.source !== 'downstream') return { error: err.code };
  const status = ctx.status || ctx.res.statusCode;
  return status ? { status } : {};
}

/** The CLIENT spans of the request's upstream attempts, children of its SERVER span. */
export function attemptSpans(ctx: RequestCtx, t: RequestTrace, opts: { err: ProxyError | undefined; end: number; toWall: number }): OtlpSpan[] {
  const list = t.attempts ?? [];
  return list.map((a, i) => {
    const attrs: OtlpAttribute[] = [];
    const name = methodAttributes(a.method, attrs);
    if (a.peer) {
      const [host, port] = splitAuthority(a.peer.authority);
      attrs.push(str('server.address', host), clientStr('url.full', a.peer.origin + a.path));
      if (port !== undefined) attrs.push(int('server.port', port));
    }
    if (a.upstream !== undefined) attrs.push(str('gatehouse.upstream', a.upstream));
    if (i > 0) attrs.push(int('http.request.resend_count', i));
    const o = outcomeOf(ctx, i, i === list.length - 1, opts.err);
    if (o.status !== undefined) attrs.push(int('http.response.status_code', o.status));
    if (o.error !== undefined) attrs.push(str('error.type', o.error));
    else if (o.status !== undefined && o.status >= 400) attrs.push(str('error.type', String(o.status)));
    // semconv: a client span is an error for a 4xx or 5xx, and when no response came.
    const failed = o.error !== undefined || (o.status !== undefined && o.status >= 400);
    const end = o.ms !== undefined ? a.start + o.ms : list[i + 1]?.start ?? opts.end;
    return {
      traceId: t.traceId, spanId: a.spanId, parentSpanId: t.spanId, name, kind: KIND_CLIENT,
      startTimeUnixNano: unixNanos(opts.toWall + a.start), endTimeUnixNano: unixNanos(opts.toWall + Math.max(end, a.start)),
      attributes: attrs, status: { code: failed ? STATUS_ERROR : STATUS_UNSET },
    };
  });
}
