import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { ConfigError, createGatehouse, definePlugin } from '../src/index.js';
import { createSpanExporter, type OtlpSpan } from '../src/observe/trace-export.js';
import { idSource, isTracestateKept, parseTraceparent, sampledByRatio } from '../src/observe/trace-context.js';
import { kTrace, unixNanos, type RequestTrace } from '../src/observe/trace-spans.js';
import { send } from './helpers/client.js';
import { freePort, waitFor } from './helpers/origin.js';
import { scrape, sampleKey } from './helpers/metrics.js';
import { startProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/tmp.js';
import { attr, INCOMING, OUT, PID, proxyConfig, startReceiver, TID, traced, traceOrigin } from './helpers/tracing.js';

test('W3C Trace Context 3.2.2: traceparent validation (lower-case hex, no all-zero ids, version ff, version 00 exact length, future versions)', () => {
  assert.deepEqual(parseTraceparent(INCOMING), { traceId: TID, parentId: PID, sampled: true });
  assert.equal(parseTraceparent(`00-${TID}-${PID}-00`)?.sampled, false);
  assert.equal(parseTraceparent(`00-${TID}-${PID}-09`)?.sampled, true, 'a bit field: only the lowest bit is sampled');
  const invalid = [
    undefined, '', `00-${TID.toUpperCase()}-${PID}-01`, `00-${TID}-${PID.toUpperCase()}-01`, `00-${TID}-${PID}-0A`,
    `00-${'0'.repeat(32)}-${PID}-01`, `00-${TID}-${'0'.repeat(16)}-01`, `ff-${TID}-${PID}-01`, `00-${TID}-${PID}-01-`,
    `00-${TID}-${PID}-01-extra`, `00-${TID.slice(1)}-${PID}-01`, `00-${TID}-${PID}0-01`, `0-${TID}-${PID}-01`,
    `00_${TID}-${PID}-01`, `${INCOMING}, ${INCOMING}`, `cc-${TID}-${PID}-01x`, `zz-${TID}-${PID}-01`,
  ];
  for (const v of invalid) assert.equal(parseTraceparent(v), undefined, String(v));
  // §3.2.4: a higher version is read as 00 where it can be, its extra fields ignored.
  assert.deepEqual(parseTraceparent(`cc-${TID}-${PID}-01-what-the-future-holds`), { traceId: TID, parentId: PID, sampled: true });
  assert.deepEqual(parseTraceparent(`01-${TID}-${PID}-00`), { traceId: TID, parentId: PID, sampled: false });
});

test('W3C Trace Context 3.3.1.1: tracestate is kept up to 32 list-members (empty ones not counted)', () => {
  const members = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}=v${i}`).join(',');
  assert.equal(isTracestateKept(members(32)), true);
  assert.equal(isTracestateKept(`${members(32)}, ,`), true);
  assert.equal(isTracestateKept(members(33)), false);
  assert.equal(isTracestateKept(`congo=${'x'.repeat(600)}`), true, 'longer than 512: passed on unchanged');
});

test('tracing ids: pooled, hex, distinct; ratio sampling by trace-id, and by a random draw; Unix nanoseconds as decimal strings', () => {
  const ids = idSource(64);
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const tid = ids.traceId();
    const sid = ids.spanId();
    assert.match(tid, /^[0-9a-f]{32}$/);
    assert.match(sid, /^[0-9a-f]{16}$/);
    seen.add(tid);
  }
  assert.equal(seen.size, 100, 'the pool is refilled, never reused');
  assert.equal(sampledByRatio(TID, 1), true);
  assert.equal(sampledByRatio(TID, 0), false);
  let n = 0;
  for (let i = 0; i < 2000; i++) if (sampledByRatio(ids.traceId(), 0.25)) n++;
  assert.ok(n > 350 && n < 650, `about a quarter sampled, got ${n}/2000`);
  let drawn = 0;
  for (let i = 0; i < 2000; i++) if (ids.draw(0.25)) drawn++;
  assert.ok(drawn > 350 && drawn < 650, `random draw: about a quarter, got ${drawn}/2000`);
  assert.equal(ids.draw(1), true);
  assert.equal(ids.draw(0), false);
  assert.equal(unixNanos(1_700_000_000_123.5), '1700000000123500000');
  assert.equal(unixNanos(1_700_000_000_123.25), '1700000000123250000');
  assert.equal(unixNanos(1_700_000_000_000.9999999), '1700000000001000000');
  assert.equal(unixNanos(5), '5000000');
});

test('W3C Trace Context 4.3: a valid traceparent is continued: same trace-id upstream, the attempt\'s span as parent-id, tracestate unchanged; OTLP JSON spans exported; trace_id logged', async (t) => {
  const receiver = await startReceiver(t);
  const origin = await traceOrigin(t);
  const log = join(tempDir('tracing'), 'access.log');
  const proxy = await startProxy(t, proxyConfig(origin.url, { service_name: 'edge', otlp: { endpoint: receiver.url } }, { access_log: { path: log } }));
  const r = await send(`${proxy.url}/a/b?token=secret`, { headers: { traceparent: INCOMING, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'user-agent': 'test/1' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.traceparent, undefined, 'no response header by default');
  const [, tid, parent, flags] = OUT.exec(String(origin.seen[0]!.traceparent))!;
  assert.equal(tid, TID);
  assert.notEqual(parent, PID);
  assert.equal(flags, '01');
  assert.equal(origin.seen[0]!.tracestate, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  await proxy.gh.stop(); // flushes the exporter and the access log

  assert.deepEqual(receiver.contentTypes, ['application/json']);
  const body = receiver.bodies[0]!;
  assert.deepEqual(body.resourceSpans[0]!.resource.attributes, [{ key: 'service.name', value: { stringValue: 'edge' } }]);
  assert.equal(body.resourceSpans[0]!.scopeSpans[0]!.scope.name, 'gatehouse');
  const spans = receiver.spans();
  const server = spans.find((s) => s.kind === 2)!;
  const client = spans.find((s) => s.kind === 3)!;
  assert.equal(spans.length, 2);
  assert.equal(server.traceId, TID);
  assert.equal(server.parentSpanId, PID);
  assert.equal(server.name, 'GET app-route');
  assert.equal(client.spanId, parent, 'the upstream was told the attempt span');
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(client.traceId, TID);
  assert.match(server.startTimeUnixNano, /^\d{19}$/);
  assert.ok(BigInt(server.endTimeUnixNano) >= BigInt(client.endTimeUnixNano) && BigInt(client.startTimeUnixNano) >= BigInt(server.startTimeUnixNano));
  assert.ok(Math.abs(Number(BigInt(server.startTimeUnixNano) / 1_000_000n) - Date.now()) < 60_000);
  assert.deepEqual(server.status, { code: 0 });
  const want: Record<string, string> = {
    'http.request.method': 'GET', 'url.path': '/a/b', 'url.scheme': 'http', 'http.route': 'app-route', 'http.response.status_code': '200',
    'server.address': '127.0.0.1', 'server.port': String(proxy.port), 'network.protocol.version': '1.1', 'client.address': '127.0.0.1', 'user_agent.original': 'test/1',
  };
  for (const [k, v] of Object.entries(want)) assert.equal(attr(server, k), v, k);
  assert.equal(attr(server, 'url.query'), undefined, 'the query string is left out');
  assert.ok(!JSON.stringify(spans).includes('secret'));
  assert.equal(attr(client, 'server.address'), '127.0.0.1');
  assert.equal(attr(client, 'server.port'), String(origin.port));
  assert.equal(attr(client, 'gatehouse.upstream'), 'app');
  assert.equal(attr(client, 'http.response.status_code'), '200');
  assert.equal(attr(client, 'url.full'), `${origin.url}/a/b`);
  assert.equal(attr(client, 'http.request.resend_count'), undefined);
  const line = JSON.parse(readFileSync(log, 'utf8').trim()) as Record<string, unknown>;
  assert.equal(line.trace_id, TID);
});

test('tracing: a retry on another server is a second client span (http.request.resend_count 1), each upstream told its own attempt span', async (t) => {
  const receiver = await startReceiver(t);
  const failing = await traceOrigin(t, 503);
  const good = await traceOrigin(t);
  const proxy = await startProxy(t, {
    upstreams: { app: { servers: [failing.url, good.url], retry_on_status: [503] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
    tracing: { otlp: { endpoint: receiver.url } },
  });
  // Round robin: one of two requests meets the failing server first.
  for (let i = 0; i < 2; i++) assert.equal((await send(`${proxy.url}/r${i}`)).status, 200);
  await proxy.gh.stop();
  assert.ok(failing.seen.length >= 1);
  const first = OUT.exec(String(failing.seen[0]!.traceparent))!;
  const clients = receiver.spans().filter((s) => s.kind === 3 && s.traceId === first[1]);
  assert.equal(clients.length, 2);
  const [a, b] = clients.sort((x, y) => (BigInt(x.startTimeUnixNano) < BigInt(y.startTimeUnixNano) ? -1 : 1));
  assert.equal(a!.spanId, first[2]);
  assert.equal(attr(a!, 'http.response.status_code'), '503');
  assert.equal(attr(a!, 'server.port'), String(failing.port));
  assert.deepEqual(a!.status, { code: 2 });
  const second = good.seen.map((h) => OUT.exec(String(h.traceparent))!).find((m) => m[1] === first[1])!;
  assert.equal(b!.spanId, second[2]);
  assert.notEqual(second[2], first[2]);
  assert.equal(attr(b!, 'http.request.resend_count'), '1');
  assert.equal(attr(b!, 'server.port'), String(good.port));
  assert.equal(attr(b!, 'http.response.status_code'), '200');
  assert.equal(a!.parentSpanId, b!.parentSpanId);
});

test('W3C Trace Context 4.2: without a traceparent a trace is started, sampled per `sample`; tracestate without traceparent is dropped', async (t) => {
  const receiver = await startReceiver(t);
  const origin = await traceOrigin(t);
  const on = await startProxy(t, proxyConfig(origin.url, { sample: 1, otlp: { endpoint: receiver.url } }));
  assert.equal((await send(`${on.url}/x`, { headers: { tracestate: 'congo=1' } })).status, 200);
  await on.gh.stop();
  const [, tid, sid, flags] = OUT.exec(String(origin.seen[0]!.traceparent))!;
  assert.equal(flags, '01');
  assert.equal(origin.seen[0]!.tracestate, undefined);
  const server = receiver.spans().find((s) => s.kind === 2)!;
  assert.equal(server.traceId, tid);
  assert.equal(server.parentSpanId, undefined, 'a root span');
  assert.equal(receiver.spans().find((s) => s.kind === 3)!.spanId, sid);

  const log = join(tempDir('tracing-sample'), 'access.log');
  const off = await startProxy(t, proxyConfig(origin.url, { sample: 0, trust_parent: 'always', otlp: { endpoint: receiver.url } }, { access_log: { path: log } }));
  assert.equal((await send(`${off.url}/y`)).status, 200);
  // Parent-based (trust_parent: always): a caller's sampled flag wins over the ratio.
  assert.equal((await send(`${off.url}/z`, { headers: { traceparent: INCOMING } })).status, 200);
  await off.gh.stop();
  const unsampled = OUT.exec(String(origin.seen[1]!.traceparent))!;
  assert.equal(unsampled[3], '00');
  assert.notEqual(unsampled[1], tid);
  assert.equal(OUT.exec(String(origin.seen[2]!.traceparent))![3], '01');
  assert.equal(receiver.spans().filter((s) => s.traceId === unsampled[1]).length, 0, 'an unsampled trace is not exported');
  assert.equal((JSON.parse(readFileSync(log, 'utf8').split('\n')[0]!) as Record<string, unknown>).trace_id, unsampled[1], 'logged, sampled or not');
  assert.equal(receiver.spans().filter((s) => s.traceId === TID).length, 2);
});

test('W3C Trace Context 4.3: an invalid traceparent (upper case, all zeros, wrong length, version ff, two fields) is replaced, and its tracestate dropped', async (t) => {
  const origin = await traceOrigin(t);
  const proxy = await startProxy(t, proxyConfig(origin.url, {}));
  const bad: (string | string[])[] = [
    `00-${TID.toUpperCase()}-${PID}-01`, `00-${'0'.repeat(32)}-${PID}-01`, `00-${TID}-${'0'.repeat(16)}-01`,
    `00-${TID}-${PID}-1`, `ff-${TID}-${PID}-01`, `00-${TID}-${PID}-01-x`, [INCOMING, INCOMING],
  ];
  for (const [i, v] of bad.entries()) {
    const r = await send(`${proxy.url}/bad`, { headers: { traceparent: v, tracestate: 'congo=t61rcWkgMzE' } });
    assert.equal(r.status, 200);
    const h = origin.seen[i]!;
    const m = OUT.exec(String(h.traceparent));
    assert.ok(m, `${String(v)} replaced by a valid traceparent, got ${String(h.traceparent)}`);
    assert.notEqual(m[1], TID, String(v));
    assert.equal(h.tracestate, undefined, String(v));
  }
  // A future version is continued, sent on as version 00.
  await send(`${proxy.url}/future`, { headers: { traceparent: `cc-${TID}-${PID}-01-more`, tracestate: 'a=1' } });
  const future = origin.seen.at(-1)!;
  assert.equal(OUT.exec(String(future.traceparent))![1], TID);
  assert.equal(future.tracestate, 'a=1');
  // More than 32 tracestate members is not a valid list: the trace is continued, the tracestate dropped.
  const many = Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',');
  await send(`${proxy.url}/many`, { headers: { traceparent: INCOMING, tracestate: many } });
  assert.equal(OUT.exec(String(origin.seen.at(-1)!.traceparent))![1], TID);
  assert.equal(origin.seen.at(-1)!.tracestate, undefined);
});

test('tracing off: traceparent and tracestate pass through unchanged (valid or not), no trace_id in the access log', async (t) => {
  const origin = await traceOrigin(t);
  const log = join(tempDir('tracing-off'), 'access.log');
  const proxy = await startProxy(t, proxyConfig(origin.url, undefined, { access_log: { path: log } }));
  const invalid = `00-${TID.toUpperCase()}-${PID}-01`;
  await send(`${proxy.url}/1`, { headers: { traceparent: INCOMING, tracestate: 'congo=1' } });
  await send(`${proxy.url}/2`, { headers: { traceparent: invalid } });
  await send(`${proxy.url}/3`);
  await proxy.gh.stop();
  assert.equal(origin.seen[0]!.traceparent, INCOMING);
  assert.equal(origin.seen[0]!.tracestate, 'congo=1');
  assert.equal(origin.seen[1]!.traceparent, invalid);
  assert.equal(origin.seen[2]!.traceparent, undefined);
  for (const l of readFileSync(log, 'utf8').trim().split('\n')) assert.equal((JSON.parse(l) as Record<string, unknown>).trace_id, undefined);
});

test('tracing over HTTP/2: the same propagation; response_header: true names the request\'s span to the client', async (t) => {
  const receiver = await startReceiver(t);
  const origin = await traceOrigin(t);
  const proxy = await startProxy(t, proxyConfig(origin.url, { response_header: true, otlp: { endpoint: receiver.url } }, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
  }));
  const session = h2connect(proxy.url);
  t.after(() => session.close());
  const head = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const s = session.request({ ':path': '/h2', traceparent: INCOMING });
    s.on('response', (h) => { s.resume(); s.on('end', () => resolve(h)); });
    s.on('error', reject);
    s.end();
  });
  assert.equal(head[':status'], 200);
  session.close();
  const sent = OUT.exec(String(origin.seen[0]!.traceparent))!;
  assert.equal(sent[1], TID);
  await proxy.gh.stop();
  const server = receiver.spans().find((s) => s.kind === 2)!;
  assert.equal(attr(server, 'network.protocol.version'), '2');
  assert.equal(server.parentSpanId, PID);
  assert.equal(head.traceparent, `00-${TID}-${server.spanId}-01`);
  const h1 = await startProxy(t, proxyConfig(origin.url, { response_header: true }));
  const r = await send(`${h1.url}/h1`);
  assert.equal(OUT.exec(String(r.headers.traceparent))![1], OUT.exec(String(origin.seen[1]!.traceparent))![1]);
});

test('tracing: with the receiver down requests still succeed; a receiver that hangs fills the bounded queue, and spans are dropped and counted', async (t) => {
  const origin = await traceOrigin(t);
  const down = await startProxy(t, proxyConfig(origin.url, { otlp: { endpoint: `http://127.0.0.1:${await freePort()}/v1/traces`, timeout: '500ms' } }));
  for (let i = 0; i < 20; i++) assert.equal((await send(`${down.url}/d${i}`)).status, 200);
  await down.gh.stop();

  const receiver = await startReceiver(t, { hang: true });
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } });
  const hanging = await startProxy(t, proxyConfig(origin.url, { otlp: { endpoint: receiver.url, timeout: '300ms', max_queue: 4 } }, { admin: { address: '127.0.0.1:0' } }), { logger: pino({ level: 'warn' }, dest) });
  for (let i = 0; i < 20; i++) assert.equal((await send(`${hanging.url}/h${i}`)).status, 200);
  await waitFor(() => lines.some((l) => typeof l.dropped === 'number' && l.dropped > 0), 5000, 'a dropped-spans warning');
  // And in the metrics: 20 requests, 2 spans each (the request, its attempt); at most 4 queued and 4 in the batch on its way.
  const m = await scrape(hanging.gh.adminUrl()!, {});
  assert.ok(m.get(sampleKey('gatehouse_tracing_spans_total', { result: 'dropped' }))! >= 32, String(m.get(sampleKey('gatehouse_tracing_spans_total', { result: 'dropped' }))));
  const started = Date.now();
  await hanging.gh.stop();
  assert.ok(Date.now() - started < 5000, 'stop waits for the exporter one timeout at most');
});

test('tracing: spans the receiver took are counted in gatehouse_tracing_spans_total{result="exported"}', async (t) => {
  const origin = await traceOrigin(t);
  const receiver = await startReceiver(t);
  const p = await startProxy(t, proxyConfig(origin.url, { otlp: { endpoint: receiver.url } }, { admin: { address: '127.0.0.1:0' } }));
  for (let i = 0; i < 3; i++) assert.equal((await send(`${p.url}/e${i}`)).status, 200);
  await waitFor(() => receiver.spans().length === 6, 5000, 'six spans at the receiver (a request and its attempt, three times)');
  await waitFor(async () => (await scrape(p.gh.adminUrl()!, {})).get(sampleKey('gatehouse_tracing_spans_total', { result: 'exported' })) === 6, 2000, 'six spans counted as exported');
  const m = await scrape(p.gh.adminUrl()!, {});
  assert.equal(m.get(sampleKey('gatehouse_tracing_spans_total', { result: 'dropped' })) ?? 0, 0);
});

test('span exporter: bounded queue, drops counted, failed batches counted, close within its timeout', async (t) => {
  const receiver = await startReceiver(t, { hang: true });
  const exp = createSpanExporter({ endpoint: receiver.url, headers: { 'x-key': 'k' }, timeoutMs: 200, serviceName: 's', log: pino({ level: 'silent' }), maxQueue: 8, maxBatch: 4, intervalMs: 50 });
  const span: OtlpSpan = { traceId: TID, spanId: PID, name: 'GET', kind: 2, startTimeUnixNano: '1', endTimeUnixNano: '2', attributes: [], status: { code: 0 } };
  for (let i = 0; i < 100; i++) exp.add(span);
  const s = exp.stats();
  assert.ok(s.queued <= 8, `queued ${s.queued}`);
  assert.equal(s.queued + s.dropped + 4, 100, 'one batch of 4 on its way, the rest queued or dropped');
  await waitFor(() => exp.stats().failed >= 4, 3000, 'the hung export to time out');
  const started = Date.now();
  await exp.close();
  assert.ok(Date.now() - started < 1500);
  const end = exp.stats();
  assert.equal(end.queued, 0);
  assert.equal(end.exported, 0);
  assert.equal(end.dropped + end.failed, 100);
  exp.add(span);
  assert.equal(exp.stats().dropped, end.dropped + 1, 'closed: dropped');
});

test('tracing trust_parent: a client\'s sampled flag decides nothing unless the client is trusted (trusted by default: trusted_proxies; always; never); the trace is continued either way', async (t) => {
  // sample 0, `-01` from 127.0.0.1, which is not in trusted_proxies: nothing exported, the trace still continued.
  const untrusted = await traced(t, { sample: 0 }, { n: 20 });
  assert.equal(untrusted.spans.length, 0, 'a client cannot force export');
  assert.equal(untrusted.sent.length, 20);
  for (const s of untrusted.sent) assert.deepEqual([s.m[1], s.m[3], s.state], [TID, '00', 'congo=1']);
  const trusted = await traced(t, { sample: 0 }, { extra: { trusted_proxies: ['127.0.0.1'] } });
  assert.equal(trusted.spans.length, 2, 'a trusted proxy\'s flag is followed');
  assert.equal(trusted.sent[0]!.m[3], '01');
  const always = await traced(t, { sample: 0, trust_parent: 'always' });
  assert.equal(always.spans.length, 2);
  assert.equal(always.spans[0]!.traceId, TID);
  const never = await traced(t, { sample: 0, trust_parent: 'never' }, { extra: { trusted_proxies: ['127.0.0.1'] } });
  assert.equal(never.spans.length, 0);
  assert.deepEqual([never.sent[0]!.m[1], never.sent[0]!.m[3]], [TID, '00']);
  // `sample` decides the other way too: an untrusted `-00` is recorded at sample 1.
  const unsampled = await traced(t, { sample: 1, trust_parent: 'never' }, { traceparent: `00-${TID}-${PID}-00` });
  assert.equal(unsampled.spans.length, 2);
});

test('tracing trust_parent: an untrusted caller\'s trace is sampled by a random draw, not from its trace-id (which it could pick to be always sampled)', async (t) => {
  const always = `${TID.slice(0, 19)}${'0'.repeat(13)}`; // low 52 bits zero: sampled by any ratio > 0
  assert.equal(sampledByRatio(always, 0.01), true);
  const r = await traced(t, { sample: 0.5 }, { n: 40, traceparent: `00-${always}-${PID}-01` });
  const flags = r.sent.map((s) => s.m[3]);
  assert.ok(flags.includes('00') && flags.includes('01'), flags.join(' '));
  assert.equal(r.spans.length, 2 * flags.filter((f) => f === '01').length, 'exactly the sampled ones exported');
  assert.ok(r.sent.every((s) => s.m[1] === always), 'the trace is continued');
});

test('tracing: client-sourced span attributes (url.path, user_agent.original, server.address, url.full) are cut to 1024 characters', async (t) => {
  const receiver = await startReceiver(t);
  const origin = await traceOrigin(t);
  const p = await startProxy(t, proxyConfig(origin.url, { otlp: { endpoint: receiver.url } }));
  const path = `/${'p'.repeat(3000)}`;
  const host = `${'h'.repeat(2000)}.example`;
  assert.equal((await send(`${p.url}${path}?q=1`, { headers: { 'user-agent': 'u'.repeat(3000), host } })).status, 200);
  await p.gh.stop();
  const server = receiver.spans().find((s) => s.kind === 2)!;
  const client = receiver.spans().find((s) => s.kind === 3)!;
  assert.equal(attr(server, 'url.path'), path.slice(0, 1024));
  assert.equal(attr(server, 'user_agent.original'), 'u'.repeat(1024));
  assert.equal(attr(server, 'server.address'), host.slice(0, 1024));
  assert.equal(attr(client, 'url.full'), `${origin.url}${path}`.slice(0, 1024));
  assert.equal(origin.seen[0]!['user-agent'], 'u'.repeat(3000), 'the request itself is unchanged');
});

test('tracing: span data is kept only for a sampled trace with an exporter; the upstream gets its traceparent regardless', async (t) => {
  const origin = await traceOrigin(t);
  const kept: (RequestTrace | undefined)[] = [];
  const probe = definePlugin({ name: 'probe', create: () => ({ global: { logging(ctx) { kept.push(ctx.get(kTrace)); } } }) });
  const receiver = await startReceiver(t);
  const otlp = { endpoint: receiver.url };
  for (const tracing of [{ sample: 1 }, { sample: 0, otlp }, { sample: 1, otlp }]) {
    const p = await startProxy(t, proxyConfig(origin.url, tracing), { plugins: [probe] });
    assert.equal((await send(`${p.url}/k`)).status, 200);
    await p.gh.stop();
  }
  assert.deepEqual(kept.map((k) => [k?.record, k?.attempts?.length, k?.path]), [[false, undefined, ''], [false, undefined, ''], [true, 1, '/k']]);
  assert.deepEqual(origin.seen.map((h) => OUT.exec(String(h.traceparent))?.[3]), ['01', '00', '01']);
});

test('tracing.otlp.headers are secrets: GET /api/config shows [redacted], a config error does not echo them', async (t) => {
  const origin = await traceOrigin(t);
  const p = await startProxy(t, proxyConfig(origin.url, { otlp: { endpoint: 'http://127.0.0.1:1/v1/traces', headers: { 'x-api-key': 'api-key-42' } } }, { admin: { address: '127.0.0.1:0' } }));
  const r = await send(`${p.gh.adminUrl()!}/api/config`);
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes('api-key-42'), 'the key is not shown');
  assert.deepEqual((JSON.parse(r.text) as { config: { tracing: { otlp: { headers: unknown } } } }).config.tracing.otlp.headers, { 'x-api-key': '[redacted]' });
  const bad = { listeners: [{ name: 'p', address: '127.0.0.1:0' }], tracing: { otlp: { endpoint: 'http://127.0.0.1:1/', headers: { 'x-api-key': 'api-key-43\n' } } } };
  const err = (() => { try { createGatehouse(bad); } catch (e) { return e; } })();
  assert.ok(err instanceof ConfigError, 'a config error');
  assert.match(err.message, /got something else \(not shown: it is a secret\) at tracing\.otlp\.headers\.x-api-key/);
  assert.equal(err.message.includes('api-key-43'), false);
});
