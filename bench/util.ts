/** Helpers shared by the bench scripts. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/origin.js';

/** nginx where Debian installs it (undefined: not installed). */
export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `cmd args` pinned to one core with taskset, where it is installed. */
export function pinned(core: number, cmd: string, args: string[]): [string, string[]] {
  return has('taskset') ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
}

/** One load run: requests/s, latency percentiles (ms), MB/s, non-2xx/3xx responses; from wrk also the
 * requests completed and the socket errors (connect, read, write, timeout). */
export interface Result { rps: number; p50: number; p99: number; mbps: number; errors: number; requests?: number; socketErrors?: number }

/** Reads `wrk --latency` output. */
export function parseWrk(out: string): Result {
  const unit = (v: string, u: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? 1);
  const lat = (p: string): number => {
    const m = new RegExp(`${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? unit(m[1]!, m[2]!) : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const t = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(out);
  const mbps = t ? Number(t[1]) * ({ B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[t[2]!] ?? 1) : NaN;
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  return { rps, p50: lat('50'), p99: lat('99'), mbps, errors, requests, socketErrors };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Polls `path` on a loopback port until something answers, or throws after `ms`. */
export async function waitPort(port: number, path = '/api/hello', ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      await r.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answered on port ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Writes an nginx.conf with one worker (`extra.workers` to change it), all temp paths under `dir`, and `body`
 * inside `http {}`; `extra.before` goes first (load_module), `extra.after` after `http {}` (a `stream {}` block). */
export function nginxConf(dir: string, body: string, extra: { before?: string; after?: string; workers?: number } = {}): string {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, `${extra.before ?? ''}
worker_processes ${extra.workers ?? 1};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  ${body}
}
${extra.after ?? ''}
`);
  return file;
}

/**
 * The origin of the per-request benches: nginx (one worker, core 1) serving `hello world\n` at /hello and
 * /api/hello from `tmp/www` (`tmp` made readable to nginx's worker, which runs as nobody when started as root).
 * Its port, once it answers.
 */
export async function helloOrigin(tmp: string, procs: { start(core: number, cmd: string, args: string[]): ChildProcess }): Promise<number> {
  if (NGINX === undefined) throw new Error('nginx is not installed (apt-get install nginx)');
  chmodSync(tmp, 0o755);
  mkdirSync(join(tmp, 'www', 'api'), { recursive: true });
  for (const f of ['hello', 'api/hello']) writeFileSync(join(tmp, 'www', f), 'hello world\n');
  const port = await freePort();
  const dir = join(tmp, 'origin');
  const conf = nginxConf(dir, `access_log off;\n  server { listen 127.0.0.1:${port}; keepalive_timeout 60s; root ${tmp}/www; }`);
  procs.start(1, NGINX, ['-c', conf, '-p', dir]);
  await waitPort(port, '/hello');
  return port;
}

/** CPU seconds (user + system) of a process and of each of its direct children (nginx's workers, Gatehouse's
 * cluster workers), from /proc: the process first, then its children in pid order. */
export function cpuByProcess(pid: number): { pid: number; seconds: number }[] {
  const seconds = (p: number): number => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14 and 15), USER_HZ = 100 on Linux
    } catch {
      return 0;
    }
  };
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { /* no children, or no /proc */ }
  return [pid, ...kids.sort((a, b) => a - b)].map((p) => ({ pid: p, seconds: seconds(p) }));
}

/** CPU seconds of the whole machine from /proc/stat, summed over the cores: busy in processes (user, nice,
 * system; not interrupts, whose softirq share is the loopback traffic itself), idle (with iowait) and all; and
 * the CPU seconds of this process's children that have exited and been waited for (wrk runs). */
export function machineCpu(): { busy: number; idle: number; all: number; reaped: number } {
  try {
    const t = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const all = t.reduce((a, x) => a + x, 0);
    const self = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return { busy: (t[0]! + t[1]! + t[2]!) / 100, idle: (t[3]! + t[4]!) / 100, all: all / 100, reaped: (Number(self[13]) + Number(self[14])) / 100 };
  } catch {
    return { busy: NaN, idle: NaN, all: NaN, reaped: NaN };
  }
}

/** CPU seconds of one core from /proc/stat: busy in processes (user, nice, system; interrupts left out, as in
 * machineCpu), stolen by the hypervisor, and all. */
export function coreCpu(core: number): { busy: number; steal: number; all: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
    const t = line!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { busy: (t[0]! + t[1]! + t[2]!) / 100, steal: t[7]! / 100, all: t.reduce((a, x) => a + x, 0) / 100 };
  } catch {
    return { busy: NaN, steal: NaN, all: NaN };
  }
}

/** CPU seconds (user + system) of a process and its direct children, from /proc. */
export function cpuSeconds(pid: number): number {
  return cpuByProcess(pid).reduce((a, p) => a + p.seconds, 0);
}

/** Child processes a bench starts: pinned to `core` (not pinned when it is undefined), `env` added to the
 * bench's environment, stopped with SIGTERM (SIGKILL after 3 s), all killed at exit. */
export function processes(cwd: string): {
  start(core: number | undefined, cmd: string, args: string[], env?: Record<string, string>): ChildProcess;
  stop(child: ChildProcess): Promise<void>;
  stopAll(): Promise<void>;
} {
  const list: ChildProcess[] = [];
  process.on('exit', () => { for (const c of list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
  return {
    start(core, cmd, args, env) {
      const [c, a] = core === undefined ? [cmd, args] : pinned(core, cmd, args);
      const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], cwd, env: env ? { ...process.env, ...env } : process.env });
      list.push(child);
      return child;
    },
    stop,
    async stopAll() { for (const c of list) await stop(c); },
  };
}

/**
 * Runs a bench's `main` in a temporary directory of its own, then stops its processes and removes the directory,
 * on success, failure or Ctrl-C alike.
 */
export function runBench(name: string, procs: { stopAll(): Promise<void> }, main: (tmp: string) => Promise<void>): void {
  const tmp = mkdtempSync(join(tmpdir(), `gatehouse-bench-${name}-`));
  const cleanup = async (): Promise<void> => {
    await procs.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)); });
  main(tmp).then(cleanup, async (err: unknown) => {
    process.stderr.write(`bench:${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    await cleanup();
    process.exit(1);
  });
}
