/**
 * `npm run bench`: first the proxies side by side (bench/side-by-side.ts, the proof of #16): Gatehouse with each
 * HTTP/1.1 engine (`gatehouse-node`: `engine: node`; `gatehouse-native`: `engine: native`), both with the contract
 * config of test/helpers/contracts.ts and the access log written to a file, beside the bare reference
 * (bench/proxies/bare.mjs: node:http + one undici Pool), http-proxy, @fastify/http-proxy and nginx (one worker),
 * and `direct` (straight to the origin), all in one run on loopback. The proxy under test is pinned to core 0
 * (`taskset -c 0`); the origin (nginx, or Node when nginx is absent) and the load generator (wrk, else
 * autocannon) share core 1. Per proxy: requests/s at 50 connections (12-byte body), the proxy's CPU per request
 * over that run (user + system from /proc; nginx: master + worker), the p50 and p99 it adds at 1 connection
 * (minus direct's in the same round), and MB/s of a 1 MiB body at 10 connections. Printed as medians with the
 * ratios to bare-node and to nginx, and the targets of #16 and #3; written as JSON to .bench/engine.json.
 *
 * This machine is a shared VM whose speed drifts from minute to minute, so every proxy is measured in
 * BENCH_ROUNDS interleaved rounds (the order rotates each round) and the median of each figure is reported;
 * ratios are taken within each round.
 *
 * Then a failover scenario (bench/failover.ts): errors and p99 while one of three origins is killed and restarted;
 * then HTTPS handshakes (new and resumed) and HTTP/2 requests beside nginx (bench/tls.ts); then cache hits
 * beside nginx proxy_cache (bench/cache.ts): a 1 KiB object from the memory tier and a 1 MiB object from the
 * disk tier, checked as HITs first, requests/s, p99, MB/s and CPU per request, in BENCH_ROUNDS rounds.
 *
 * Env: BENCH_DURATION (seconds per run, default 5), BENCH_WARMUP (seconds of the warm-up run before each proxy's
 * runs, default 2), BENCH_ROUNDS (default 3), BENCH_ONLY (comma list of proxy names; `gatehouse` matches both
 * engines), BENCH_ENGINE_ONLY=1 runs only #16's rows (gatehouse-node, gatehouse-native, native-min, bare-node, nginx, and
 * direct) and none of the scenarios below; BENCH_FAILOVER=0 skips the failover scenario, BENCH_TLS=0 the HTTPS /
 * HTTP/2 scenarios (bench/tls.ts, also `npm run bench:tls` on its own), BENCH_CACHE=0 the cache scenarios
 * (bench/cache.ts, also `npm run bench:cache`), BENCH_L4=0 the WebSocket and TCP scenarios (bench/l4.ts, also
 * `npm run bench:l4`), BENCH_WORKERS=0 the `workers:` scaling scenario (bench/workers.ts: 1 and N worker processes
 * beside nginx with 1 and N; also `npm run bench:workers`).
 * Not part of this run: `npm run bench:cache-memory` (bench/cache-memory.ts: the proxy's peak RSS while a 200 MiB
 * object goes from the disk tier to 20 clients at once) and `npm run bench:slow` (slow-client attacks).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { runFailover } from './failover.js';
import { ENGINE_ROWS, sideBySide } from './side-by-side.js';
import { has, nginxConf, pinned, processes, waitPort } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ENGINE_ONLY = process.env.BENCH_ENGINE_ONLY === '1';
const ONLY = process.env.BENCH_ONLY?.split(',') ?? (ENGINE_ONLY ? ENGINE_ROWS : undefined);

const HAS_WRK = has('wrk');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const procs = processes(ROOT);

/** The origin, on core 1 beside the load generator: a 12-byte and a 1 MiB file under / and /api/. */
async function startOrigin(): Promise<number> {
  mkdirSync(join(TMP, 'www/api'), { recursive: true });
  for (const dir of ['www', 'www/api']) {
    writeFileSync(join(TMP, dir, 'hello'), 'hello world\n');
    writeFileSync(join(TMP, dir, '1m'), Buffer.alloc(1024 * 1024, 'x'));
  }
  const originPort = await freePort();
  if (NGINX) {
    const dir = join(TMP, 'origin');
    const conf = nginxConf(dir, `access_log off; server { listen 127.0.0.1:${originPort}; keepalive_timeout 60s; root ${TMP}/www; }`);
    procs.start(1, NGINX, ['-c', conf, '-p', dir]);
  } else {
    procs.start(1, process.execPath, ['-e', `
      const fs=require('fs');const h=fs.readFileSync('${TMP}/www/hello');const m=fs.readFileSync('${TMP}/www/1m');
      require('http').createServer((q,s)=>s.end(q.url.endsWith('1m')?m:h)).listen(${originPort},'127.0.0.1')`]);
  }
  await waitPort(originPort);
  return originPort;
}

async function main(): Promise<void> {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(TMP, { recursive: true });
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const originPort = await startOrigin();
  await sideBySide({
    root: ROOT, tmp: TMP, originPort, duration: DURATION, warmup: WARMUP, rounds: ROUNDS, only: ONLY,
    nginx: NGINX, wrk: HAS_WRK, start: (core, cmd, args) => procs.start(core, cmd, args), stop: procs.stop,
  });
  await procs.stopAll();
  if (ENGINE_ONLY) return;
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

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
