import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { startCli } from './helpers/cli.js';
import { startOrigin } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

const GiB = 1024 ** 3;
const CHUNK = Buffer.alloc(256 * 1024, 'g');

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

test('a 1 GiB upload and a 1 GiB download stream through with peak RSS under 150 MB', { timeout: 180_000 }, async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') {
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; });
      req.on('end', () => res.end(String(n)));
      return;
    }
    res.writeHead(200, { 'content-length': String(GiB) });
    let sent = 0;
    const pump = (): void => {
      while (sent < GiB) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const dir = tempDir('stream');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `listeners: [{ name: public, address: "127.0.0.1:0" }]
upstreams: { app: { servers: ["${origin.url}"] } }
routes: [{ match: { path: / }, proxy: { upstream: app } }]
access_log: { enabled: false }
limits: { body_size: 2GiB }
`);
  const { child, done, url } = await startCli(t, ['run', '-c', file]);
  const port = Number(new URL(url).port);
  assert.equal((await send(`${url}/`, { method: 'POST', body: 'x' })).text, '1');

  t.diagnostic(`proxy RSS after start: ${peakRssMb(child.pid!).toFixed(1)} MB`);
  // Download: 1 GiB, counted as it arrives.
  const downloaded = await new Promise<number>((resolve, reject) => {
    request(`http://127.0.0.1:${port}/big`, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject).end();
  });
  assert.equal(downloaded, GiB);
  t.diagnostic(`proxy peak RSS after download: ${peakRssMb(child.pid!).toFixed(1)} MB`);

  // Upload: 1 GiB, chunked, written with backpressure.
  const uploaded = await new Promise<string>((resolve, reject) => {
    const req = request(`http://127.0.0.1:${port}/upload`, { method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < GiB) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.equal(uploaded, String(GiB));

  const peak = peakRssMb(child.pid!);
  t.diagnostic(`proxy peak RSS: ${peak.toFixed(1)} MB`);
  assert.ok(peak < 150, `peak RSS ${peak.toFixed(1)} MB`);
  child.kill('SIGTERM');
  assert.equal((await done).code, 0);
});
