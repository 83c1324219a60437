/**
 * Streams are relayed as they come (#13): server-sent events and chunked bodies are not buffered, over
 * HTTP/1.1 and HTTP/2, and the upstream timeouts are idle-based, so a long stream is not cut while bytes flow.
 */
import assert from 'node:assert/strict';
import { request as h1request } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { test, type TestContext } from 'node:test';
import { startOrigin } from './helpers/origin.js';
import { startProxy, type StartedProxy } from './helpers/proxy.js';

const EVERY_MS = 100;
const MAX_LAG_MS = 50;

/** An origin writing `count` pieces, one every 100 ms, each stamped with the time it was written. */
async function startTicker(t: TestContext, opts: { count: number; pauseAt?: number; pauseMs?: number }): Promise<string> {
  const o = await startOrigin(t, (req, res) => {
    const sse = req.url === '/sse';
    res.writeHead(200, sse ? { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } : { 'content-type': 'text/plain' });
    let i = 0;
    const tick = (): void => {
      if (res.destroyed) return;
      res.write(sse ? `id: ${i}\ndata: ${Date.now()}\n\n` : `${Date.now()}\n`);
      if (++i === opts.count) return void res.end();
      setTimeout(tick, i === opts.pauseAt ? opts.pauseMs! : EVERY_MS);
    };
    tick();
  });
  return o.url;
}

/** `compress`: the route compresses (an event stream must still go out event by event). */
async function startStreamProxy(t: TestContext, origin: string, opts: { timeouts?: { response_headers: string; idle: string }; compress?: boolean } = {}): Promise<StartedProxy> {
  return startProxy(t, {
    listeners: [{ name: 'h1', address: '127.0.0.1:0' }, { name: 'h2c', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin], ...(opts.timeouts ? { timeouts: opts.timeouts } : {}) } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' }, ...(opts.compress ? { compress: {} } : {}) }],
  });
}

interface Received { lags: number[]; pieces: number; complete: boolean; ms: number }

/** Reads a stream of stamped pieces (SSE `data:` lines or plain lines), noting each piece's lag. */
function reader(): { onData(chunk: Buffer): void; lags: number[]; count(): number } {
  const lags: number[] = [];
  let buf = '';
  return {
    lags,
    count: () => lags.length,
    onData(chunk) {
      const now = Date.now();
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const m = /^(?:data: )?(\d{13})$/.exec(line);
        if (m) lags.push(now - Number(m[1]));
      }
    },
  };
}

function getH1(url: string, path: string): Promise<Received> {
  const started = Date.now();
  const r = reader();
  return new Promise((resolve, reject) => {
    const req = h1request(`${url}${path}`, { headers: { 'accept-encoding': 'gzip, br', accept: 'text/event-stream' } }, (res) => {
      res.on('data', r.onData);
      res.on('end', () => resolve({ lags: r.lags, pieces: r.count(), complete: res.complete, ms: Date.now() - started }));
      res.on('error', () => resolve({ lags: r.lags, pieces: r.count(), complete: false, ms: Date.now() - started }));
      res.on('aborted', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

async function getH2(t: TestContext, url: string, path: string): Promise<Received> {
  const s = h2connect(url);
  t.after(() => s.close());
  const started = Date.now();
  const r = reader();
  const req = s.request({ ':path': path, 'accept-encoding': 'gzip, br', accept: 'text/event-stream' });
  req.on('data', r.onData);
  let ended = false;
  req.on('end', () => { ended = true; });
  req.on('error', () => undefined);
  await new Promise((res) => req.on('close', res));
  // A stream cut by the proxy ends with RST_STREAM (a non-zero code), not END_STREAM.
  return { lags: r.lags, pieces: r.count(), complete: ended && req.rstCode === 0, ms: Date.now() - started };
}

test('streaming: each server-sent event reaches the client within 50 ms of being written, over HTTP/1.1 and HTTP/2 (RFC 9110 7.6)', async (t) => {
  const p = await startStreamProxy(t, await startTicker(t, { count: 10 }), { compress: true });
  const h1 = await getH1(p.gh.url('h1'), '/sse');
  const h2 = await getH2(t, p.gh.url('h2c'), '/sse');
  for (const [via, r] of [['HTTP/1.1', h1], ['HTTP/2', h2]] as const) {
    assert.equal(r.pieces, 10, via);
    assert.ok(r.complete, via);
    assert.ok(Math.max(...r.lags) <= MAX_LAG_MS, `${via}: lags ${r.lags.join(', ')} ms`);
  }
});

test('streaming: a chunked body goes out chunk by chunk, not buffered (RFC 9112 7.1)', async (t) => {
  // No `compress` on this route: plain text would be compressed, and a compressor holds its input.
  const plain = await startStreamProxy(t, await startTicker(t, { count: 8 }));
  const h1 = await getH1(plain.gh.url('h1'), '/chunks');
  const h2 = await getH2(t, plain.gh.url('h2c'), '/chunks');
  for (const [via, r] of [['HTTP/1.1', h1], ['HTTP/2', h2]] as const) {
    assert.equal(r.pieces, 8, via);
    assert.ok(Math.max(...r.lags) <= MAX_LAG_MS, `${via}: lags ${r.lags.join(', ')} ms`);
  }
});

test('streaming: a stream longer than the upstream timeouts is not cut while bytes flow; a pause past `idle` cuts it', async (t) => {
  const timeouts = { response_headers: '300ms', idle: '300ms' };
  // 15 events over 1.4 s: well past both timeouts in total, never idle for 300 ms.
  const flowing = await startStreamProxy(t, await startTicker(t, { count: 15 }), { timeouts });
  const h1 = await getH1(flowing.gh.url('h1'), '/sse');
  const h2 = await getH2(t, flowing.gh.url('h2c'), '/sse');
  for (const [via, r] of [['HTTP/1.1', h1], ['HTTP/2', h2]] as const) {
    assert.equal(r.pieces, 15, via);
    assert.ok(r.complete, via);
    assert.ok(r.ms >= 1300, `${via}: ${r.ms} ms`);
  }
  // Silent for 2.5 s after the third event: cut at the idle timeout (undici checks it about every 0.5 s), the
  // client sees an incomplete response.
  const stalled = await startStreamProxy(t, await startTicker(t, { count: 6, pauseAt: 3, pauseMs: 2500 }), { timeouts });
  const c1 = await getH1(stalled.gh.url('h1'), '/sse');
  const c2 = await getH2(t, stalled.gh.url('h2c'), '/sse');
  for (const [via, r] of [['HTTP/1.1', c1], ['HTTP/2', c2]] as const) {
    assert.equal(r.pieces, 3, via);
    assert.equal(r.complete, false, via);
    assert.ok(r.ms < 2000, `${via}: ${r.ms} ms`);
  }
});
