/**
 * `npm run bench:l4` (also a scenario of `npm run bench`; BENCH_L4=0 skips it there): WebSocket message
 * throughput and TCP throughput through Gatehouse beside nginx (one worker; the stream module for TCP), and
 * direct, in one run:
 *  - WebSocket: 50 sockets, each sending a 64-byte message and waiting for its echo before the next
 *    (bench/ws-client.mjs against a `ws` echo origin, bench/ws-origin.mjs): messages per second;
 *  - TCP, request/response: redis-benchmark SET and GET (50 connections) against redis-server: requests/s;
 *  - TCP, bulk: 1 GiB sent through one connection to a discarding server (bench/tcp-bulk.mjs): MB/s.
 * Proxy on core 0; origins and load generators on core 1; BENCH_ROUNDS interleaved rounds (default 3) of
 * BENCH_DURATION seconds for the WebSocket load (default 5); medians and Gatehouse / nginx ratios per round.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { has, median, nginxConf, pinned, processes } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench', 'l4');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const STREAM_MODULE = ['/usr/lib/nginx/modules/ngx_stream_module.so'].find((p) => existsSync(p));
const procs = processes(ROOT);

interface Ports { ws: number; redis: number; bulk: number }
interface Figures { wsRate: number; set: number; get: number; bulkMBps: number }

async function waitTcp(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function run(cmd: string, args: string[], timeoutMs: number): string {
  const [c, a] = pinned(1, cmd, args);
  return execFileSync(c, a, { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'ignore'] });
}

function measure(p: Ports): Figures {
  const ws = JSON.parse(run(process.execPath, [join(ROOT, 'bench/ws-client.mjs'), `ws://127.0.0.1:${p.ws}/`, '50', '64', String(DURATION)], (DURATION + 30) * 1000)) as { messages: number; seconds: number };
  let set = NaN, get = NaN;
  if (has('redis-benchmark')) {
    const out = run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(p.redis), '-t', 'set,get', '-n', '100000', '-c', '50', '-q'], 120_000);
    set = Number(/SET: ([\d.]+)/.exec(out)?.[1] ?? NaN);
    get = Number(/GET: ([\d.]+)/.exec(out)?.[1] ?? NaN);
  }
  const bulk = JSON.parse(run(process.execPath, [join(ROOT, 'bench/tcp-bulk.mjs'), 'send', `127.0.0.1:${p.bulk}`, '1024'], 120_000)) as { mib: number; seconds: number };
  return { wsRate: ws.messages / ws.seconds, set, get, bulkMBps: (bulk.mib * 1.048576) / bulk.seconds };
}

function gatehouse(origin: Ports, dir: string, p: Ports): ChildProcess {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `listeners:
  - { name: public, address: "127.0.0.1:${p.ws}" }
  - { name: redis, address: "127.0.0.1:${p.redis}", protocol: tcp, upstream: redis }
  - { name: bulk, address: "127.0.0.1:${p.bulk}", protocol: tcp, upstream: sink }
upstreams:
  ws: { servers: ["http://127.0.0.1:${origin.ws}"] }
  redis: { servers: ["tcp://127.0.0.1:${origin.redis}"] }
  sink: { servers: ["tcp://127.0.0.1:${origin.bulk}"] }
routes:
  - match: { path: / }
    proxy: { upstream: ws }
access_log: { path: ${join(dir, 'access.log')} }
log: { level: warn }
`);
  return procs.start(0, process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', file]);
}

function nginx(origin: Ports, dir: string, p: Ports): ChildProcess {
  const file = nginxConf(dir, `access_log ${dir}/logs/access.log;
  server {
    listen 127.0.0.1:${p.ws};
    location / {
      proxy_pass http://127.0.0.1:${origin.ws};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
    }
  }`, {
    before: `load_module ${STREAM_MODULE};`,
    after: `stream {
  server { listen 127.0.0.1:${p.redis}; proxy_pass 127.0.0.1:${origin.redis}; }
  server { listen 127.0.0.1:${p.bulk}; proxy_pass 127.0.0.1:${origin.bulk}; }
}`,
  });
  return procs.start(0, NGINX!, ['-c', file, '-p', dir]);
}

async function ports(): Promise<Ports> {
  return { ws: await freePort(), redis: await freePort(), bulk: await freePort() };
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toString() : 'n/a');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

export async function runL4(): Promise<void> {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(TMP, { recursive: true });
  const origin = await ports();
  procs.start(1, process.execPath, [join(ROOT, 'bench/ws-origin.mjs'), String(origin.ws)]);
  procs.start(1, process.execPath, [join(ROOT, 'bench/tcp-bulk.mjs'), 'sink', String(origin.bulk)]);
  if (has('redis-server')) procs.start(1, 'redis-server', ['--port', String(origin.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await Promise.all([waitTcp(origin.ws), waitTcp(origin.bulk), ...(has('redis-server') ? [waitTcp(origin.redis)] : [])]);
  const names = ['direct', 'gatehouse', ...(NGINX && STREAM_MODULE ? ['nginx'] : [])];
  const results = new Map<string, Figures[]>(names.map((n) => [n, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of names) {
      let child: ChildProcess | undefined;
      let p = origin;
      if (name !== 'direct') {
        p = await ports();
        const dir = join(TMP, `${name}-${round}`);
        mkdirSync(dir, { recursive: true });
        child = name === 'gatehouse' ? gatehouse(origin, dir, p) : nginx(origin, dir, p);
        await Promise.all([waitTcp(p.ws), waitTcp(p.redis), waitTcp(p.bulk)]);
      }
      const f = measure(p);
      results.get(name)!.push(f);
      console.log(`[${round}/${ROUNDS}] ${name.padEnd(9)} ws ${fmt(f.wsRate)} msg/s  redis SET ${fmt(f.set)} GET ${fmt(f.get)} req/s  bulk ${fmt(f.bulkMBps)} MB/s`);
      if (child) await procs.stop(child);
    }
  }
  await procs.stopAll();
  console.log(`\n## WebSocket and TCP (medians of ${ROUNDS} interleaved rounds; proxy on core 0, origins and clients on core 1)\n`);
  console.log('| proxy | WebSocket msg/s (50 sockets, 64 B echo) | redis SET req/s | redis GET req/s | bulk TCP MB/s |');
  console.log('|---|---|---|---|---|');
  const med = (name: string, k: keyof Figures): number => median(results.get(name)!.map((f) => f[k]));
  for (const n of names) console.log(`| ${n} | ${fmt(med(n, 'wsRate'))} | ${fmt(med(n, 'set'))} | ${fmt(med(n, 'get'))} | ${fmt(med(n, 'bulkMBps'))} |`);
  if (names.includes('nginx')) {
    const per = (k: keyof Figures): string => {
      const rs = results.get('gatehouse')!.map((g, i) => g[k] / results.get('nginx')![i]![k]);
      return `${ratio(median(rs), 1)} (per round ${rs.map((r) => r.toFixed(2)).join(', ')})`;
    };
    console.log(`\nGatehouse / nginx: WebSocket messages/s ${per('wsRate')}; redis SET ${per('set')}; GET ${per('get')}; bulk MB/s ${per('bulkMBps')}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runL4().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  }).finally(() => void procs.stopAll());
}
