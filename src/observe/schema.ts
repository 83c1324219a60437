/** Logging, the access log and tracing. */
import { z } from 'zod';
import { duration, headerName, headerValue } from '../config/units.js';

export const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Level of the process log (stderr)'),
    format: z.enum(['json', 'pretty']).optional()
      .describe('json: one JSON object per line (for log collectors); pretty: one readable line per event. Default: pretty when stderr is a terminal, else json. Read at start'),
  })
  .prefault({})
  .describe('Process log');

export const accessLogSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Write one JSON line per request'),
    path: z.string().optional().describe('File to append to (relative to the config file); stdout by default'),
  })
  .prefault({})
  .describe('Access log: one JSON line per request');

export type AccessLogConfig = z.output<typeof accessLogSchema>;
export type LogConfig = z.output<typeof logSchema>;

/** OTLP/HTTP export of the spans (`tracing.otlp`). */
export const otlpSchema = z
  .strictObject({
    endpoint: z.string().url().refine((u) => /^https?:\/\//.test(u), 'an http:// or https:// URL')
      .describe('OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces; spans are POSTed as JSON (application/json)'),
    // The values are often an API key: shown as [redacted] by GET /api/config, never echoed by a config error.
    headers: z.record(headerName, headerValue.meta({ writeOnly: true })).default({})
      .describe('Request headers sent with every export, e.g. an API key (secrets: GET /api/config shows them as [redacted])'),
    timeout: duration.prefault('5s').describe('How long one export may take; past it the batch is dropped'),
    max_queue: z.number().int().min(1).max(1_000_000).default(2048)
      .describe('Spans held while waiting for export; beyond it new spans are dropped and counted, never blocking a request'),
  })
  .describe('Export spans with OTLP/HTTP (JSON encoding) to an OpenTelemetry collector');

export const tracingSchema = z
  .strictObject({
    service_name: z.string().min(1).default('gatehouse').describe('Resource attribute service.name of the exported spans'),
    sample: z.number().min(0).max(1).default(1)
      .describe('Share of traces recorded (0 to 1). A request whose traceparent is followed (`trust_parent`) keeps its caller\'s sampled flag instead'),
    trust_parent: z.enum(['trusted', 'always', 'never']).default('trusted')
      .describe('Whose sampled flag in an incoming traceparent decides whether the trace is recorded. trusted: only a peer in `trusted_proxies`; any other caller\'s trace is continued (same trace-id, tracestate) but recorded at the `sample` ratio by a random draw, so that the Internet does not decide what an edge proxy exports. always: every caller\'s (parent-based, behind a trusted edge). never: `sample` decides for every request'),
    response_header: z.boolean().default(false)
      .describe('Add a traceparent naming the request\'s span to every response (off: clients learn nothing of the trace)'),
    otlp: otlpSchema.optional(),
  })
  .describe('W3C Trace Context: continue or start a trace per request, send the upstream a traceparent naming each attempt, log trace_id; with `otlp`, export the spans (docs/operations.md, Tracing). Without this key traceparent and tracestate pass through unchanged');

export type OtlpConfig = z.output<typeof otlpSchema>;
export type TracingConfig = z.output<typeof tracingSchema>;
