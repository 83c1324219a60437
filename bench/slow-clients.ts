/**
 * `npm run bench:slow`: slowhttptest attacks (slowloris, slow body, slow read; 500 connections, 20 s)
 * against Gatehouse, the bare node:http + undici reference and nginx, each in front of the same Node origin
 * (at most 100 connections, 32 KiB answers, as a small application server),
 * while a probe client sends one request every 200 ms (1 s timeout). Prints the share of probes served.
 * All traffic stays on 127.0.0.1; every attack is bounded by slowhttptest's -l.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/origin.js';
import { has } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(ROOT, '.bench');
const SECONDS = Number(process.env.SLOW_SECONDS ?? 20);
const CONNECTIONS = Number(process.env.SLOW_CONNECTIONS ?? 500);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));


function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function attack(mode: 'slowloris' | 'slow body' | 'slow read', port: number): Promise<number> {
  const flags = { slowloris: ['-H'], 'slow body': ['-B', '-s', '8192'], 'slow read': ['-X', '-k', '3', '-n', '5', '-w', '10', '-y', '20', '-z', '32'] }[mode];
  const child = spawn('slowhttptest', [...flags, '-c', String(CONNECTIONS), '-r', '200', '-i', '10', '-l', String(SECONDS), '-u', `http://127.0.0.1:${port}/`, '-t', mode === 'slow body' ? 'POST' : 'GET'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 3000)); // let the attack ramp up
  let ok = 0;
  let total = 0;
  const until = Date.now() + (SECONDS - 5) * 1000;
  while (Date.now() < until) {
    total++;
    if (await probe(port)) ok++;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGINT');
  await exited;
  return ok / total;
}

async function main(): Promise<void> {
  mkdirSync(TMP, { recursive: true });
  const originPort = await freePort();
  const procs: ChildProcess[] = [];
  const start = (cmd: string, args: string[]): ChildProcess => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    procs.push(c);
    return c;
  };
  process.on('exit', () => { for (const p of procs) p.kill('SIGKILL'); });
  // The origin stands for a real application server: at most 100 connections at once, 32 KiB pages.
  start(process.execPath, ['-e', `const s=require('http').createServer((q,r)=>{q.resume();q.on('end',()=>r.end('x'.repeat(32768)))});s.maxConnections=100;s.listen(${originPort},'127.0.0.1')`]);
  const targets: { name: string; run(port: number): ChildProcess }[] = [
    { name: 'gatehouse', run(port) {
      const file = join(TMP, 'slow-gatehouse.yaml');
      writeFileSync(file, `listeners: [{ name: p, address: "127.0.0.1:${port}" }]\nupstreams: { app: { servers: ["http://127.0.0.1:${originPort}"] } }\nroutes: [{ match: {}, proxy: { upstream: app } }]\naccess_log: { enabled: false }\nlog: { level: error }\n`);
      return start(process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'run', '-c', file]);
    } },
    { name: 'bare-node', run: (port) => start(process.execPath, [join(ROOT, 'bench/proxies/bare.mjs'), String(port), `http://127.0.0.1:${originPort}`]) },
  ];
  if (NGINX) {
    targets.push({ name: 'nginx', run(port) {
      const dir = join(TMP, `slow-nginx-${port}`);
      mkdirSync(join(dir, 'logs'), { recursive: true });
      writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log crit;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  upstream o { server 127.0.0.1:${originPort}; keepalive 32; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`);
      return start(NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir]);
    } });
  }
  const rows: string[] = [];
  for (const target of targets) {
    const cells: string[] = [];
    for (const mode of ['slowloris', 'slow body', 'slow read'] as const) {
      const port = await freePort();
      const p = target.run(port);
      await new Promise((r) => setTimeout(r, 1000));
      const share = await attack(mode, port);
      cells.push(`${(share * 100).toFixed(0)}%`);
      process.stderr.write(`${target.name} ${mode}: ${(share * 100).toFixed(0)}% of probes served\n`);
      p.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      p.kill('SIGKILL');
    }
    rows.push(`| ${target.name} | ${cells.join(' | ')} |`);
  }
  process.stdout.write(`\n## Slow clients (slowhttptest, ${CONNECTIONS} connections, ${SECONDS} s; share of probe requests served in under 1 s)\n\n| proxy | slowloris | slow body | slow read |\n|---|---|---|---|\n${rows.join('\n')}\n`);
  for (const p of procs) p.kill('SIGKILL');
}

if (!has('slowhttptest')) {
  process.stderr.write('slowhttptest is not installed (apt-get install slowhttptest)\n');
  process.exit(1);
}
void main();
