/**
 * `npm run bench`: requests/s and latency through Gatehouse beside the bare Node reference, http-proxy,
 * @fastify/http-proxy and nginx (one worker), all in one run on loopback. The proxy under test is pinned to
 * core 0 (`taskset -c 0`); the origin (nginx, or Node when nginx is absent) and the load generator (wrk,
 * else autocannon) share core 1. Figures are printed as ratios to the bare reference and to nginx.
 *
 * This machine is a shared VM whose speed drifts from minute to minute, so every proxy is measured in
 * BENCH_ROUNDS interleaved rounds and the median of each figure is reported.
 *
 * Then a failover scenario (bench/failover.ts): errors and p99 while one of three origins is killed and restarted;
 * then HTTPS handshakes (new and resumed) and HTTP/2 requests beside nginx (bench/tls.ts); then cache hits
 * beside nginx proxy_cache (bench/cache.ts): a 1 KiB object from the memory tier and a 1 MiB object from the
 * disk tier, checked as HITs first, requests/s, p99, MB/s and CPU per request, in BENCH_ROUNDS rounds.
 *
 * Env: BENCH_DURATION (seconds per run, default 5), BENCH_ROUNDS (default 3), BENCH_ONLY (comma list of proxy
 * names), BENCH_FAILOVER=0 skips the failover scenario, BENCH_TLS=0 the HTTPS / HTTP/2 scenarios (bench/tls.ts, also
 * `npm run bench:tls` on its own), BENCH_CACHE=0 the cache scenarios (bench/cache.ts, also `npm run bench:cache`),
 * BENCH_L4=0 the WebSocket and TCP scenarios (bench/l4.ts, also `npm run bench:l4`), BENCH_WORKERS=0 the `workers:`
 * scaling scenario (bench/workers.ts: 1 and N worker processes beside nginx with 1 and N; also `npm run bench:workers`).
 * Not part of this run: `npm run bench:cache-memory` (bench/cache-memory.ts: the proxy's peak RSS while a 200 MiB
 * object goes from the disk tier to 20 clients at once) and `npm run bench:slow` (slow-client attacks).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { coreContract } from '../test/helpers/contracts.js';
import { runFailover } from './failover.js';
import { has, median, nginxConf, parseWrk, pinned, waitPort, type Result } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ONLY = process.env.BENCH_ONLY?.split(',');

const HAS_WRK = has('wrk');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

const children: ChildProcess[] = [];
function start(core: number, cmd: string, args: string[]): ChildProcess {
  const [c, a] = pinned(core, cmd, args);
  const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT });
  children.push(child);
  return child;
}
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return; // already gone (a signal sets signalCode only)
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await done;
  clearTimeout(t);
}
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

async function load(port: number, path: string, connections: number): Promise<Result> {
  const url = `http://127.0.0.1:${port}${path}`;
  if (HAS_WRK) {
    const [c, a] = pinned(1, 'wrk', ['-t1', `-c${connections}`, `-d${DURATION}s`, '--latency', url]);
    return parseWrk(execFileSync(c, a, { encoding: 'utf8' }));
  }
  const autocannon = (await import('autocannon')).default;
  const r = await autocannon({ url, connections, duration: DURATION });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, mbps: r.throughput.average / 1048576, errors: r.non2xx };
}

interface Scenario { name: string; path: string; connections: number }
const SCENARIOS: Scenario[] = [
  { name: 'small, 50 conns', path: '/api/hello', connections: 50 },
  { name: 'small, 1 conn', path: '/api/hello', connections: 1 },
  { name: '1 MiB, 10 conns', path: '/api/1m', connections: 10 },
];

async function main(): Promise<void> {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(join(TMP, 'www/api'), { recursive: true });
  for (const dir of ['www', 'www/api']) {
    writeFileSync(join(TMP, dir, 'hello'), 'hello world\n');
    writeFileSync(join(TMP, dir, '1m'), Buffer.alloc(1024 * 1024, 'x'));
  }
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });

  // The origin, on core 1 beside the load generator.
  const originPort = await freePort();
  if (NGINX) {
    const dir = join(TMP, 'origin');
    const conf = nginxConf(dir, `access_log off; server { listen 127.0.0.1:${originPort}; keepalive_timeout 60s; root ${TMP}/www; }`);
    start(1, NGINX, ['-c', conf, '-p', dir]);
  } else {
    start(1, process.execPath, ['-e', `
      const fs=require('fs');const h=fs.readFileSync('${TMP}/www/hello');const m=fs.readFileSync('${TMP}/www/1m');
      require('http').createServer((q,s)=>s.end(q.url.endsWith('1m')?m:h)).listen(${originPort},'127.0.0.1')`]);
  }
  await waitPort(originPort);
  const origin = `http://127.0.0.1:${originPort}`;

  const ghConfig = join(TMP, 'gatehouse.yaml');
  writeFileSync(ghConfig, coreContract({
    address: '127.0.0.1:PORT', servers: [origin],
    extra: `access_log:\n  path: ${TMP}/gatehouse-access.log\nlog: { level: warn }\n`,
  }));

  type Proxy = { name: string; start(port: number): ChildProcess };
  const proxies: Proxy[] = [
    { name: 'direct', start: () => null as unknown as ChildProcess },
    { name: 'gatehouse', start(port) {
      const file = join(TMP, `gatehouse-${port}.yaml`);
      writeFileSync(file, execFileSync('sed', [`s/PORT/${port}/`, ghConfig], { encoding: 'utf8' }));
      return start(0, process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', file]);
    } },
    { name: 'bare-node', start: (port) => start(0, process.execPath, [join(ROOT, 'bench/proxies/bare.mjs'), String(port), origin]) },
    { name: 'http-proxy', start: (port) => start(0, process.execPath, [join(ROOT, 'bench/proxies/http-proxy.mjs'), String(port), origin]) },
    { name: 'fastify-proxy', start: (port) => start(0, process.execPath, [join(ROOT, 'bench/proxies/fastify-proxy.mjs'), String(port), origin]) },
  ];
  if (NGINX) {
    proxies.push({ name: 'nginx', start(port) {
      const dir = join(TMP, `nginx-${port}`);
      const conf = nginxConf(dir, `access_log ${dir}/logs/access.log;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /api/ { proxy_pass http://origin/; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`);
      return start(0, NGINX, ['-c', conf, '-p', dir]);
    } });
  }

  const runs = new Map<string, Map<string, Result[]>>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const p of proxies) {
      if (ONLY && p.name !== 'direct' && !ONLY.includes(p.name)) continue;
      const port = p.name === 'direct' ? originPort : await freePort();
      const child = p.name === 'direct' ? undefined : p.start(port);
      try {
        await waitPort(port);
        await load(port, '/api/hello', 50).catch(() => undefined); // warm-up (JIT, pools)
        if (!runs.has(p.name)) runs.set(p.name, new Map());
        for (const s of SCENARIOS) {
          const r = await load(port, s.path, s.connections);
          const list = runs.get(p.name)!.get(s.name) ?? [];
          list.push(r);
          runs.get(p.name)!.set(s.name, list);
          process.stderr.write(`[${round}/${ROUNDS}] ${p.name.padEnd(14)} ${s.name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  ${r.mbps.toFixed(1)} MB/s${r.errors ? `  ERRORS ${r.errors}` : ''}\n`);
        }
      } finally {
        if (child) await stop(child);
      }
    }
  }
  const results = new Map<string, Map<string, Result>>();
  for (const [name, byScenario] of runs) {
    const m = new Map<string, Result>();
    for (const [sname, list] of byScenario) {
      m.set(sname, {
        rps: median(list.map((r) => r.rps)), p50: median(list.map((r) => r.p50)), p99: median(list.map((r) => r.p99)),
        mbps: median(list.map((r) => r.mbps)), errors: list.reduce((a, r) => a + r.errors, 0),
      });
    }
    results.set(name, m);
  }
  report(results, runs);
  for (const c of children) await stop(c);
  if (HAS_WRK && process.env.BENCH_FAILOVER !== '0') {
    const f = await runFailover({ root: ROOT, tmp: TMP, duration: Math.max(DURATION, 9), pinned, freePort, waitPort });
    const lines = ['', '## Failover (Gatehouse, 3 origins, 50 connections; one origin SIGKILLed at 1/3 of the run, restarted at 2/3)', '',
      '| run | requests | socket errors | non-2xx | p50 | p99 |', '|---|---|---|---|---|---|'];
    for (const r of f) lines.push(`| ${r.label} | ${r.requests} | ${r.errors} | ${r.non2xx} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms |`);
    const [steady, chaos] = f;
    if (steady && chaos) lines.push('', `p99 during failover / steady p99 = ${(chaos.p99 / steady.p99).toFixed(2)}x; failed requests: ${chaos.errors + chaos.non2xx}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (process.env.BENCH_TLS !== '0') {
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/tls.ts')], { cwd: ROOT, stdio: 'inherit' });
  }
  if (process.env.BENCH_CACHE !== '0' && HAS_WRK) {
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/cache.ts')], { cwd: ROOT, stdio: 'inherit' });
  }
  if (process.env.BENCH_L4 !== '0') {
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/l4.ts')], { cwd: ROOT, stdio: 'inherit' });
  }
  if (process.env.BENCH_WORKERS !== '0' && HAS_WRK && NGINX) {
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/workers.ts')], { cwd: ROOT, stdio: 'inherit' });
  }
}

function report(results: Map<string, Map<string, Result>>, runs: Map<string, Map<string, Result[]>>): void {
  const get = (p: string, s: string): Result | undefined => results.get(p)?.get(s);
  const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? `${(a / b).toFixed(2)}x` : 'n/a');
  // The VM's speed drifts between rounds, so a ratio is taken within each round (the two proxies ran
  // minutes apart at most) and the median of those is reported beside the ratio of medians.
  const paired = (a: string, b: string, scenario: string, metric: (r: Result) => number): string => {
    const ra = runs.get(a)?.get(scenario) ?? [];
    const rb = runs.get(b)?.get(scenario) ?? [];
    const n = Math.min(ra.length, rb.length);
    if (n === 0) return 'n/a';
    const per = Array.from({ length: n }, (_, i) => metric(ra[i]!) / metric(rb[i]!));
    return `${median(per).toFixed(2)}x per round [${per.map((x) => x.toFixed(2)).join(', ')}]`;
  };
  const direct1 = get('direct', 'small, 1 conn')?.p50;
  const lines = ['', `## Gatehouse bench (medians of ${ROUNDS} interleaved rounds, ${DURATION}s per run, proxy on core 0, origin + ${HAS_WRK ? 'wrk' : 'autocannon'} on core 1)`, ''];
  lines.push('| proxy | req/s @50 | p50 @50 | p99 @50 | p50 @1 | added p50 @1 | MB/s 1MiB |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const [name] of results) {
    const a = get(name, 'small, 50 conns');
    const b = get(name, 'small, 1 conn');
    const c = get(name, '1 MiB, 10 conns');
    const added = b && direct1 !== undefined ? (b.p50 - direct1).toFixed(3) : 'n/a';
    lines.push(`| ${name} | ${a?.rps.toFixed(0)} | ${a?.p50.toFixed(2)} ms | ${a?.p99.toFixed(2)} ms | ${b?.p50.toFixed(3)} ms | ${name === 'direct' ? '-' : `${added} ms`} | ${c?.mbps.toFixed(0)} |`);
  }
  const gh = 'gatehouse';
  const addedGh = (get(gh, 'small, 1 conn')?.p50 ?? NaN) - (direct1 ?? NaN);
  const addedNg = (get('nginx', 'small, 1 conn')?.p50 ?? NaN) - (direct1 ?? NaN);
  lines.push('', 'Ratios (same run):');
  const rps = (r: Result): number => r.rps;
  lines.push(`- req/s @50: gatehouse / bare-node = ${ratio(get(gh, 'small, 50 conns')?.rps, get('bare-node', 'small, 50 conns')?.rps)}; ${paired(gh, 'bare-node', 'small, 50 conns', rps)} (target >= 0.9x)`);
  lines.push(`- req/s @50: gatehouse / http-proxy = ${ratio(get(gh, 'small, 50 conns')?.rps, get('http-proxy', 'small, 50 conns')?.rps)}; ${paired(gh, 'http-proxy', 'small, 50 conns', rps)} (target >= 1.5x)`);
  lines.push(`- req/s @50: gatehouse / fastify-proxy = ${ratio(get(gh, 'small, 50 conns')?.rps, get('fastify-proxy', 'small, 50 conns')?.rps)}; ${paired(gh, 'fastify-proxy', 'small, 50 conns', rps)} (target >= 1.5x)`);
  lines.push(`- req/s @50: gatehouse / nginx = ${ratio(get(gh, 'small, 50 conns')?.rps, get('nginx', 'small, 50 conns')?.rps)}`);
  // Added latency per round: each proxy's p50 minus the direct p50 of the same round.
  const addedPerRound = (name: string): number[] => {
    const d = runs.get('direct')?.get('small, 1 conn') ?? [];
    return (runs.get(name)?.get('small, 1 conn') ?? []).map((r, i) => r.p50 - (d[i]?.p50 ?? NaN));
  };
  const perRound = (name: string): string => {
    const a = addedPerRound(name);
    const n = addedPerRound('nginx');
    const per = a.map((x, i) => x / n[i]!).filter(Number.isFinite);
    return per.length ? `${median(per).toFixed(2)}x per round [${per.map((x) => x.toFixed(2)).join(', ')}]` : 'n/a';
  };
  lines.push(`- added p50 @1: gatehouse / nginx = ${Number.isFinite(addedGh / addedNg) ? `${(addedGh / addedNg).toFixed(2)}x` : 'n/a'}; ${perRound(gh)} (target <= 1.5x)`);
  lines.push(`- added p50 @1: bare-node / nginx = ${perRound('bare-node')}`);
  lines.push(`- MB/s 1MiB: gatehouse / bare-node = ${ratio(get(gh, '1 MiB, 10 conns')?.mbps, get('bare-node', '1 MiB, 10 conns')?.mbps)} (target >= 0.9x)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
