/**
 * `npm run bench:pair`: CPU per request of two proxies measured at the same time (#16). Both run on core 0, each
 * loaded by its own wrk (-t1 -c25, core 1) through the same nginx origin (one worker, core 1), and each one's
 * CPU (user + system from /proc) is divided by the requests it served in the same seconds. A VM whose speed
 * drifts from second to second (here ±20-30% between runs a few seconds apart) then slows both alike: the
 * ratio per round holds within a few percent (an A/A pair: 0.93-1.06), where runs taken in turn
 * (`bench:per-request`, `npm run bench`) need many rounds to say as much. What it measures is CPU per request,
 * not capacity: the two proxies share the core.
 *
 * BENCH_PAIRS: comma-separated `A:B` pairs (default `bare:native,native-min:native,native:node`), each side one
 * of: `native`, `node` (this build, the contract config of `npm run bench`, access log to a file in a directory of
 * its own), `bare` (the node:http + undici reference, bench/proxies/bare.mjs), `native-min` (the engine with no
 * pipeline), `old-native`, `old-node` (the build at BENCH_OLD). A Gatehouse name may end in `-nolog` (access log
 * off) or `-logbeside` (the log written in the config file's directory). BENCH_ROUNDS rounds (default 8) of BENCH_DURATION seconds (default 3) per
 * pair, after a 2 s warm-up; each proxy runs once per pair. Reports B / A per round and its median. Loopback only.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../test/helpers/origin.js';
import { coreContract } from '../test/helpers/contracts.js';
import { cpuSeconds, has, helloOrigin, median, NGINX, parseWrk, pinned, processes, runBench, waitPort } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const DURATION = Number(process.env.BENCH_DURATION ?? 3);
const OLD = process.env.BENCH_OLD ? resolve(process.env.BENCH_OLD) : undefined;
const PAIRS = (process.env.BENCH_PAIRS ?? 'bare:native,native-min:native,native:node').split(',').map((p) => p.split(':') as [string, string]);
const procs = processes(ROOT);
const run = promisify(execFile);

interface Live { name: string; child: ChildProcess; port: number }

function command(name: string, port: number, origin: string, tmp: string): string[] {
  const script = { bare: 'bare.mjs', 'native-min': 'native-min.mjs' }[name];
  if (script !== undefined) return [join(ROOT, 'bench/proxies', script), String(port), origin];
  const m = /^(old-)?(native|node)(-nolog|-logbeside)?$/.exec(name);
  if (!m) throw new Error(`BENCH_PAIRS: unknown proxy ${name}`);
  const dir = m[1] ? OLD : ROOT;
  if (dir === undefined) throw new Error(`${name} needs BENCH_OLD (a built checkout)`);
  const file = join(tmp, 'conf', `${name}-${port}.yaml`);
  const log = m[3] === '-nolog' ? 'access_log: { enabled: false }\n'
    : `access_log:\n  path: ${join(tmp, m[3] === '-logbeside' ? 'conf' : 'logs', `${name}-${port}.log`)}\n`;
  writeFileSync(file, coreContract({ address: `127.0.0.1:${port}`, servers: [origin], extra: `engine: ${m[2]!}\n${log}log: { level: warn }\n` }));
  return [join(dir, 'bin/gatehouse.js'), 'run', '-c', file];
}

async function launch(name: string, origin: string, tmp: string): Promise<Live> {
  const port = await freePort();
  const child = procs.start(0, process.execPath, command(name, port, origin, tmp));
  await waitPort(port, '/api/hello', 15_000);
  return { name, child, port };
}

/** wrk -c25 on `port` for `seconds` (core 1): the requests it completed (NaN when wrk says none), and the
 * non-2xx and socket errors. */
async function load(port: number, seconds: number): Promise<{ requests: number; errors: number }> {
  const [cmd, args] = pinned(1, 'wrk', ['-t1', '-c25', `-d${seconds}s`, `http://127.0.0.1:${port}/api/hello`]);
  const { stdout } = await run(cmd, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const r = parseWrk(stdout);
  return { requests: r.requests ?? NaN, errors: r.errors + (r.socketErrors ?? 0) };
}

/** One round: both loaded at once; each one's CPU µs per request. */
async function round(a: Live, b: Live): Promise<{ a: number; b: number; errors: number }> {
  const [ca, cb] = [cpuSeconds(a.child.pid!), cpuSeconds(b.child.pid!)];
  const [ra, rb] = await Promise.all([load(a.port, DURATION), load(b.port, DURATION)]);
  const [ca1, cb1] = [cpuSeconds(a.child.pid!), cpuSeconds(b.child.pid!)];
  return { a: ((ca1 - ca) * 1e6) / ra.requests, b: ((cb1 - cb) * 1e6) / rb.requests, errors: ra.errors + rb.errors };
}

async function pair(names: [string, string], origin: string, tmp: string): Promise<string> {
  const a = await launch(names[0], origin, tmp);
  let b: Live;
  try {
    b = await launch(names[1], origin, tmp);
  } catch (err) {
    await procs.stop(a.child);
    throw err;
  }
  try {
    await Promise.all([load(a.port, 2), load(b.port, 2)]);
    const rows: { a: number; b: number; errors: number }[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const r = await round(a, b);
      rows.push(r);
      process.stderr.write(`[${i}/${ROUNDS}] ${a.name} ${r.a.toFixed(1)} µs  ${b.name} ${r.b.toFixed(1)} µs  ${b.name} / ${a.name} ${(r.b / r.a).toFixed(3)}${r.errors ? `  ERRORS ${r.errors}` : ''}\n`);
    }
    // A round with errors (a proxy answering fast failures looks cheap) or no count from wrk is left out.
    const good = rows.filter((r) => r.errors === 0 && Number.isFinite(r.a) && Number.isFinite(r.b));
    const ratios = good.map((r) => r.b / r.a);
    const left = rows.length - good.length;
    return `| ${b.name} / ${a.name} | ${median(good.map((r) => r.a)).toFixed(1)} µs | ${median(good.map((r) => r.b)).toFixed(1)} µs | **${median(ratios).toFixed(3)}x** (${ratios.map((x) => x.toFixed(2)).join(', ')}) | ${rows.reduce((s, r) => s + r.errors, 0)}${left ? ` (${left} rounds left out)` : ''} |`;
  } finally {
    await procs.stop(a.child);
    await procs.stop(b.child);
  }
}

async function main(tmp: string): Promise<void> {
  if (!has('wrk') || !NGINX) throw new Error('bench:pair needs wrk and nginx (apt-get install wrk nginx)');
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  for (const d of ['conf', 'logs']) mkdirSync(join(tmp, d), { recursive: true });
  const origin = `http://127.0.0.1:${await helloOrigin(tmp, procs)}`;
  const lines = ['', `## CPU per request, two proxies at the same time (medians of ${ROUNDS} rounds of ${DURATION} s; both on core 0, wrk -c25 each and nginx on core 1)`, '',
    '| B / A | A | B | CPU per request, B / A (median; rounds) | errors |', '|---|---|---|---|---|'];
  for (const p of PAIRS) lines.push(await pair(p, origin, tmp));
  process.stdout.write(`${lines.join('\n')}\n`);
}

runBench('pair', procs, main);
