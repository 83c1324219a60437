/**
 * `node --import tsx bench/h1-server.ts`: the native HTTP/1.1 engine's server side (src/server/h1, #16) against
 * node:http, bare: a hello world (12-byte body, the same head) on each, wrk -t1 -c50 on keep-alive connections.
 * The server runs in its own process on core 0 (`taskset -c 0`), wrk on core 1. BENCH_ROUNDS interleaved rounds
 * (default 5), BENCH_DURATION seconds each (default 5) after a BENCH_WARMUP-second warm-up (default 2).
 * BENCH_BROWSER=1 sends the request fields a browser sends (ten, some 1 KB of them) instead of wrk's two.
 * Prints requests/s and the server's CPU per request (user + system from /proc, µs) per run, their medians,
 * and the ratios native / node. Loopback only.
 */
import { execFileSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { createH1Server } from '../src/server/h1/server.js';
import { cpuSeconds, has, median, parseWrk, pinned, processes, waitPort } from './util.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const BODY = 'hello world\n';
const HEAD = ['content-type', 'text/plain', 'content-length', String(BODY.length)];
const LIMITS = { maxHeaderSize: 16384, maxHeadersCount: 2000, maxRequestsPerSocket: 0, headersTimeout: 10_000, keepAliveTimeout: 5000 };

type Engine = 'native' | 'node';

/** What a browser sends with a page request (wrk adds Host). */
const BROWSER = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Language: en-GB,en;q=0.9', 'Accept-Encoding: gzip, deflate, br', 'Referer: https://example.com/start',
  `Cookie: session=${'a'.repeat(64)}; theme=dark; consent=yes`, 'Sec-Fetch-Dest: document', 'Sec-Fetch-Mode: navigate',
  'Sec-Fetch-Site: same-origin', 'Upgrade-Insecure-Requests: 1',
];
const FIELDS = process.env.BENCH_BROWSER === '1' ? BROWSER.flatMap((h) => ['-H', h]) : [];

/** The server process: `h1-server.ts serve <engine> <port>`. */
function serve(engine: Engine, port: number): void {
  if (engine === 'node') {
    const server = createHttpServer({ keepAliveTimeout: LIMITS.keepAliveTimeout, headersTimeout: LIMITS.headersTimeout, requireHostHeader: true }, (_req, res) => {
      res.writeHead(200, HEAD);
      res.end(BODY);
    });
    server.listen(port, '127.0.0.1');
    return;
  }
  const h1 = createH1Server({
    request(_req, res) {
      res.writeHead(200, HEAD);
      res.end(BODY);
    },
  }, LIMITS);
  createNetServer({ allowHalfOpen: true, noDelay: true }, (s) => h1.serve(s)).listen(port, '127.0.0.1');
}

function wrk(port: number, seconds: number): { rps: number; requests: number; errors: string } {
  const [cmd, args] = pinned(1, 'wrk', ['-t1', '-c50', `-d${seconds}s`, '--timeout', '10s', '--latency', ...FIELDS, `http://127.0.0.1:${port}/`]);
  const out = execFileSync(cmd, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const sock = /Socket errors: (.*)/.exec(out)?.[1];
  const r = parseWrk(out);
  const errors = [r.errors > 0 ? `${r.errors} non-2xx` : '', sock ?? ''].filter(Boolean).join(', ');
  return { rps: r.rps, requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN), errors };
}

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('wrk is needed (apt-get install wrk)');
  const self = fileURLToPath(import.meta.url);
  const procs = processes(fileURLToPath(new URL('..', import.meta.url)));
  const runs: Record<Engine, { rps: number; cpuUs: number }[]> = { native: [], node: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Engine[] = round % 2 === 0 ? ['native', 'node'] : ['node', 'native'];
    for (const engine of order) {
      const port = await freePort();
      const child = procs.start(0, process.execPath, ['--import', 'tsx', self, 'serve', engine, String(port)]);
      try {
        await waitPort(port, '/', 15_000);
        wrk(port, WARMUP);
        const c0 = cpuSeconds(child.pid!);
        const r = wrk(port, DURATION);
        const cpuUs = ((cpuSeconds(child.pid!) - c0) * 1e6) / r.requests;
        runs[engine].push({ rps: r.rps, cpuUs });
        // Socket errors are shown, not hidden: wrk's timeouts mean a stall (on a shared machine, often another load).
        console.log(`round ${round + 1} ${engine.padEnd(6)} ${r.rps.toFixed(0).padStart(7)} req/s  ${cpuUs.toFixed(2)} µs CPU/request${r.errors ? `  errors: ${r.errors}` : ''}`);
      } finally {
        await procs.stop(child);
      }
    }
  }
  const rps = (e: Engine): number => median(runs[e].map((r) => r.rps));
  const cpu = (e: Engine): number => median(runs[e].map((r) => r.cpuUs));
  console.log(`\nmedian  native ${rps('native').toFixed(0)} req/s, ${cpu('native').toFixed(2)} µs/request`);
  console.log(`median  node   ${rps('node').toFixed(0)} req/s, ${cpu('node').toFixed(2)} µs/request`);
  const perRound = runs.native.map((n, i) => n.rps / runs.node[i]!.rps);
  console.log(`req/s native / node: ${(rps('native') / rps('node')).toFixed(2)}x (per round: ${perRound.map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`CPU per request native / node: ${(cpu('native') / cpu('node')).toFixed(2)}`);
}

if (process.argv[2] === 'serve') serve(process.argv[3] as Engine, Number(process.argv[4]));
else await main();
