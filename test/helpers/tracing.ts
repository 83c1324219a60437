/** Tracing test helpers: W3C ids, a test OTLP/HTTP receiver, an origin that keeps the trace headers. */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import type { OtlpSpan } from '../../src/observe/trace-export.js';
import { send } from './client.js';
import { startOrigin } from './origin.js';
import { startProxy, type ProxyConfig } from './proxy.js';

export const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const PID = '00f067aa0ba902b7';
export const INCOMING = `00-${TID}-${PID}-01`;
export const OUT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

export interface OtlpBody { resourceSpans: { resource: { attributes: Attr[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[] }
export type Attr = { key: string; value: { stringValue?: string; intValue?: string } };

/** A test OTLP/HTTP receiver on 127.0.0.1:0: keeps each JSON body; `hang` never answers. */
export async function startReceiver(t: TestContext, opts: { hang?: boolean } = {}) {
  const bodies: OtlpBody[] = [];
  const contentTypes: string[] = [];
  const hung: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (opts.hang) return void hung.push(res);
      contentTypes.push(req.headers['content-type'] ?? '');
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as OtlpBody);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const spans = (): OtlpSpan[] => bodies.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, bodies, contentTypes, spans };
}

export function attr(span: OtlpSpan, key: string): string | undefined {
  const v = (span.attributes as Attr[]).find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue;
}

/** An origin that answers 200 and keeps the trace headers of each request. */
export async function traceOrigin(t: TestContext, status = 200) {
  const seen: IncomingHttpHeaders[] = [];
  const o = await startOrigin(t, (req, res) => { seen.push(req.headers); res.writeHead(status).end('ok'); });
  return { ...o, seen };
}

export function proxyConfig(origin: string, tracing: ProxyConfig['tracing'], extra: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    upstreams: { app: { servers: [origin] } },
    routes: [{ name: 'app-route', match: { path: '/' }, proxy: { upstream: 'app' } }],
    tracing, ...extra,
  };
}

/** `n` requests carrying `traceparent` to a proxy with `tracing` (+ otlp to a fresh receiver): what the origin saw, the spans exported. */
export async function traced(t: TestContext, tracing: NonNullable<ProxyConfig['tracing']>, opts: { extra?: Partial<ProxyConfig>; n?: number; traceparent?: string } = {}) {
  const receiver = await startReceiver(t);
  const origin = await traceOrigin(t);
  const p = await startProxy(t, proxyConfig(origin.url, { ...tracing, otlp: { endpoint: receiver.url } }, opts.extra));
  for (let i = 0; i < (opts.n ?? 1); i++) {
    assert.equal((await send(`${p.url}/t${i}`, { headers: { traceparent: opts.traceparent ?? INCOMING, tracestate: 'congo=1' } })).status, 200);
  }
  await p.gh.stop();
  return { spans: receiver.spans(), sent: origin.seen.map((h) => ({ m: OUT.exec(String(h.traceparent))!, state: h.tracestate })) };
}
