/**
 * `npm run bench:cache` (also a scenario of `npm run bench`; BENCH_CACHE=0 skips it there): cache hits
 * through Gatehouse beside nginx proxy_cache (one worker), the same objects, both warmed first:
 *  - a 1 KiB object from Gatehouse's memory tier, 50 connections: requests/s, p50, p99;
 *  - a 1 MiB object from Gatehouse's disk tier (memory_object_max 512 KiB), 10 connections: requests/s, MB/s.
 * nginx keeps every cached object in a file (proxy_cache_path under .bench/cache/), served with sendfile.
 * A Node origin (bench/cache-origin.mjs) sends Cache-Control: max-age=3600 and counts its requests. Before
 * measuring, each proxy must answer HIT (X-Cache for Gatehouse, $upstream_cache_status in X-Cache-Status for
 * nginx); afterwards the origin must have seen only the warm-up misses. Both are printed.
 * Proxy on core 0, origin and wrk on core 1; BENCH_ROUNDS interleaved rounds (default 3) of BENCH_DURATION
 * seconds per run (default 5); medians, and the Gatehouse / nginx ratios within each round. Beside req/s, the
 * proxy's CPU time per request (user + system from /proc, nginx's worker included), which a VM shared with
 * other work disturbs far less than req/s.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { cpuSeconds, has, median, nginxConf, parseWrk, pinned, processes, waitPort, type Result } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench', 'cache');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const procs = processes(ROOT);

interface Scenario { name: string; path: string; connections: number; size: number }
const SCENARIOS: Scenario[] = [
  { name: '1 KiB, memory tier, 50 conns', path: '/small', connections: 50, size: 1024 },
  { name: '1 MiB, disk tier, 10 conns', path: '/1m', connections: 10, size: 1024 * 1024 },
];

interface Target { name: 'gatehouse' | 'nginx'; header: string; start(port: number, dir: string): ChildProcess }

function targets(originPort: number): Target[] {
  const list: Target[] = [{
    name: 'gatehouse', header: 'x-cache',
    start(port, dir) {
      const file = join(dir, 'gatehouse.yaml');
      writeFileSync(file, `listeners: [{ name: public, address: "127.0.0.1:${port}" }]
upstreams: { app: { servers: ["http://127.0.0.1:${originPort}"] } }
cache: { memory: 64MiB, disk: { path: ${join(dir, 'disk')}, size: 1GiB }, memory_object_max: 512KiB }
routes:
  - match: { path: / }
    cache: {}
    proxy: { upstream: app }
access_log: { path: ${join(dir, 'access.log')} }
log: { level: warn }
`);
      return procs.start(0, process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', file]);
    },
  }];
  if (NGINX) {
    list.push({
      name: 'nginx', header: 'x-cache-status',
      start(port, dir) {
        const conf = nginxConf(dir, `access_log ${dir}/logs/access.log; sendfile on;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=bench:10m max_size=1g inactive=1h use_temp_path=off;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache bench; add_header X-Cache-Status $upstream_cache_status always; }
  }`);
        return procs.start(0, NGINX, ['-c', conf, '-p', dir]);
      },
    });
  }
  return list;
}

/** The origin's request counts per path, on a connection of its own (a pooled one may have timed out). */
function originCounts(originPort: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: originPort, path: '/__stats', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve(JSON.parse(text) as Record<string, number>));
    }).on('error', reject);
  });
}

/** GETs `path` until the proxy answers HIT with the whole body (bounded: 10 s); returns the misses seen. */
async function warm(port: number, path: string, header: string, size: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let misses = 0;
  for (;;) {
    let status: string | null = null;
    try {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      const body = await r.arrayBuffer();
      if (r.status !== 200 || body.byteLength !== size) throw new Error(`${path}: status ${r.status}, ${body.byteLength} bytes`);
      status = r.headers.get(header);
      if (status === 'HIT') return misses;
      misses++;
    } catch (err) {
      if ((err as Error).message.startsWith(path)) throw err;
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${path} on port ${port} never answered HIT (last ${header}: ${status})`);
    await new Promise((r) => setTimeout(r, status === null ? 100 : 20));
  }
}

/** Files of at least `min` bytes under `dir` (the disk tier holding the 1 MiB body). */
function bigFiles(dir: string, min: number): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && statSync(join(e.parentPath, e.name)).size >= min) n++;
  }
  return n;
}

function load(port: number, path: string, connections: number, seconds = DURATION): Result {
  const [c, a] = pinned(1, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}${path}`]);
  return parseWrk(execFileSync(c, a, { encoding: 'utf8' }));
}

/** A load run plus the proxy's CPU time per request (µs): steadier than req/s when the VM is shared. */
type Run = Result & { cpuUs: number };
type Runs = Map<string, Map<string, Run[]>>;

async function measure(t: Target, originPort: number, round: number, runs: Runs): Promise<void> {
  const port = await freePort();
  const dir = join(TMP, `${t.name}-${round}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const before = await originCounts(originPort);
  const child = t.start(port, dir);
  try {
    const misses: Record<string, number> = {};
    for (const s of SCENARIOS) misses[s.path] = await warm(port, s.path, t.header, s.size);
    const onDisk = bigFiles(t.name === 'gatehouse' ? join(dir, 'disk') : join(dir, 'cache'), 1024 * 1024);
    process.stderr.write(`[${round}/${ROUNDS}] ${t.name}: HIT after warm-up (misses ${JSON.stringify(misses)}); files >= 1 MiB in its cache dir: ${onDisk}\n`);
    load(port, '/small', 50, Math.min(2, DURATION)); // JIT warm-up
    for (const s of SCENARIOS) {
      const cpu0 = cpuSeconds(child.pid!);
      const r: Run = { ...load(port, s.path, s.connections), cpuUs: 0 };
      r.cpuUs = ((cpuSeconds(child.pid!) - cpu0) * 1e6) / (r.rps * DURATION);
      const byScenario = runs.get(t.name) ?? new Map<string, Run[]>();
      byScenario.set(s.name, [...(byScenario.get(s.name) ?? []), r]);
      runs.set(t.name, byScenario);
      process.stderr.write(`[${round}/${ROUNDS}] ${t.name.padEnd(10)} ${s.name.padEnd(30)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  ${r.mbps.toFixed(1)} MB/s  ${r.cpuUs.toFixed(0)} µs CPU/req${r.errors ? `  NON-2XX ${r.errors}` : ''}\n`);
    }
    const after = await originCounts(originPort);
    const seen = Object.fromEntries(SCENARIOS.map((s) => [s.path, (after[s.path] ?? 0) - (before[s.path] ?? 0)]));
    const ok = SCENARIOS.every((s) => seen[s.path] === misses[s.path]);
    process.stderr.write(`[${round}/${ROUNDS}] ${t.name}: origin saw ${JSON.stringify(seen)} — ${ok ? 'only the warm-up misses' : 'MORE THAN THE WARM-UP MISSES'}\n`);
  } finally {
    await procs.stop(child);
  }
}

function report(runs: Runs): void {
  const med = (p: string, s: string, f: (r: Run) => number): number => median((runs.get(p)?.get(s) ?? []).map(f));
  const paired = (s: string, f: (r: Run) => number): string => {
    const a = runs.get('gatehouse')?.get(s) ?? [];
    const b = runs.get('nginx')?.get(s) ?? [];
    const per = a.slice(0, b.length).map((r, i) => f(r) / f(b[i]!));
    return per.length ? `${median(per).toFixed(2)}x (per round ${per.map((x) => x.toFixed(2)).join(', ')})` : 'n/a';
  };
  const [small, big] = [SCENARIOS[0]!.name, SCENARIOS[1]!.name];
  const lines = ['', `## Cache hits (medians of ${ROUNDS} interleaved rounds, ${DURATION}s per run, proxy on core 0, origin + wrk on core 1)`, '',
    '| proxy | req/s 1 KiB @50 | p50 | p99 | CPU/req 1 KiB | req/s 1 MiB @10 | MB/s 1 MiB | p99 1 MiB | CPU/req 1 MiB |', '|---|---|---|---|---|---|---|---|---|'];
  for (const p of runs.keys()) {
    lines.push(`| ${p} | ${med(p, small, (r) => r.rps).toFixed(0)} | ${med(p, small, (r) => r.p50).toFixed(2)} ms | ${med(p, small, (r) => r.p99).toFixed(2)} ms | ${med(p, small, (r) => r.cpuUs).toFixed(0)} µs | ${med(p, big, (r) => r.rps).toFixed(0)} | ${med(p, big, (r) => r.mbps).toFixed(0)} | ${med(p, big, (r) => r.p99).toFixed(2)} ms | ${med(p, big, (r) => r.cpuUs).toFixed(0)} µs |`);
  }
  if (runs.has('nginx')) {
    lines.push('', 'Gatehouse / nginx (median of per-round ratios):');
    lines.push(`- 1 KiB from memory: req/s ${paired(small, (r) => r.rps)}; p99 ${paired(small, (r) => r.p99)}; CPU per request ${paired(small, (r) => r.cpuUs)}`);
    lines.push(`- 1 MiB from disk: req/s ${paired(big, (r) => r.rps)}; MB/s ${paired(big, (r) => r.mbps)}; CPU per request ${paired(big, (r) => r.cpuUs)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('bench:cache needs wrk (apt-get install wrk)');
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(join(TMP, 'www'), { recursive: true });
  for (const s of SCENARIOS) writeFileSync(join(TMP, 'www', s.path), Buffer.alloc(s.size, 'x'));
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const originPort = await freePort();
  procs.start(1, process.execPath, [join(ROOT, 'bench/cache-origin.mjs'), String(originPort), join(TMP, 'www')]);
  await waitPort(originPort, '/__stats');
  const runs: Runs = new Map();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets(originPort)) await measure(t, originPort, round, runs);
  }
  report(runs);
  await procs.stopAll();
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench:cache failed: ${(err as Error).stack ?? String(err)}\n`);
  await procs.stopAll();
  process.exit(1);
});
