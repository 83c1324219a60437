/**
 * Plugin `tracing` (W3C Trace Context, optional OTLP export). First in the pipeline, so that every request has
 * its trace before any filter can answer it. Hooks, all global: `earlyRequestFilter` continues the incoming
 * trace (a valid traceparent: same trace-id, a new span whose parent is the caller's; its sampled flag followed
 * only per `trust_parent`) or starts one (absent or invalid: §4.3 restarts the trace and drops tracestate);
 * `upstreamRequestFilter` sends the upstream a traceparent naming a new span per attempt; `responseFilter` (with
 * `response_header`) names the request's span to the client; `logging` hands the finished spans to the exporter.
 * Span data is kept only for a sampled trace with an exporter: otherwise only the ids are made (propagation).
 *
 * Without `tracing` in the config the plugin has no hooks: traceparent and tracestate pass through unchanged.
 */
import { performance } from 'node:perf_hooks';
import type { RequestCtx } from '../core/context.js';
import { definePlugin, type Phases } from '../core/plugin.js';
import type { ProxyMeter } from '../core/services.js';
import { formatTraceparent, idSource, isTracestateKept, parseTraceparent, sampledByRatio, type IdSource, type TraceParent } from './trace-context.js';
import { createSpanExporter, type SpanExporter } from './trace-export.js';
import { attemptSpans, kTrace, serverSpan, type RequestTrace } from './trace-spans.js';

export { traceIdOf } from './trace-spans.js';
import type { TracingConfig } from './schema.js';

/** Settings of the `tracing` plugin: the config's `tracing`, and the package version for the exported scope. */
export interface TracingPluginConfig { tracing: TracingConfig | undefined; version?: string | undefined; meter?: ProxyMeter | undefined }

/** Removes every field named `name` (lower-case; `len` its length) from a flat [name, value, …] list. */
function dropFields(headers: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const n = headers[r]!;
    if (n.length === name.length && n.toLowerCase() === name) continue;
    headers[w++] = n;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
}

/** What a config generation's tracing needs per request. */
interface Tracer {
  readonly ids: IdSource;
  readonly sample: number;
  readonly trust: TracingConfig['trust_parent'];
  /** Spans are exported (`otlp` is set): only then is span data kept. */
  readonly exports: boolean;
}

/**
 * Whether a continued trace is recorded. An edge proxy must not let the Internet decide what it exports: a
 * client's `-01` would otherwise force export at `sample: 0` and crowd sampled spans out of the queue. So the
 * caller's flag is followed only as `trust_parent` allows (`trusted`: a peer in `trusted_proxies`, the check
 * X-Forwarded-For uses); otherwise `sample` decides by a random draw, not from the trace-id, which the client
 * chose and could choose to be always sampled.
 */
function parentSampled(ctx: RequestCtx, tr: Tracer, parent: TraceParent): boolean {
  if (tr.trust === 'always' || (tr.trust === 'trusted' && ctx.trustedPeer)) return parent.sampled;
  return tr.ids.draw(tr.sample);
}

/**
 * The request's place in its trace (§4.2, §4.3): a valid incoming traceparent is continued (same trace-id, a new
 * span whose parent is the caller's, sampled per `trust_parent`); an absent or invalid one starts a new trace,
 * sampled at `sample` from its id, and its tracestate is not passed on.
 */
function beginTrace(ctx: RequestCtx, tr: Tracer): RequestTrace {
  // Several fields of one name come joined by commas (RFC 9110 5.3).
  const parent = parseTraceparent(ctx.req.header('traceparent'));
  const traceId = parent?.traceId ?? tr.ids.traceId();
  const state = ctx.req.header('tracestate');
  const sampled = parent ? parentSampled(ctx, tr, parent) : sampledByRatio(traceId, tr.sample);
  const record = sampled && tr.exports;
  const t: RequestTrace = {
    traceId, spanId: tr.ids.spanId(), parentId: parent?.parentId, sampled, record,
    // §3.3.1: tracestate goes with its traceparent, and only as a list of at most 32 members.
    keepState: parent !== undefined && (state === undefined || isTracestateKept(state)),
    path: record ? ctx.path : '', attempts: undefined,
  };
  ctx.set(kTrace, t);
  return t;
}

/**
 * Per attempt: the traceparent naming a new span in place of the client's (tracestate kept or dropped), and,
 * when the trace is recorded, that CLIENT span's data.
 */
function attemptFilter(tr: Tracer): Phases['upstreamRequestFilter'] {
  return (ctx, req) => {
    const t = ctx.get(kTrace) ?? beginTrace(ctx, tr);
    const spanId = tr.ids.spanId();
    if (t.record) {
      const q = req.path.indexOf('?');
      (t.attempts ??= []).push({
        spanId, start: performance.now(), peer: ctx.peer, upstream: ctx.upstreamName, method: req.method,
        path: q === -1 ? req.path : req.path.slice(0, q),
      });
    }
    dropFields(req.headers, 'traceparent');
    if (!t.keepState) dropFields(req.headers, 'tracestate');
    req.headers.push('traceparent', formatTraceparent(t.traceId, spanId, t.sampled));
  };
}

/** `response_header`: the response names the request's span (replacing an upstream's traceparent). */
const responseTraceparent: Phases['responseFilter'] = (ctx, res) => {
  const t = ctx.get(kTrace);
  if (t === undefined) return;
  dropFields(res.headers, 'traceparent');
  res.headers.push('traceparent', formatTraceparent(t.traceId, t.spanId, t.sampled));
};

export const tracing = definePlugin<TracingPluginConfig>({
  name: 'tracing',
  create(cfg, app) {
    const tc = cfg.tracing;
    if (tc === undefined) return {};
    // performance.now() → Unix ms, anchored once per config generation.
    const toWall = Date.now() - performance.now();
    const exporter: SpanExporter | undefined = tc.otlp && createSpanExporter({
      endpoint: tc.otlp.endpoint, headers: tc.otlp.headers, timeoutMs: tc.otlp.timeout, maxQueue: tc.otlp.max_queue,
      serviceName: tc.service_name, log: app.log, version: cfg.version, meter: cfg.meter,
    });
    const tr: Tracer = { ids: idSource(), sample: tc.sample, trust: tc.trust_parent, exports: exporter !== undefined };
    return {
      global: {
        earlyRequestFilter(ctx) {
          beginTrace(ctx, tr);
          return undefined;
        },
        upstreamRequestFilter: attemptFilter(tr),
        ...(tc.response_header ? { responseFilter: responseTraceparent } : {}),
        logging(ctx, err) {
          // A request refused before the early filters ran (a malformed head) gets its trace here.
          const t = ctx.get(kTrace) ?? beginTrace(ctx, tr);
          if (!t.record || exporter === undefined) return;
          const at = { err, end: ctx.end || performance.now(), toWall };
          exporter.add(serverSpan(ctx, t, at));
          if (t.attempts !== undefined) for (const s of attemptSpans(ctx, t, at)) exporter.add(s);
        },
      },
      close: () => exporter?.close(),
    };
  },
});
