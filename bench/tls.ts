/**
 * `npm run bench:tls`: TLS and HTTP/2 beside nginx, same certificate (ECDSA P-256), same machine, one run.
 * New and resumed handshakes per second with `openssl s_time`, HTTP/2 requests per second with h2load (where
 * installed). The server is pinned to core 0, the client to core 1; both answer a fixed body themselves
 * (`respond` / `return 200`) so the figures are the TLS and h2 layers, not an upstream.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCa, makeLeaf } from '../test/helpers/certs.js';
import { freePort } from '../test/helpers/origin.js';
import { has, pinned } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench');
const SECONDS = Number(process.env.BENCH_DURATION ?? 5);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

function sTime(port: number, reuse: boolean): number {
  const [c, a] = pinned(1, 'openssl', ['s_time', '-connect', `127.0.0.1:${port}`, reuse ? '-reuse' : '-new', '-time', String(SECONDS)]);
  // s_time exits non-zero after a run that fetched no page; its counts are on stdout all the same.
  const out = spawnSync(c, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).stdout;
  const m = /(\d+) connections in (\d+) real seconds/.exec(out);
  if (!m) return NaN;
  return Number(m[1]) / Number(m[2]);
}

function h2load(port: number): number {
  if (!has('h2load')) return NaN;
  const [c, a] = pinned(1, 'h2load', ['-D', String(SECONDS), '-c', '10', '-m', '10', `https://127.0.0.1:${port}/`]);
  const out = execFileSync(c, a, { encoding: 'utf8' });
  return Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  mkdirSync(TMP, { recursive: true });
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'localhost', ['localhost']);
  const procs: ChildProcess[] = [];
  process.on('exit', () => { for (const p of procs) p.kill('SIGKILL'); });
  const targets: { name: string; start(port: number): ChildProcess }[] = [
    { name: 'gatehouse', start(port) {
      const file = join(TMP, 'tls-gatehouse.yaml');
      writeFileSync(file, `listeners: [{ name: s, address: "127.0.0.1:${port}", tls: { certificates: [{ cert: ${leaf.cert}, key: ${leaf.key} }] } }]\nroutes: [{ match: {}, respond: { body: "hello world\\n" } }]\naccess_log: { enabled: false }\nlog: { level: error }\n`);
      const [c, a] = pinned(0, process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', file]);
      return spawn(c, a, { stdio: 'ignore' });
    } },
  ];
  if (NGINX) {
    targets.push({ name: 'nginx', start(port) {
      const dir = join(TMP, `tls-nginx-${port}`);
      mkdirSync(join(dir, 'logs'), { recursive: true });
      writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000000; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${port} ssl http2; ssl_certificate ${leaf.cert}; ssl_certificate_key ${leaf.key};
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets on; location / { return 200 "hello world\\n"; } } }`);
      const [c, a] = pinned(0, NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir]);
      return spawn(c, a, { stdio: 'ignore' });
    } });
  }
  const rows: Record<string, number[]> = {};
  for (const t of targets) {
    const port = await freePort();
    const p = t.start(port);
    procs.push(p);
    await new Promise((r) => setTimeout(r, 1500));
    rows[t.name] = [sTime(port, false), sTime(port, true), h2load(port)];
    process.stderr.write(`${t.name}: ${rows[t.name]!.map((x) => x.toFixed(0)).join(' / ')}\n`);
    p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
  }
  const lines = [`\n## TLS and HTTP/2 (${SECONDS} s per figure; server on core 0, client on core 1)\n`, '| server | new handshakes/s | resumed handshakes/s | h2 req/s (h2load -c10 -m10) |', '|---|---|---|---|'];
  for (const [name, [n, r, h]] of Object.entries(rows)) lines.push(`| ${name} | ${n!.toFixed(0)} | ${r!.toFixed(0)} | ${Number.isNaN(h) ? 'n/a' : h!.toFixed(0)} |`);
  if (rows.gatehouse && rows.nginx) {
    const ratio = (i: number): string => (rows.gatehouse![i]! / rows.nginx![i]!).toFixed(2);
    lines.push('', `Gatehouse / nginx: new ${ratio(0)}x, resumed ${ratio(1)}x, h2 ${ratio(2)}x`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const p of procs) p.kill('SIGKILL');
}

void main();
