/**
 * OTLP/HTTP export of spans, JSON encoding (OTLP specification, "JSON Protobuf Encoding"): POST
 * `{"resourceSpans":[{resource, scopeSpans:[{scope, spans}]}]}` as `application/json`, ids as hex strings,
 * times as decimal strings of Unix nanoseconds, enums (kind, status code) as integers.
 *
 * A small batcher, written by hand rather than with the OpenTelemetry SDK (a span per request needs none of
 * its context machinery): spans wait in a bounded queue (`max_queue`, 2048 by default), go out every second
 * or as soon as 512 are waiting, one request at a time, each bounded by `timeout`. Nothing here ever blocks a
 * request: a full queue drops the new span and counts it; a failed export drops its batch and counts it (no
 * retry: the next batch is already coming). Both are logged, the first at once, then at most every 10 s.
 * `close()` sends what waits, within one `timeout`, then closes the connection pool.
 */
import type { Logger } from 'pino';
import type { ProxyMeter } from '../core/services.js';
import { Agent, request } from 'undici';

/** A span in the OTLP JSON mapping (opentelemetry/proto/trace/v1/trace.proto, field names in lowerCamelCase). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  /** StatusCode: 0 UNSET, 2 ERROR. */
  status: { code: number };
}

/** A KeyValue; int64 values are decimal strings, as the protobuf JSON mapping writes them. */
export interface OtlpAttribute { key: string; value: { stringValue: string } | { intValue: string } }

export interface SpanExporterOptions {
  endpoint: string;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  serviceName: string;
  log: Logger;
  /** Spans held at most; 2048 by default. */
  maxQueue?: number;
  /** Spans per export request; 512 by default. */
  maxBatch?: number;
  /** How often waiting spans are sent (ms); 1000 by default. */
  intervalMs?: number;
  /** The instrumentation scope's version (the package's). */
  version?: string | undefined;
  /** Counts the spans in the proxy's metrics too (`gatehouse_tracing_spans_total`, across reloads). */
  meter?: Pick<ProxyMeter, 'spans'> | undefined;
}

/** Counts since the exporter was made. */
export interface ExportStats {
  /** Spans waiting now. */
  queued: number;
  /** Spans the receiver took (a 2xx answer). */
  exported: number;
  /** Spans dropped because the queue was full (or the exporter closed). */
  dropped: number;
  /** Spans in batches whose export failed (refused, timed out, not 2xx). */
  failed: number;
}

export interface SpanExporter {
  /** Queues a span; never blocks, never throws (a full queue drops it). */
  add(span: OtlpSpan): void;
  /** Sends everything queued now (one request at a time); resolves when done. */
  flush(): Promise<void>;
  stats(): ExportStats;
  /** Sends what waits (within one timeout), stops the timer, closes the connections. */
  close(): Promise<void>;
}

const REPORT_EVERY_MS = 10_000;

type Counts = Omit<ExportStats, 'queued'>;

/** The counts, and their log lines: the first drop or failure at once, then what came since at most every REPORT_EVERY_MS. */
function exportCounts(log: Logger, endpoint: string, meter: Pick<ProxyMeter, 'spans'> | undefined) {
  const counts: Counts = { exported: 0, dropped: 0, failed: 0 };
  const reported = { dropped: 0, failed: 0, at: 0 };
  let cause = '';
  function report(force: boolean): void {
    const dropped = counts.dropped - reported.dropped;
    const failed = counts.failed - reported.failed;
    if (dropped === 0 && failed === 0) return;
    const now = Date.now();
    if (!force && now - reported.at < REPORT_EVERY_MS) return;
    Object.assign(reported, { dropped: counts.dropped, failed: counts.failed, at: now });
    log.warn({ endpoint, dropped, failed, cause: cause || undefined }, `tracing: ${dropped} spans dropped (export queue full), ${failed} not exported`);
  }
  return {
    counts,
    report,
    /** A batch of `n` spans was sent: taken, or not (`problem` says why). */
    sent(n: number, problem: string | undefined): void {
      meter?.spans(problem === undefined ? 'exported' : 'failed', n);
      if (problem === undefined) return void (counts.exported += n);
      counts.failed += n;
      cause = problem;
      report(false);
    },
    dropped(n: number): void {
      counts.dropped += n;
      meter?.spans('dropped', n);
      report(false);
    },
  };
}

/** POSTs one export request; undefined when the receiver took it (2xx), else why not. */
async function post(agent: Agent, opts: SpanExporterOptions, headers: Record<string, string>, body: string): Promise<string | undefined> {
  try {
    const res = await request(opts.endpoint, {
      method: 'POST', headers, body, dispatcher: agent,
      headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `status ${res.statusCode}`;
  } catch (err) {
    return (err as Error)?.message ?? String(err);
  }
}

/** The export request's body for a batch of spans, each already JSON (OTLP ExportTraceServiceRequest in JSON). */
function encoder(opts: SpanExporterOptions): (spans: string[]) => string {
  const resource = { attributes: [{ key: 'service.name', value: { stringValue: opts.serviceName } }] };
  const scope = { name: 'gatehouse', ...(opts.version ? { version: opts.version } : {}) };
  const head = `{"resourceSpans":[{"resource":${JSON.stringify(resource)},"scopeSpans":[{"scope":${JSON.stringify(scope)},"spans":[`;
  return (spans) => `${head}${spans.join(',')}]}]}]}`;
}

export function createSpanExporter(opts: SpanExporterOptions): SpanExporter {
  const maxQueue = opts.maxQueue ?? 2048;
  const maxBatch = Math.min(opts.maxBatch ?? 512, maxQueue);
  const agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 });
  const headers = { ...opts.headers, 'content-type': 'application/json' };
  const encode = encoder(opts);
  const tally = exportCounts(opts.log, opts.endpoint, opts.meter);
  // Spans wait as their JSON: a queued span holds its own bytes, not the request strings its attributes were
  // cut from (a V8 sliced string keeps the whole parent, e.g. the URL with its query string).
  let queue: string[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;

  /** Starts sending a batch unless one is on its way or nothing waits. */
  function kick(): void {
    if (sending !== undefined || queue.length === 0) return;
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
    sending = post(agent, opts, headers, encode(batch)).then((problem) => {
      sending = undefined;
      tally.sent(batch.length, problem);
      if (queue.length >= maxBatch) kick();
    });
  }

  const timer = setInterval(() => { kick(); tally.report(false); }, opts.intervalMs ?? 1000);
  timer.unref();

  async function drain(deadline: number): Promise<void> {
    // Bounded: each round sends one batch or waits for the one on its way.
    for (let i = 0; i <= Math.ceil(maxQueue / maxBatch) + 1 && Date.now() < deadline; i++) {
      kick();
      if (sending === undefined) return;
      await sending;
    }
  }

  return {
    add(span) {
      if (closed || queue.length >= maxQueue) return tally.dropped(1);
      queue.push(JSON.stringify(span));
      if (queue.length >= maxBatch) kick();
    },
    flush: () => drain(Date.now() + opts.timeoutMs * (Math.ceil(maxQueue / maxBatch) + 1)),
    stats: () => ({ queued: queue.length, ...tally.counts }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await drain(Date.now() + opts.timeoutMs);
      const left = queue.length;
      queue = [];
      // An export still on its way (past the deadline) is cut, and counted as failed before this resolves.
      await agent.destroy();
      await sending;
      tally.counts.dropped += left;
      tally.report(true);
    },
  };
}
