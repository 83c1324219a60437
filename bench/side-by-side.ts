/**
 * The proxies side by side, the first part of `npm run bench` and the proof #16 asks for. Rows:
 * - `gatehouse-node` (config `engine: node`: node:http and undici) and `gatehouse-native` (`engine: native`,
 *   Gatehouse's own HTTP/1.1 engine), both with the contract config of test/helpers/contracts.ts and the access
 *   log written to a file in the bench dir, as a user runs it;
 * - `bare-node` (bench/proxies/bare.mjs: a node:http server and one undici Pool, nothing else), `http-proxy`,
 *   `fastify-proxy`, and nginx with one worker (keep-alive upstream, access log to a file);
 * - `direct`: the load generator straight to the origin, the baseline of the added latency.
 *
 * Per proxy and round: a warm-up, then requests/s at 50 connections (12-byte body) with the proxy's CPU time
 * read from /proc around that run (user + system of the process and its children, so nginx's worker counts)
 * and divided by the requests wrk completed; p50 and p99 at 1 connection, minus the direct p50 and p99 of the
 * same round (the added latency); MB/s of a 1 MiB body at 10 connections. The rounds are interleaved and the
 * order of the proxies rotates each round (direct first). Reported: the median of each figure over the rounds,
 * and each proxy's ratio to bare-node and to nginx taken within each round (the VM's speed drifts between
 * rounds), median over the rounds; also written as JSON (`engine.json` in the bench dir).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/helpers/origin.js';
import { coreContract } from '../test/helpers/contracts.js';
import { report, summarize, type ProxyFigures, type RoundFigures } from './side-by-side-report.js';
import { cpuSeconds, nginxConf, parseWrk, pinned, waitPort, type Result } from './util.js';

/** The rows issue #16's proof names (BENCH_ENGINE_ONLY=1), besides `direct`, which always runs. */
export const ENGINE_ROWS = ['gatehouse-node', 'gatehouse-native', 'native-min', 'bare-node', 'nginx'];

export interface SideBySideOptions {
  root: string;
  /** The bench dir: configs, logs and engine.json go here. */
  tmp: string;
  originPort: number;
  /** Seconds per measured run, and of the warm-up run before them. */
  duration: number;
  warmup: number;
  rounds: number;
  /** Proxy names to run (`gatehouse` matches both engines); all when undefined. */
  only?: string[];
  nginx?: string;
  wrk: boolean;
  start(core: number, cmd: string, args: string[]): ChildProcess;
  stop(child: ChildProcess): Promise<void>;
}

interface Proxy { name: string; log?: string; start?(port: number): ChildProcess }

async function load(o: SideBySideOptions, port: number, run: { path: string; connections: number; seconds?: number }): Promise<Result> {
  const url = `http://127.0.0.1:${port}${run.path}`;
  const seconds = run.seconds ?? o.duration;
  if (o.wrk) {
    const [c, a] = pinned(1, 'wrk', ['-t1', `-c${run.connections}`, `-d${seconds}s`, '--latency', url]);
    return parseWrk(execFileSync(c, a, { encoding: 'utf8', timeout: (seconds + 30) * 1000 }));
  }
  const autocannon = (await import('autocannon')).default;
  const r = await autocannon({ url, connections: run.connections, duration: seconds });
  return {
    rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, mbps: r.throughput.average / 1048576,
    errors: r.non2xx, requests: r.requests.total, socketErrors: r.errors + r.timeouts,
  };
}

function proxies(o: SideBySideOptions): Proxy[] {
  const origin = `http://127.0.0.1:${o.originPort}`;
  const node = (file: string) => (port: number): ChildProcess =>
    o.start(0, process.execPath, [join(o.root, 'bench/proxies', file), String(port), origin]);
  const gatehouse = (engine: 'node' | 'native'): Proxy => {
    const name = `gatehouse-${engine}`;
    // The log in a directory of its own, as nginx's below (a config watcher once woke at every batch written
    // beside the config).
    const log = join(o.tmp, 'logs', `${name}-access.log`);
    return { name, log, start(port) {
      const file = join(o.tmp, `${name}-${port}.yaml`);
      writeFileSync(file, coreContract({
        address: `127.0.0.1:${port}`, servers: [origin],
        extra: `engine: ${engine}\naccess_log:\n  path: ${log}\nlog: { level: warn }\n`,
      }));
      return o.start(0, process.execPath, [join(o.root, 'bin/gatehouse.js'), 'run', '-c', file]);
    } };
  };
  const list: Proxy[] = [
    gatehouse('node'), gatehouse('native'),
    { name: 'bare-node', start: node('bare.mjs') },
    // The native engine's two halves wired straight together: what the pipeline costs on top of them.
    { name: 'native-min', start: node('native-min.mjs') },
    { name: 'http-proxy', start: node('http-proxy.mjs') },
    { name: 'fastify-proxy', start: node('fastify-proxy.mjs') },
  ];
  if (o.nginx) {
    const nginx = o.nginx;
    list.push({ name: 'nginx', start(port) {
      const dir = join(o.tmp, `nginx-${port}`);
      const conf = nginxConf(dir, `access_log ${dir}/logs/access.log;
  upstream origin { server 127.0.0.1:${o.originPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /api/ { proxy_pass http://origin/; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`);
      return o.start(0, nginx, ['-c', conf, '-p', dir]);
    } });
  }
  return list.filter((p) => !o.only || o.only.some((n) => p.name === n || p.name.startsWith(`${n}-`)));
}

const size = (file: string | undefined): number => (file && existsSync(file) ? statSync(file).size : 0);

/** One proxy in one round; `direct` (the origin's own figures at 1 connection) gives the added latency. */
async function measure(o: SideBySideOptions, p: Proxy, direct: RoundFigures | undefined): Promise<RoundFigures> {
  const port = p.start ? await freePort() : o.originPort;
  const logBefore = size(p.log);
  const child = p.start?.(port);
  let r: RoundFigures;
  try {
    await waitPort(port);
    await load(o, port, { path: '/api/hello', connections: 50, seconds: o.warmup }).catch(() => undefined); // JIT, pools
    const pid = child?.pid;
    const cpu0 = pid ? cpuSeconds(pid) : NaN;
    const a = await load(o, port, { path: '/api/hello', connections: 50 });
    const cpuUs = pid ? ((cpuSeconds(pid) - cpu0) * 1e6) / (a.requests ?? a.rps * o.duration) : NaN;
    const b = await load(o, port, { path: '/api/hello', connections: 1 });
    const c = await load(o, port, { path: '/api/1m', connections: 10 });
    r = {
      rps: a.rps, p50At50: a.p50, p99At50: a.p99, requests: a.requests ?? NaN, cpuUs,
      p50At1: b.p50, p99At1: b.p99, addedP50: b.p50 - (direct?.p50At1 ?? NaN), addedP99: b.p99 - (direct?.p99At1 ?? NaN),
      mbps: c.mbps, errors: [a, b, c].reduce((n, x) => n + x.errors + (x.socketErrors ?? 0), 0),
    };
  } finally {
    if (child) await o.stop(child); // the log's last lines are flushed on exit
  }
  if (p.log) {
    r.accessLogBytes = size(p.log) - logBefore;
    if (r.accessLogBytes <= 0) process.stderr.write(`WARNING: ${p.name} wrote nothing to its access log ${p.log}\n`);
  }
  return r;
}

function gitHead(root: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Runs the rounds, prints the table and writes `engine.json` in the bench dir; returns the figures. */
export async function sideBySide(o: SideBySideOptions): Promise<ProxyFigures[]> {
  const list = proxies(o);
  const runs = new Map<string, RoundFigures[]>([['direct', []], ...list.map((p): [string, RoundFigures[]] => [p.name, []])]);
  for (let round = 0; round < o.rounds; round++) {
    // Direct first (the baseline of this round), then the proxies, rotated so none is always first or last.
    const order: Proxy[] = [{ name: 'direct' }, ...list.slice(round % list.length), ...list.slice(0, round % list.length)];
    let direct: RoundFigures | undefined;
    for (const p of order) {
      const r = await measure(o, p, direct);
      if (p.name === 'direct') direct = r;
      runs.get(p.name)!.push(r);
      process.stderr.write(`[${round + 1}/${o.rounds}] ${p.name.padEnd(16)} ${r.rps.toFixed(0).padStart(6)} req/s @50  ` +
        `${Number.isFinite(r.cpuUs) ? `${r.cpuUs.toFixed(1)} µs CPU/req  ` : ''}p50 @1 ${r.p50At1.toFixed(3)} ms  ` +
        `p99 @1 ${r.p99At1.toFixed(3)} ms  ${r.mbps.toFixed(0)} MB/s 1MiB${r.errors ? `  ERRORS ${r.errors}` : ''}\n`);
    }
  }
  const figures = summarize(runs);
  const meta = {
    date: new Date().toISOString(), commit: gitHead(o.root), node: process.version, rounds: o.rounds,
    durationS: o.duration, warmupS: o.warmup, loadGenerator: o.wrk ? 'wrk -t1' : 'autocannon',
    origin: o.nginx ? 'nginx, 1 worker' : 'node:http', placement: 'proxy on core 0 (taskset -c 0); origin and load generator on core 1',
    runs: { rps: '12-byte body, 50 connections', latency: '12-byte body, 1 connection', mbps: '1 MiB body, 10 connections' },
  };
  writeFileSync(join(o.tmp, 'engine.json'), `${JSON.stringify({ ...meta, proxies: figures }, null, 2)}\n`);
  process.stdout.write(report(figures, meta));
  return figures;
}
