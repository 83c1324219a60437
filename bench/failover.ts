/**
 * Bench scenario: p99 latency and errors while one of three origins is SIGKILLed and restarted during the
 * run. Three Node origins (test/helpers/origin-process.mjs) on core 1, Gatehouse on core 0 with active and
 * passive health checks and 2 retries, wrk with 50 connections on core 1. The same run without the kill gives
 * the baseline, so the figures are a ratio from one run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FailoverResult { label: string; requests: number; errors: number; non2xx: number; p50: number; p99: number }

interface Env {
  root: string;
  tmp: string;
  duration: number;
  pinned(core: number, cmd: string, args: string[]): [string, string[]];
  freePort(): Promise<number>;
  waitPort(port: number, path?: string): Promise<void>;
}

function parse(label: string, out: string): FailoverResult {
  const unit = (v: string, u: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? 1);
  const lat = (p: string): number => {
    const m = new RegExp(`${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? unit(m[1]!, m[2]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    label,
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    errors: sock ? sock.slice(1).reduce((a, n) => a + Number(n), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    p50: lat('50'), p99: lat('99'),
  };
}

export async function runFailover(env: Env): Promise<FailoverResult[]> {
  const script = join(env.root, 'test/helpers/origin-process.mjs');
  const ports = [await env.freePort(), await env.freePort(), await env.freePort()];
  const origins: ChildProcess[] = [];
  const startOrigin = (i: number): Promise<void> => new Promise((resolve) => {
    const [c, a] = env.pinned(1, process.execPath, [script, String(ports[i]), `o${i + 1}`]);
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    origins[i] = child;
    child.stdout!.once('data', () => resolve());
  });
  for (let i = 0; i < 3; i++) await startOrigin(i);
  const port = await env.freePort();
  const file = join(env.tmp, 'gatehouse-failover.yaml');
  writeFileSync(file, `listeners: [{ name: public, address: "127.0.0.1:${port}" }]
upstreams:
  app:
    retries: 2
    health:
      active: { path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
      passive: { failures: 3, ejection: 10s }
    servers: [${ports.map((p) => `"http://127.0.0.1:${p}"`).join(', ')}]
routes: [{ match: { path: / }, proxy: { upstream: app } }]
access_log: { path: ${join(env.tmp, 'failover-access.log')} }
log: { level: warn }
`);
  const [c, a] = env.pinned(0, process.execPath, [join(env.root, 'bin/gatehouse.js'), 'run', '-c', file]);
  const gh = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'] });
  await env.waitPort(port, '/');
  const wrk = (): Promise<string> => new Promise((resolve, reject) => {
    const [wc, wa] = env.pinned(1, 'wrk', ['-t1', '-c50', `-d${env.duration}s`, '--latency', `http://127.0.0.1:${port}/`]);
    execFile(wc, wa, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  const results: FailoverResult[] = [];
  try {
    await wrk(); // warm-up
    results.push(parse('steady', await wrk()));
    const run = wrk();
    const third = (env.duration * 1000) / 3;
    setTimeout(() => origins[1]!.kill('SIGKILL'), third);
    setTimeout(() => void startOrigin(1), 2 * third);
    results.push(parse('kill + restart one of 3', await run));
  } finally {
    gh.kill('SIGTERM');
    for (const o of origins) o.kill('SIGKILL');
  }
  return results;
}
