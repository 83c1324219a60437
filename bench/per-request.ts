/**
 * `npm run bench:per-request`: Gatehouse's own CPU per request (#16 step 1). GET of a 12-byte body through the
 * proxy to an nginx origin, wrk -t1 -c50, one Gatehouse process per run, the same config as every run of
 * `bench:observe` (metrics, the admin listener, recent_errors) with the access log written to a file (`log`) or
 * disabled (`nolog`: `access_log: { enabled: false }`); with BENCH_OLD (another built checkout, see bench/observe.ts for how to build
 * one) the same two variants of that build, named `old-log` and `old-nolog`, for a paired comparison.
 * Per run: requests/s and the proxy's CPU per request (user + system from /proc, µs), and "core 0 other work"
 * (should be near 0). Derived: medians, and the per-round ratios new / old and log - nolog (the access log's cost
 * in situ, µs per request).
 *
 * BENCH_KEEP=1 starts each variant's proxy once and keeps it for every round (one warm-up; no restart per run), so
 * that many short runs (e.g. BENCH_ROUNDS=20 BENCH_DURATION=2) alternate closely: the steadiest paired figure
 * on a VM whose speed drifts.
 *
 * BENCH_PROFILE=1 adds one run per variant under `node --cpu-prof` and prints its self time by owner
 * (Gatehouse's own code, node:http and the other node: internals, undici, other dependencies, V8/GC) and the top
 * functions, in µs per request (bench/cpu-profile.ts; samples of the measured window only); BENCH_PROFILE_FOCUS=name
 * (e.g. `access-log.js`) lists the self time of what runs under the Gatehouse functions whose name or file has it.
 *
 * Placement: the proxy on core 0 (`taskset -c 0`); nginx (one worker) and wrk on core 1. BENCH_ROUNDS
 * interleaved rounds (default 5), BENCH_DURATION seconds per run (default 5) after a BENCH_WARMUP-second warm-up
 * (default 2), the order rotated each round. Files live in a temp dir, removed at the end; loopback only.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { coreContract } from '../test/helpers/contracts.js';
import { profileReport } from './cpu-profile.js';
import { coreCpu, cpuSeconds, has, helloOrigin, median, NGINX, parseWrk, pinned, processes, runBench, waitPort } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const PROFILE = process.env.BENCH_PROFILE === '1';
const KEEP = process.env.BENCH_KEEP === '1';
const OLD = process.env.BENCH_OLD ? resolve(process.env.BENCH_OLD) : undefined;
const CONNECTIONS = 50;
/** BENCH_ENGINE=node|native: the `engine` of this build's variants (the old build runs as it is). */
const ENGINE = process.env.BENCH_ENGINE;
const procs = processes(ROOT);

interface Variant { name: string; dir: string; log: boolean }
const VARIANTS: Variant[] = [
  ...(OLD ? [{ name: 'old-log', dir: OLD, log: true }, { name: 'old-nolog', dir: OLD, log: false }] : []),
  { name: 'log', dir: ROOT, log: true },
  { name: 'nolog', dir: ROOT, log: false },
];

/** CLOCK_MONOTONIC in µs: the clock of V8's profile timestamps on Linux. */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface Run { rps: number; requests: number; errors: number; cpuUs: number; otherPct: number; stealPct: number; runS: number }

function wrk(port: number, seconds: number): { rps: number; requests: number; errors: number } {
  const [cmd, args] = pinned(1, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/api/hello`]);
  const out = execFileSync(cmd, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const r = parseWrk(out);
  return { rps: r.rps, requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN), errors: r.errors + (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0) };
}

function start(v: Variant, tmp: string, ports: { proxy: number; admin: number; origin: number }, tag: string, prof?: string): ChildProcess {
  const file = join(tmp, 'conf', `${tag}.yaml`);
  const log = v.log ? `access_log:\n  path: ${join(tmp, 'logs', `${tag}.log`)}\n` : 'access_log: { enabled: false }\n';
  writeFileSync(file, coreContract({
    address: `127.0.0.1:${ports.proxy}`, servers: [`http://127.0.0.1:${ports.origin}`],
    extra: `${log}log: { level: warn }\nadmin: { address: "127.0.0.1:${ports.admin}" }\n${v.dir === ROOT && ENGINE ? `engine: ${ENGINE}\n` : ''}`,
  }));
  const flags = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  return procs.start(0, process.execPath, [...flags, join(v.dir, 'bin/gatehouse.js'), 'run', '-c', file]);
}

interface Live { child: ChildProcess; port: number; tag: string }

/** A variant's proxy started and warmed up; with `prof`, under --cpu-prof. */
async function launch(v: Variant, tmp: string, origin: number, tag: string, prof?: string): Promise<Live> {
  const ports = { proxy: await freePort(), admin: await freePort(), origin };
  const child = start(v, tmp, ports, tag, prof);
  try {
    await waitPort(ports.proxy, '/api/hello', 15_000);
    wrk(ports.proxy, WARMUP);
  } catch (err) {
    await procs.stop(child);
    throw err;
  }
  return { child, port: ports.proxy, tag };
}

/** One measured run on a live proxy, and the profile's window of it. */
function sample(live: Live): Run & { window: [number, number] } {
  const pid = live.child.pid!;
  const [c0, k0, t0] = [cpuSeconds(pid), coreCpu(0), monoUs()];
  const r = wrk(live.port, DURATION);
  const [c1, k1, t1] = [cpuSeconds(pid), coreCpu(0), monoUs()];
  const elapsed = k1.all - k0.all;
  return {
    ...r, cpuUs: ((c1 - c0) * 1e6) / r.requests, runS: (t1 - t0) / 1e6,
    otherPct: Math.max(0, ((k1.busy - k0.busy - (c1 - c0)) / elapsed) * 100), stealPct: ((k1.steal - k0.steal) / elapsed) * 100,
    window: [t0, t1],
  };
}

async function shut(live: Live, tmp: string): Promise<void> {
  await procs.stop(live.child);
  rmSync(join(tmp, 'logs', `${live.tag}.log`), { force: true });
}

/** One run in a proxy of its own; with `prof`, under --cpu-prof. */
async function measure(v: Variant, tmp: string, origin: number, tag: string, prof?: string): Promise<Run & { window: [number, number] }> {
  const live = await launch(v, tmp, origin, tag, prof);
  try {
    return sample(live);
  } finally {
    await shut(live, tmp);
  }
}

function report(runs: Map<string, Run[]>): void {
  const of = (name: string): Run[] => runs.get(name) ?? [];
  const lines = ['', `## Per-request cost (medians of ${ROUNDS} interleaved rounds, ${DURATION} s per run after a ${WARMUP} s warm-up, wrk -t1 -c${CONNECTIONS}; proxy on core 0, nginx and wrk on core 1)`, ''];
  lines.push('| variant | req/s | CPU per request | core 0 other work | errors |', '|---|---|---|---|---|');
  for (const v of VARIANTS) {
    const rs = of(v.name);
    lines.push(`| ${v.name}${v.dir === OLD ? ` (${OLD})` : ''} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.cpuUs)).toFixed(1)} µs | ${median(rs.map((r) => r.otherPct)).toFixed(0)}% | ${rs.reduce((a, r) => a + r.errors, 0)} |`);
  }
  const per = (a: string, b: string, f: (x: number, y: number) => number): number[] => of(a).map((r, i) => f(r.cpuUs, of(b)[i]!.cpuUs));
  const show = (xs: number[], d: number, unit: string): string => `**${median(xs).toFixed(d)}${unit}** (${xs.map((x) => x.toFixed(d)).join(', ')})`;
  lines.push('', '| per round (median, rounds) | CPU per request |', '|---|---|');
  if (OLD) {
    lines.push(`| log / old-log | ${show(per('log', 'old-log', (x, y) => x / y), 2, 'x')} |`);
    lines.push(`| nolog / old-nolog | ${show(per('nolog', 'old-nolog', (x, y) => x / y), 2, 'x')} |`);
    lines.push(`| old-log - old-nolog (the access log, old) | ${show(per('old-log', 'old-nolog', (x, y) => x - y), 1, ' µs')} |`);
  }
  lines.push(`| log - nolog (the access log) | ${show(per('log', 'nolog', (x, y) => x - y), 1, ' µs')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function profiles(tmp: string, origin: number): Promise<void> {
  for (const v of VARIANTS) {
    const dir = join(tmp, 'prof', v.name);
    mkdirSync(dir, { recursive: true });
    const r = await measure(v, tmp, origin, `${v.name}-prof`, dir);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) { process.stdout.write(`\n(no profile written for ${v.name})\n`); continue; }
    process.stdout.write(`\n### Profile: ${v.name} (${r.cpuUs.toFixed(1)} µs CPU/request under the profiler, ${r.requests} requests)\n\n`);
    process.stdout.write(profileReport(join(dir, file), { window: r.window, requests: r.requests, roots: [ROOT, ...(OLD ? [OLD] : [])], focus: process.env.BENCH_PROFILE_FOCUS }));
  }
}

async function main(tmp: string): Promise<void> {
  if (!has('wrk') || !NGINX) throw new Error('bench:per-request needs wrk and nginx (apt-get install wrk nginx)');
  if (OLD && !existsSync(join(OLD, 'dist/cli/main.js'))) throw new Error(`BENCH_OLD=${OLD} is not a built checkout (see bench/observe.ts)`);
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  for (const d of ['conf', 'logs']) mkdirSync(join(tmp, d), { recursive: true });
  const originPort = await helloOrigin(tmp, procs);

  const runs = new Map<string, Run[]>(VARIANTS.map((v) => [v.name, []]));
  // BENCH_KEEP=1: each variant's proxy starts once and serves every round (many short runs then alternate
  // within seconds of each other, so the VM's drift hits every variant alike).
  const kept = new Map<string, Live>();
  if (KEEP && ROUNDS > 0) for (const v of VARIANTS) kept.set(v.name, await launch(v, tmp, originPort, `${v.name}-kept`));
  try {
    await rounds(tmp, originPort, runs, kept);
  } finally {
    for (const live of kept.values()) await shut(live, tmp);
  }
  if (ROUNDS > 0) report(runs);
  if (PROFILE) await profiles(tmp, originPort);
}

async function rounds(tmp: string, originPort: number, runs: Map<string, Run[]>, kept: Map<string, Live>): Promise<void> {
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const v = VARIANTS[(i + round - 1) % VARIANTS.length]!;
      const live = kept.get(v.name);
      const r = live ? sample(live) : await measure(v, tmp, originPort, `${v.name}-${round}`);
      process.stderr.write(`[${round}/${ROUNDS}] ${v.name.padEnd(10)} ${r.rps.toFixed(0).padStart(6)} req/s  ${r.cpuUs.toFixed(1)} µs CPU/req  core 0 other ${r.otherPct.toFixed(0)}% steal ${r.stealPct.toFixed(0)}%${r.errors ? `  ERRORS ${r.errors}` : ''}\n`);
      runs.get(v.name)!.push(r);
    }
  }
}

runBench('per-request', procs, main);
