/**
 * `npm run bench:workers` (also a scenario of `npm run bench`; BENCH_WORKERS=0 skips it there): does throughput
 * scale with `workers:` (#14)? GET of a 12-byte body through the proxy to an nginx origin, in one run:
 *  1. Gatehouse `workers: 1` (one process);
 *  2. Gatehouse `workers: auto` (one worker per core, os.availableParallelism(): 2 here; the workers accept from
 *     the shared listening socket themselves, node:cluster SCHED_NONE, Gatehouse's default);
 *  3. nginx `worker_processes 1` (reverse proxy with a keep-alive upstream, as in bench/run.ts);
 *  4. nginx `worker_processes N`, N = Gatehouse's auto count;
 *     nginx listens with `reuseport` (one socket per worker, the kernel spreads the connections): without it,
 *     64 connections opened at once often all went to one worker (0% / 65% CPU), leaving the other idle.
 *  5. (informational; BENCH_WORKERS_RR=0 skips it) Gatehouse with N workers and NODE_CLUSTER_SCHED_POLICY=rr:
 *     node:cluster's round robin, the primary accepts and hands each new connection to the next worker.
 * Per case: requests/s, p50, p99 and errors from wrk; the proxy's CPU time per request (its processes' user +
 * system time from /proc: nginx's master and workers, Gatehouse's primary and workers) and each worker
 * process's CPU use in % of one core, which shows how evenly the connections were spread. Derived: req/s per
 * worker process, the scaling factor (N workers / 1 worker) of each proxy, and Gatehouse / nginx at equal
 * worker counts, each as the median of the ratios within a round beside the ratio of the medians.
 *
 * Placement (a 2-core machine cannot give the proxy cores of its own once it has 2 workers): the origin (nginx,
 * N workers) and wrk (WRK_THREADS threads, CONNECTIONS connections) are never pinned, in every case, so the
 * client side is the same for all; the 1-worker proxies are pinned to core 0 (`taskset -c 0`), so that
 * "1 worker" means one core (unpinned, Node's GC and libuv threads could spill onto the other core; in a
 * check of 3 alternating runs, Gatehouse with one worker unpinned gave the same req/s within the noise and a
 * somewhat lower p99; BENCH_WORKERS_PIN1=0 runs it that way); the N-worker proxies are not pinned. The
 * proxies share the cores with wrk and the origin, so N workers cannot reach N times one worker here: the
 * scaling factors are comparable between the two proxies, not absolute.
 * Both proxies write an access log to a file (logs/access.log in the case's temp dir), both in batches:
 * Gatehouse's writer flushes every 8 KiB, nginx is given `buffer=8k flush=1s` to match (bench/run.ts leaves
 * nginx unbuffered). The log is kept out of the config file's directory: Gatehouse watches that directory
 * (`reload.watch`), and every batch written there would wake the watcher (the primary, or the single process).
 *
 * BENCH_ROUNDS interleaved rounds (default 3) of BENCH_DURATION seconds per run (default 5), each proxy warmed
 * up first with a shorter run; the cases of a round run in the order above, so the pairs compared run next to
 * each other. The VM is shared with other work (other sessions' builds and tests take whole cores): before each
 * case the bench waits until the machine is quiet (at most BENCH_QUIET_WAIT seconds, default 180), and each
 * run reports "other work", the CPU that processes other than the proxy, the origin, wrk and the bench used
 * meanwhile (% of one core, user and system time; interrupts are left out); a run where it passes 15% is
 * measured again (twice at most; the least disturbed run is kept). "machine idle" (% of all cores) shows
 * whether the machine was saturated. Needs wrk and nginx.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { coreContract } from '../test/helpers/contracts.js';
import { cpuByProcess, cpuSeconds, has, machineCpu, median, nginxConf, parseWrk, processes, waitPort, type Result } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench', 'workers');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = Math.min(3, DURATION);
const CONNECTIONS = 64;
const WRK_THREADS = 2;
const N = availableParallelism();
/** BENCH_WORKERS_PIN1=0 leaves the 1-worker proxies unpinned too. */
const PIN1 = process.env.BENCH_WORKERS_PIN1 !== '0';
/** Before each case, wait (at most BENCH_QUIET_WAIT seconds, default 180) until the machine is quiet: less than
 * QUIET_PCT % of all its cores busy over one second. */
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT ?? 180);
const QUIET_PCT = 10;
/** A run during which other work took more than this (% of one core) is measured again, at most RETRIES times. */
const DISTURBED_PCT = 15;
const RETRIES = 2;
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const procs = processes(ROOT);

interface Case {
  name: string;
  proxy: 'gatehouse' | 'nginx';
  workers: number;
  /** Pinned to core 0 (the 1-worker cases), else free on every core. */
  pin: boolean;
  info?: boolean;
  start(port: number, dir: string, origin: number): ChildProcess;
}

/** One measured run: wrk's figures plus the proxy's CPU. */
interface Run extends Result {
  socketErrors: number;
  /** The proxy's CPU time (every process of it) per request, µs. */
  cpuUs: number;
  /** CPU use of each worker process during the run, % of one core. */
  workerCpu: number[];
  /** CPU use of the process that serves no requests (nginx's master, Gatehouse's primary), % of one core. */
  masterCpu: number;
  /** CPU used during the run by processes other than the proxy, the origin, wrk and this script (other work
   * on the machine), % of one core. */
  otherCpu: number;
  /** The machine's idle time during the run, % of all its cores. */
  idlePct: number;
}

function gatehouse(workers: number | 'auto', pin: boolean, env?: Record<string, string>): Case['start'] {
  return (port, dir, origin) => {
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, coreContract({
      address: `127.0.0.1:${port}`, servers: [`http://127.0.0.1:${origin}`],
      extra: `workers: ${workers}\naccess_log:\n  path: ${join(dir, 'logs', 'access.log')}\nlog: { level: warn }\n`,
    }));
    return procs.start(pin ? 0 : undefined, process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', file], env);
  };
}

function nginx(workers: number, pin: boolean): Case['start'] {
  return (port, dir, origin) => {
    const conf = nginxConf(dir, `access_log ${dir}/logs/access.log combined buffer=8k flush=1s;
  upstream origin { server 127.0.0.1:${origin}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} reuseport;
    location /api/ { proxy_pass http://origin/; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`, { workers });
    return procs.start(pin ? 0 : undefined, NGINX!, ['-c', conf, '-p', dir]);
  };
}

const CASES: Case[] = [
  { name: 'gatehouse, workers: 1', proxy: 'gatehouse', workers: 1, pin: PIN1, start: gatehouse(1, PIN1) },
  { name: 'nginx, 1 worker', proxy: 'nginx', workers: 1, pin: PIN1, start: nginx(1, PIN1) },
  { name: `gatehouse, workers: auto (${N})`, proxy: 'gatehouse', workers: N, pin: false, start: gatehouse('auto', false) },
  { name: `nginx, ${N} workers`, proxy: 'nginx', workers: N, pin: false, start: nginx(N, false) },
  ...(process.env.BENCH_WORKERS_RR === '0' ? [] : [{
    name: `gatehouse, workers: ${N}, sched rr`, proxy: 'gatehouse' as const, workers: N, pin: false, info: true,
    start: gatehouse(N, false, { NODE_CLUSTER_SCHED_POLICY: 'rr' }),
  }]),
];

function wrk(port: number, seconds: number): Result & { socketErrors: number } {
  const out = execFileSync('wrk', [`-t${WRK_THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/api/hello`],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const m = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return { ...parseWrk(out), socketErrors: m ? m.slice(1).reduce((a, x) => a + Number(x), 0) : 0 };
}

/** The pids of the processes that serve requests: the children (nginx's workers, Gatehouse's cluster workers),
 * or the process itself when it has none (Gatehouse with one worker). */
function workerPids(pid: number): number[] {
  const all = cpuByProcess(pid).map((p) => p.pid);
  return all.length > 1 ? all.slice(1) : all;
}

/** Waits (at most 15 s) until the proxy has its worker processes. */
async function waitWorkers(pid: number, n: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (workerPids(pid).length < n) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} has fewer than ${n} workers`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the machine is quiet (see QUIET_PCT), at most QUIET_WAIT_S; true if it is. */
async function waitQuiet(): Promise<boolean> {
  const deadline = Date.now() + QUIET_WAIT_S * 1000;
  for (let said = false; ; said = true) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineCpu();
    const pct = ((b.busy - a.busy) / (b.all - a.all)) * 100;
    if (!(pct > QUIET_PCT)) return true;
    if (Date.now() > deadline) {
      process.stderr.write(`the machine is still ${pct.toFixed(0)}% busy after ${QUIET_WAIT_S} s: measuring anyway\n`);
      return false;
    }
    if (!said) process.stderr.write(`other work keeps the machine ${pct.toFixed(0)}% busy: waiting (at most ${QUIET_WAIT_S} s)\n`);
  }
}

async function measure(c: Case, origin: { port: number; pid: number }, round: number): Promise<Run> {
  const port = await freePort();
  const dir = join(TMP, `${c.proxy}-${c.workers}-${c.pin ? 'pinned' : 'free'}${c.info ? '-rr' : ''}-${round}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await waitQuiet();
  const child = c.start(port, dir, origin.port);
  try {
    await waitPort(port);
    await waitWorkers(child.pid!, c.workers);
    wrk(port, WARMUP); // JIT, pools, every worker's upstream connections
    const [m0, o0, s0, before] = [machineCpu(), cpuSeconds(origin.pid), process.cpuUsage(), cpuByProcess(child.pid!)];
    const r = wrk(port, DURATION);
    const [m1, o1, s1, after] = [machineCpu(), cpuSeconds(origin.pid), process.cpuUsage(s0), cpuByProcess(child.pid!)];
    const used = (pid: number): number => (after.find((p) => p.pid === pid)?.seconds ?? 0) - (before.find((p) => p.pid === pid)?.seconds ?? 0);
    const total = after.reduce((a, p) => a + used(p.pid), 0);
    const workerCpu = workerPids(child.pid!).map((pid) => (used(pid) / DURATION) * 100);
    const masterCpu = after.length > 1 ? (used(child.pid!) / DURATION) * 100 : 0;
    const other = m1.busy - m0.busy - total - (o1 - o0) - (m1.reaped - m0.reaped) - (s1.user + s1.system) / 1e6;
    return { ...r, cpuUs: (total * 1e6) / (r.rps * DURATION), workerCpu, masterCpu, otherCpu: Math.max(0, (other / DURATION) * 100),
      idlePct: ((m1.idle - m0.idle) / (m1.all - m0.all)) * 100 };
  } finally {
    await procs.stop(child);
  }
}

function line(c: Case, r: Run, round: number): string {
  return `[${round}/${ROUNDS}] ${c.name.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  `
    + `${r.cpuUs.toFixed(0)} µs CPU/req  workers ${r.workerCpu.map((x) => `${x.toFixed(0)}%`).join(' / ')}  master/primary ${r.masterCpu.toFixed(1)}%  other work ${r.otherCpu.toFixed(0)}%  machine idle ${r.idlePct.toFixed(0)}%`
    + `${r.errors || r.socketErrors ? `  ERRORS non-2xx ${r.errors} socket ${r.socketErrors}` : ''}\n`;
}

function report(runs: Map<Case, Run[]>, originRps: number): void {
  const med = (c: Case, f: (r: Run) => number): number => median(runs.get(c)!.map(f));
  const rps = (r: Run): number => r.rps;
  const p99 = (r: Run): number => r.p99;
  /** Median of the ratios a / b within each round, the rounds listed, and the ratio of the medians. */
  const paired = (a: Case, b: Case, f: (r: Run) => number): string => {
    const ra = runs.get(a)!, rb = runs.get(b)!;
    const per = ra.map((r, i) => f(r) / f(rb[i]!));
    return `**${median(per).toFixed(2)}x** (per round ${per.map((x) => x.toFixed(2)).join(', ')}; ratio of medians ${(med(a, f) / med(b, f)).toFixed(2)}x)`;
  };
  const lines = ['', `## Workers (medians of ${ROUNDS} interleaved rounds, ${DURATION} s per run, ${CONNECTIONS} connections, wrk -t${WRK_THREADS}; ${N} cores; ${PIN1 ? '1-worker proxies on core 0, the others' : 'proxies'}, wrk and the origin unpinned)`, ''];
  lines.push('| case | worker processes | req/s | p50 | p99 | req/s per worker | CPU per request | CPU per worker process | other work | machine idle | errors |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of CASES) {
    const cpu = Array.from({ length: c.workers }, (_, i) => `${med(c, (r) => r.workerCpu[i] ?? NaN).toFixed(0)}%`).join(' / ')
      + (c.proxy === 'nginx' || c.workers > 1 ? ` (${c.proxy === 'nginx' ? 'master' : 'primary'} ${med(c, (r) => r.masterCpu).toFixed(1)}%)` : '');
    const errors = runs.get(c)!.reduce((a, r) => a + r.errors + r.socketErrors, 0);
    lines.push(`| ${c.name}${c.info ? ' (informational)' : ''} | ${c.workers}${c.pin ? ' (core 0)' : ''} | ${med(c, rps).toFixed(0)} | ${med(c, (r) => r.p50).toFixed(2)} ms | ${med(c, p99).toFixed(2)} ms | ${(med(c, rps) / c.workers).toFixed(0)} | ${med(c, (r) => r.cpuUs).toFixed(0)} µs | ${cpu} | ${med(c, (r) => r.otherCpu).toFixed(0)}% | ${med(c, (r) => r.idlePct).toFixed(0)}% | ${errors} |`);
  }
  const [g1, n1, gN, nN, gRr] = CASES as [Case, Case, Case, Case, Case | undefined];
  lines.push('', `The origin alone (wrk straight to it, same placement): ${originRps.toFixed(0)} req/s.`, '');
  lines.push(`- Scaling, ${N} workers / 1 worker, req/s: Gatehouse ${paired(gN, g1, rps)}; nginx ${paired(nN, n1, rps)}`);
  lines.push(`- Gatehouse / nginx, 1 worker: req/s ${paired(g1, n1, rps)}; p99 ${paired(g1, n1, p99)}`);
  lines.push(`- Gatehouse / nginx, ${N} workers: req/s ${paired(gN, nN, rps)}; p99 ${paired(gN, nN, p99)}`);
  lines.push(`- CPU per request, Gatehouse / nginx: 1 worker ${paired(g1, n1, (r) => r.cpuUs)}; ${N} workers ${paired(gN, nN, (r) => r.cpuUs)}`);
  if (gRr) lines.push(`- Gatehouse, ${N} workers, scheduling round robin / kernel queue (default): req/s ${paired(gRr, gN, rps)}; p99 ${paired(gRr, gN, p99)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  if (!has('wrk') || !NGINX) throw new Error('bench:workers needs wrk and nginx (apt-get install wrk nginx)');
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(join(TMP, 'www'), { recursive: true });
  writeFileSync(join(TMP, 'www', 'hello'), 'hello world\n');
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });

  // The origin: nginx with N workers (reuseport, see above), unpinned, so that it does not limit the N-worker proxies.
  const originPort = await freePort();
  const odir = join(TMP, 'origin');
  const originConf = nginxConf(odir, `access_log off;
  server {
    listen 127.0.0.1:${originPort} reuseport; keepalive_timeout 60s; root ${TMP}/www;
    location /api/ { alias ${TMP}/www/; }
  }`, { workers: N });
  const originProc = procs.start(undefined, NGINX, ['-c', originConf, '-p', odir]);
  await waitPort(originPort, '/hello');
  await waitQuiet();
  wrk(originPort, WARMUP);
  const originRps = wrk(originPort, DURATION).rps;
  process.stderr.write(`origin alone: ${originRps.toFixed(0)} req/s\n`);

  const runs = new Map<Case, Run[]>(CASES.map((c) => [c, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of CASES) {
      let r = await measure(c, { port: originPort, pid: originProc.pid! }, round);
      process.stderr.write(line(c, r, round));
      for (let retry = 1; retry <= RETRIES && r.otherCpu > DISTURBED_PCT; retry++) {
        process.stderr.write(`  other work took ${r.otherCpu.toFixed(0)}% of a core during that run: measuring it again (${retry}/${RETRIES})\n`);
        const again = await measure(c, { port: originPort, pid: originProc.pid! }, round);
        process.stderr.write(line(c, again, round));
        if (again.otherCpu < r.otherCpu) r = again;
      }
      runs.get(c)!.push(r);
    }
  }
  report(runs, originRps);
  await procs.stopAll();
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench:workers failed: ${(err as Error).stack ?? String(err)}\n`);
  await procs.stopAll();
  process.exit(1);
});
