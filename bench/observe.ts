/**
 * `npm run bench:observe`: what does observability cost per request (#15)? GET of a 12-byte body through the
 * proxy to an nginx origin, wrk -t1 -c50, one Gatehouse process per run, in these variants:
 *  1. `off`: this build without `tracing:`, as every config runs: metrics per route and server, recent_errors,
 *     the admin listener on (it serves /metrics), an access log written to a file;
 *  2. `trace-export`: the same plus `tracing: { sample: 1.0, otlp: { endpoint } }`: every request recorded,
 *     a server span and a client span per attempt exported over OTLP/HTTP (JSON) to a small receiver
 *     (bench/otlp-receiver.mjs, which reads and counts them and answers 200);
 *  3. `trace-sample0`: the same plus `tracing: { sample: 0 }`: trace context propagated (traceparent to the
 *     upstream, trace_id in the log), nothing recorded or exported;
 *  4. `old`, when BENCH_OLD names another built checkout: its bin/gatehouse.js with the config of `off`, to
 *     compare a change with an earlier commit. To build one beside this checkout:
 *       git worktree add --detach /tmp/old <commit> && ln -s $PWD/node_modules /tmp/old/ && (cd /tmp/old && npm run build)
 *       BENCH_OLD=/tmp/old npm run bench:observe
 *       git worktree remove --force /tmp/old
 * Per run: requests/s, p50, p99 and errors from wrk; the proxy's CPU time per request (user + system from
 * /proc); "core 0 other work", the CPU that processes other than the proxy took on its core meanwhile (% of
 * the run; the VM is shared, so a run where it is not near zero was disturbed), and the core's steal time.
 * Derived: the medians, and the ratios trace-export / off, trace-sample0 / off and off / old within each round
 * (their median and the rounds). Two checks after each run (1.5 s after wrk stops, so that the last requests
 * finish and the last span batch goes out): `gatehouse_http_requests_total` from /metrics against the requests
 * sent (wrk's warm-up and run plus the readiness probe; wrk does not count the requests in flight when it
 * stops, so the proxy may count up to about 2 x connections more), and the spans exported, dropped and failed
 * from `gatehouse_tracing_spans_total` beside what the receiver got (2 spans per proxied request expected).
 *
 * Placement: the proxy on core 0 (`taskset -c 0`); nginx (one worker), wrk and the OTLP receiver on core 1.
 * BENCH_ROUNDS interleaved rounds (default 5) of BENCH_DURATION seconds per run (default 5) after a
 * BENCH_WARMUP-second warm-up (default 2), the order of the variants rotated each round. Every file (configs,
 * access logs: tens of MB per run, each removed after its run) lives in a temp dir under os.tmpdir(), removed at the
 * end; every process is stopped by its pid. Loopback only. Needs wrk and nginx.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { coreContract } from '../test/helpers/contracts.js';
import { coreCpu, cpuSeconds, has, helloOrigin, median, NGINX, parseWrk, pinned, processes, runBench, waitPort, type Result } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const OLD = process.env.BENCH_OLD ? resolve(process.env.BENCH_OLD) : undefined;
const CONNECTIONS = 50;
/** After wrk stops: time for the requests in flight to finish and for the exporter's next batch (every 1 s). */
const SETTLE_MS = 1500;
const procs = processes(ROOT);

interface Variant { name: string; dir: string; tracing: (otlpPort: number) => string }
const VARIANTS: Variant[] = [
  ...(OLD ? [{ name: 'old', dir: OLD, tracing: () => '' }] : []),
  { name: 'off', dir: ROOT, tracing: () => '' },
  { name: 'trace-export', dir: ROOT, tracing: (p) => `tracing: { sample: 1.0, otlp: { endpoint: "http://127.0.0.1:${p}/v1/traces" } }\n` },
  { name: 'trace-sample0', dir: ROOT, tracing: () => 'tracing: { sample: 0 }\n' },
];

interface Spans { exported: number; dropped: number; failed: number }
interface Received { posts: number; bytes: number; spans: number }

/** One measured run: wrk's figures, the proxy's CPU and the checks against its metrics. */
interface Run extends Result {
  socketErrors: number;
  /** The proxy's CPU time per request, µs. */
  cpuUs: number;
  /** CPU other processes took on core 0 during the run, and its steal time, % of the run. */
  otherPct: number;
  stealPct: number;
  /** Requests sent: warm-up, run and the readiness probe. */
  sent: number;
  /** `gatehouse_http_requests_total`, summed over its labels; undefined when the metric is missing. */
  counted: number | undefined;
  /** `gatehouse_tracing_spans_total` by result; undefined without the metric (tracing off, or an old build). */
  spans: Spans | undefined;
  /** What the OTLP receiver got from this proxy process (warm-up, run, probe), until the scrape. */
  received: Received;
}

interface Wrk extends Result { requests: number; socketErrors: number }

function wrk(port: number, seconds: number): Wrk {
  const [cmd, args] = pinned(1, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/api/hello`]);
  const out = execFileSync(cmd, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const m = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return { ...parseWrk(out), requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN), socketErrors: m ? m.slice(1).reduce((a, x) => a + Number(x), 0) : 0 };
}

/** The samples of one metric in Prometheus text: label string → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of text.split('\n')) {
    if (!l.startsWith(`${name}{`) && !l.startsWith(`${name} `)) continue;
    const value = Number(l.trim().split(/\s+/).pop());
    out.set(l.slice(name.length, l.lastIndexOf(' ')).trim(), value);
  }
  return out;
}

function spansOf(text: string): Spans | undefined {
  const s = samples(text, 'gatehouse_tracing_spans_total');
  if (!s.size) return undefined;
  const get = (result: string): number => [...s].filter(([k]) => k.includes(`result="${result}"`)).reduce((a, [, v]) => a + v, 0);
  return { exported: get('exported'), dropped: get('dropped'), failed: get('failed') };
}

async function json<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return (await r.json()) as T;
}

async function text(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return r.text();
}

function start(v: Variant, tmp: string, ports: { proxy: number; admin: number; origin: number; otlp: number }, tag: string): ChildProcess {
  const file = join(tmp, 'conf', `${tag}.yaml`);
  // The access log is kept out of the config's directory, which Gatehouse watches (reload.watch).
  writeFileSync(file, coreContract({
    address: `127.0.0.1:${ports.proxy}`, servers: [`http://127.0.0.1:${ports.origin}`],
    extra: `access_log:\n  path: ${join(tmp, 'logs', `${tag}.log`)}\nlog: { level: warn }\nadmin: { address: "127.0.0.1:${ports.admin}" }\n${v.tracing(ports.otlp)}`,
  }));
  return procs.start(0, process.execPath, [join(v.dir, 'bin/gatehouse.js'), 'run', '-c', file]);
}

async function measure(v: Variant, tmp: string, origin: number, otlp: number, round: number): Promise<Run> {
  const ports = { proxy: await freePort(), admin: await freePort(), origin, otlp };
  const tag = `${v.name}-${round}`;
  const rec0 = await json<Received>(`http://127.0.0.1:${otlp}/`);
  const child = start(v, tmp, ports, tag);
  try {
    await waitPort(ports.proxy, '/api/hello', 15_000);
    const warm = wrk(ports.proxy, WARMUP);
    const [c0, k0] = [cpuSeconds(child.pid!), coreCpu(0)];
    const r = wrk(ports.proxy, DURATION);
    const [c1, k1] = [cpuSeconds(child.pid!), coreCpu(0)];
    await new Promise((res) => setTimeout(res, SETTLE_MS));
    const metrics = await text(`http://127.0.0.1:${ports.admin}/metrics`);
    const rec1 = await json<Received>(`http://127.0.0.1:${otlp}/`);
    const requests = samples(metrics, 'gatehouse_http_requests_total');
    const elapsed = k1.all - k0.all;
    return {
      ...r, cpuUs: ((c1 - c0) * 1e6) / r.requests,
      otherPct: Math.max(0, ((k1.busy - k0.busy - (c1 - c0)) / elapsed) * 100), stealPct: ((k1.steal - k0.steal) / elapsed) * 100,
      sent: 1 + warm.requests + r.requests, counted: requests.size ? [...requests.values()].reduce((a, x) => a + x, 0) : undefined,
      spans: spansOf(metrics),
      received: { posts: rec1.posts - rec0.posts, bytes: rec1.bytes - rec0.bytes, spans: rec1.spans - rec0.spans },
    };
  } finally {
    await procs.stop(child);
    rmSync(join(tmp, 'logs', `${tag}.log`), { force: true }); // tens of MB per run
  }
}

const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x}`;

function line(v: Variant, r: Run, round: number): string {
  const check = r.counted === undefined ? 'no gatehouse_http_requests_total' : `metrics ${r.counted} vs sent ${r.sent} (${signed(r.counted - r.sent)})`;
  const spans = r.spans ? `  spans exported ${r.spans.exported} dropped ${r.spans.dropped} failed ${r.spans.failed}, received ${r.received.spans}` : '';
  return `[${round}/${ROUNDS}] ${v.name.padEnd(13)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  `
    + `${r.cpuUs.toFixed(1)} µs CPU/req  core 0 other ${r.otherPct.toFixed(0)}% steal ${r.stealPct.toFixed(0)}%  ${check}${spans}`
    + `${r.errors || r.socketErrors ? `  ERRORS non-2xx ${r.errors} socket ${r.socketErrors}` : ''}\n`;
}

function report(runs: Map<string, Run[]>, seconds: number): void {
  const of = (name: string): Run[] => runs.get(name) ?? [];
  const med = (name: string, f: (r: Run) => number): number => median(of(name).map(f));
  const lines = ['', `## Observability cost (medians of ${ROUNDS} interleaved rounds, ${DURATION} s per run after a ${WARMUP} s warm-up, wrk -t1 -c${CONNECTIONS}; proxy on core 0, nginx, wrk and the OTLP receiver on core 1; ${seconds.toFixed(0)} s in all)`, ''];
  lines.push('| variant | req/s | p50 | p99 | CPU per request | core 0 other work | errors |', '|---|---|---|---|---|---|---|');
  for (const v of VARIANTS) {
    const errors = of(v.name).reduce((a, r) => a + r.errors + r.socketErrors, 0);
    lines.push(`| ${v.name}${v.name === 'old' ? ` (${OLD})` : ''} | ${med(v.name, (r) => r.rps).toFixed(0)} | ${med(v.name, (r) => r.p50).toFixed(2)} ms | ${med(v.name, (r) => r.p99).toFixed(2)} ms | ${med(v.name, (r) => r.cpuUs).toFixed(1)} µs | ${med(v.name, (r) => r.otherPct).toFixed(0)}% | ${errors} |`);
  }
  /** Median of the ratios a / b within each round, then the rounds. */
  const ratio = (a: string, b: string, f: (r: Run) => number): string => {
    const per = of(a).map((r, i) => f(r) / f(of(b)[i]!));
    return `**${median(per).toFixed(2)}x** (${per.map((x) => x.toFixed(2)).join(', ')})`;
  };
  lines.push('', '| ratio, per round (median, rounds) | req/s | p50 | p99 | CPU per request |', '|---|---|---|---|---|');
  const pairs = [['trace-export', 'off'], ['trace-sample0', 'off'], ...(OLD ? [['off', 'old']] : [])] as [string, string][];
  for (const [a, b] of pairs) {
    lines.push(`| ${a} / ${b} | ${ratio(a, b, (r) => r.rps)} | ${ratio(a, b, (r) => r.p50)} | ${ratio(a, b, (r) => r.p99)} | ${ratio(a, b, (r) => r.cpuUs)} |`);
  }
  lines.push('', `Checks (per round; up to about 2 x ${CONNECTIONS} requests are in flight when wrk stops, counted by the proxy, not by wrk):`, '');
  for (const v of VARIANTS) {
    const diffs = of(v.name).map((r) => (r.counted === undefined ? 'n/a' : signed(r.counted - r.sent)));
    lines.push(`- ${v.name}: gatehouse_http_requests_total - requests sent: ${diffs.join(', ')}`);
    const traced = of(v.name).filter((r) => r.spans);
    if (!traced.length) continue;
    const per = traced.map((r) => (r.counted ? (r.spans!.exported / r.counted).toFixed(2) : 'n/a'));
    const sum = (f: (r: Run) => number): number => traced.reduce((a, r) => a + f(r), 0);
    lines.push(`  spans exported per request counted: ${per.join(', ')}; dropped ${sum((r) => r.spans!.dropped)}, failed ${sum((r) => r.spans!.failed)}; `
      + `the receiver got ${sum((r) => r.received.spans)} spans in ${sum((r) => r.received.posts)} requests (${(sum((r) => r.received.bytes) / 1048576).toFixed(0)} MiB), by the time of the scrapes`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(tmp: string): Promise<void> {
  if (!has('wrk') || !NGINX) throw new Error('bench:observe needs wrk and nginx (apt-get install wrk nginx)');
  if (OLD && !existsSync(join(OLD, 'dist/cli/main.js'))) {
    throw new Error(`BENCH_OLD=${OLD} is not a built checkout (no dist/cli/main.js): git worktree add --detach ${OLD} <commit> && ln -s $PWD/node_modules ${OLD}/ && (cd ${OLD} && npm run build)`);
  }
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  for (const d of ['conf', 'logs']) mkdirSync(join(tmp, d), { recursive: true });

  const originPort = await helloOrigin(tmp, procs);
  const otlpPort = await freePort();
  procs.start(1, process.execPath, [join(ROOT, 'bench/otlp-receiver.mjs'), String(otlpPort)]);
  await waitPort(otlpPort, '/');
  const probe = await fetch(`http://127.0.0.1:${originPort}/hello`);
  if (probe.status !== 200) throw new Error(`the origin answers ${probe.status} to GET /hello`);
  await probe.arrayBuffer();

  const t0 = Date.now();
  const runs = new Map<string, Run[]>(VARIANTS.map((v) => [v.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const v = VARIANTS[(i + round - 1) % VARIANTS.length]!;
      const r = await measure(v, tmp, originPort, otlpPort, round);
      process.stderr.write(line(v, r, round));
      runs.get(v.name)!.push(r);
    }
  }
  report(runs, (Date.now() - t0) / 1000);
}

runBench('observe', procs, main);
