/**
 * `npm run bench:cache-memory`: a 200 MiB object served from Gatehouse's disk tier to 20 concurrent clients
 * (curl, each downloading the whole object; bounded at 120 s), with the proxy's resident memory sampled from
 * /proc/PID/status (VmRSS) every 100 ms. Prints the peak RSS while the cache fills (one miss, streamed to disk)
 * and while it serves the 20 hits (target: under 200 MB), and the time and throughput of the 20 downloads.
 * Gatehouse runs as its own process (`bin/gatehouse.js run -c`) pinned to core 0, so its RSS is its alone;
 * the origin (bench/cache-origin.mjs) and the clients run on core 1. Loopback only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { pinned, processes, waitPort } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench', 'cache-memory');
const SIZE = 200 * 1024 * 1024;
const CLIENTS = 20;
const LIMIT_S = 120;
const TARGET_MB = 200;
const procs = processes(ROOT);

/** VmRSS of a process in bytes (0 once it is gone). */
function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every 100 ms; `peak()` returns the highest sample since the last `reset()`. */
function sampler(pid: number): { peak(): number; reset(): void; stop(): void } {
  let peak = rss(pid);
  const timer = setInterval(() => { peak = Math.max(peak, rss(pid)); }, 100);
  timer.unref();
  return { peak: () => Math.max(peak, rss(pid)), reset: () => { peak = rss(pid); }, stop: () => clearInterval(timer) };
}

/** GETs the object once through the proxy, reading it whole; returns the X-Cache value. */
async function fetchOnce(url: string): Promise<string | null> {
  const r = await fetch(url);
  let n = 0;
  for await (const chunk of r.body!) n += (chunk as Uint8Array).byteLength;
  if (n !== SIZE) throw new Error(`got ${n} bytes, expected ${SIZE}`);
  return r.headers.get('x-cache');
}

interface Download { code: number; bytes: number; seconds: number; cache: string }

/** One curl client on core 1; resolves with what it got (curl's own limit is LIMIT_S). */
function download(url: string): Promise<Download> {
  const [c, a] = pinned(1, 'curl', ['-s', '-o', '/dev/null', '--max-time', String(LIMIT_S), '-w', '%{http_code} %{size_download} %{time_total} %header{x-cache}', url]);
  return new Promise((resolve) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const kill = setTimeout(() => child.kill('SIGKILL'), (LIMIT_S + 5) * 1000);
    child.once('exit', () => {
      clearTimeout(kill);
      const [code, bytes, seconds, cache] = out.trim().split(' ');
      resolve({ code: Number(code ?? 0), bytes: Number(bytes ?? 0), seconds: Number(seconds ?? NaN), cache: cache ?? '' });
    });
  });
}

function makeObject(file: string): void {
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const fd = openSync(file, 'w');
  for (let i = 0; i < SIZE / chunk.length; i++) writeSync(fd, chunk);
  closeSync(fd);
}

const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

async function main(): Promise<void> {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(join(TMP, 'www'), { recursive: true });
  makeObject(join(TMP, 'www', '200m'));
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const originPort = await freePort();
  procs.start(1, process.execPath, [join(ROOT, 'bench/cache-origin.mjs'), String(originPort), join(TMP, 'www')]);
  await waitPort(originPort, '/__stats');
  const port = await freePort();
  const config = join(TMP, 'gatehouse.yaml');
  writeFileSync(config, `listeners: [{ name: public, address: "127.0.0.1:${port}" }]
upstreams: { app: { servers: ["http://127.0.0.1:${originPort}"] } }
cache: { memory: 64MiB, disk: { path: ${join(TMP, 'disk')}, size: 1GiB }, memory_object_max: 1MiB }
routes:
  - match: { path: / }
    cache: {}
    proxy: { upstream: app }
access_log: { path: ${join(TMP, 'access.log')} }
log: { level: warn }
`);
  const proxy = procs.start(0, process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', config]);
  await waitPort(port, '/__stats'); // a 404 from the origin (not cacheable), only to see it listening
  const pid = proxy.pid!;
  const s = sampler(pid);
  const idle = rss(pid);
  const url = `http://127.0.0.1:${port}/200m`;

  const fillStart = Date.now();
  const first = await fetchOnce(url);
  const fillSeconds = (Date.now() - fillStart) / 1000;
  let status = first;
  for (let i = 0; i < 50 && status !== 'HIT'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    status = await fetchOnce(url);
  }
  const fillPeak = s.peak();
  if (status !== 'HIT') throw new Error(`the object never became a HIT (last X-Cache: ${status})`);

  s.reset();
  const start = Date.now();
  const results = await Promise.all(Array.from({ length: CLIENTS }, () => download(url)));
  const wall = (Date.now() - start) / 1000;
  const peak = s.peak();
  s.stop();
  const counts = JSON.parse(execFileSync('curl', ['-s', `http://127.0.0.1:${originPort}/__stats`], { encoding: 'utf8' })) as Record<string, number>;
  const whole = results.filter((r) => r.code === 200 && r.bytes === SIZE);
  const hits = results.filter((r) => r.cache === 'HIT').length;
  const total = results.reduce((a, r) => a + r.bytes, 0);
  const lines = ['', `## Cache memory: one 200 MiB object from the disk tier to ${CLIENTS} concurrent clients (proxy on core 0, curl + origin on core 1)`, '',
    `- RSS idle ${mb(idle)}; peak while filling the cache (first request, a MISS, ${fillSeconds.toFixed(1)} s, X-Cache ${first}) ${mb(fillPeak)}`,
    `- peak RSS while serving ${CLIENTS} clients: ${mb(peak)} (${(peak / 1048576).toFixed(0)} MiB) — target < ${TARGET_MB} MB: ${peak < TARGET_MB * 1e6 ? 'met' : 'MISSED'}`,
    `- ${whole.length}/${CLIENTS} downloads complete (${hits} answered HIT), in ${wall.toFixed(1)} s: ${(total / 1048576 / wall).toFixed(0)} MiB/s in all; per client ${Math.min(...results.map((r) => r.seconds)).toFixed(1)}–${Math.max(...results.map((r) => r.seconds)).toFixed(1)} s`,
    `- the origin saw ${counts['/200m'] ?? 0} request(s) for the object`];
  process.stdout.write(`${lines.join('\n')}\n`);
  await procs.stopAll();
  for (const d of ['www', 'disk']) rmSync(join(TMP, d), { recursive: true, force: true }); // 200 MiB each
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench:cache-memory failed: ${(err as Error).stack ?? String(err)}\n`);
  await procs.stopAll();
  process.exit(1);
});
