import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { test } from 'node:test';
import type { GatehouseConfigInput } from '../src/index.js';
import { send } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const SSE_EVENTS = 60; // one every 500 ms: a 30 s stream
const SSE_EVERY_MS = 500;
const CHUNK = 1024 * 1024;
const CHUNKS = 200; // 200 MiB, paced over ~24 s so every reload lands while it flows
const CHUNK_EVERY_MS = 120;
const RELOAD_AT_MS = [3000, 8000, 13_000, 18_000, 23_000];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The config of the n-th generation: `/sse` and `/download` on the unchanged `stream` upstream; the rest changes. */
function config(streamUrl: string, others: string[], n: number): GatehouseConfigInput {
  const extra = Array.from({ length: n }, (_, i) => ({ name: `r${i + 1}`, match: { path: `/r${i + 1}` }, respond: { status: 200, body: `gen ${i + 1}` } }));
  return {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], access_log: { enabled: false }, overload: false,
    upstreams: { stream: { servers: [streamUrl] }, other: { servers: [others[n % others.length]!] } },
    routes: [
      { name: 'sse', match: { path: '/sse' }, proxy: { upstream: 'stream' } },
      { name: 'download', match: { path: '/download' }, proxy: { upstream: 'stream' } },
      { name: 'other', match: { path: '/other' }, proxy: { upstream: 'other' } },
      ...extra,
    ],
  };
}

/** Reads an SSE stream through the proxy; resolves with the ids of the events, in arrival order. */
function readSse(url: string): Promise<{ status: number; ids: number[]; data: string[] }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      const ids: number[] = [];
      const data: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let end;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          for (const line of event.split('\n')) {
            if (line.startsWith('id: ')) ids.push(Number(line.slice(4)));
            if (line.startsWith('data: ')) data.push(line.slice(6));
          }
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, ids, data }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Downloads through the proxy, counting bytes and hashing them as they come (nothing is kept). */
function download(url: string): Promise<{ status: number; length: string | undefined; bytes: number; sha256: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; hash.update(c); });
      res.on('end', () => resolve({ status: res.statusCode!, length: res.headers['content-length'], bytes, sha256: hash.digest('hex'), complete: res.complete }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('live change: a 30 s SSE stream and a 200 MiB download on an unchanged route survive five reloads of other routes and upstreams', async (t) => {
  const base = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i++) base[i] = (i * 31 + 7) & 0xff;
  let sentSha = '';
  const stream = await startOrigin(t, (q, s) => {
    if (q.url === '/sse') {
      s.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const tick = setInterval(() => {
        s.write(`id: ${i}\ndata: event ${i}\n\n`);
        if (++i === SSE_EVENTS) { clearInterval(tick); s.end(); }
      }, SSE_EVERY_MS);
      s.on('close', () => clearInterval(tick));
      return;
    }
    s.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(CHUNK * CHUNKS) });
    const hash = createHash('sha256');
    void (async () => {
      for (let i = 0; i < CHUNKS && !s.destroyed; i++) {
        const chunk = Buffer.from(base);
        chunk.writeUInt32BE(i, (i * 4099) % (CHUNK - 4)); // every chunk differs, so a lost or repeated one changes the hash
        hash.update(chunk);
        if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
        await sleep(CHUNK_EVERY_MS);
      }
      sentSha = hash.digest('hex');
      s.end();
    })();
  });
  const x = await startOrigin(t, (_q, s) => s.end('x'));
  const y = await startOrigin(t, (_q, s) => s.end('y'));
  const { gh, url } = await startProxy(t, config(stream.url, [x.url, y.url], 0));

  const started = Date.now();
  const sse = readSse(`${url}/sse`);
  const dl = download(`${url}/download`);
  const seen: string[] = [];
  for (const [n, at] of RELOAD_AT_MS.entries()) {
    await sleep(started + at - Date.now());
    await gh.reload(config(stream.url, [x.url, y.url], n + 1));
    // The reload took: its new route answers, and `other` moved to the other server.
    assert.equal((await send(`${url}/r${n + 1}`)).text, `gen ${n + 1}`);
    seen.push((await send(`${url}/other`)).text);
  }
  assert.deepEqual(seen, ['y', 'x', 'y', 'x', 'y']);

  const [events, file] = await Promise.all([sse, dl]);
  t.diagnostic(`SSE: ${events.ids.length} events in ${Date.now() - started} ms; download: ${file.bytes} bytes`);
  assert.equal(events.status, 200);
  assert.deepEqual(events.ids, Array.from({ length: SSE_EVENTS }, (_, i) => i), 'every event, in order, none twice');
  assert.deepEqual(events.data, events.ids.map((i) => `event ${i}`));
  assert.equal(file.status, 200);
  assert.equal(file.length, String(CHUNK * CHUNKS));
  assert.ok(file.complete);
  assert.equal(file.bytes, CHUNK * CHUNKS);
  assert.equal(file.sha256, sentSha, 'the bytes received are the bytes sent');
  assert.equal(stream.requests.length, 2, 'both streams stayed on their first upstream request');
});
