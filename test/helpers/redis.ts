/**
 * A real redis-server on a free loopback port, started by the test and killed by its `after`; optionally a
 * replica of another, or a Redis Sentinel monitoring one (`startSentinel`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './origin.js';
import { tempDir } from './tmp.js';

export interface RedisServer { port: number; url: string; process: ChildProcess; kill(): Promise<void> }

function hasRedis(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Spawns redis-server with `args` in a temporary directory of its own (a replica writes the RDB file it syncs
 * there, never into the working tree) and waits (5 s at most) until it accepts on `port`.
 */
async function spawnRedis(t: TestContext, port: number, args: string[]): Promise<RedisServer> {
  if (!hasRedis()) throw new Error('redis-server is not installed: apt-get install redis-server (or brew install redis); .ci/run installs it');
  const child = spawn('redis-server', args, { stdio: 'ignore', cwd: tempDir('redis') });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  t.after(kill);
  const deadline = Date.now() + 5000;
  while (!(await accepts(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, url: `tcp://127.0.0.1:${port}`, process: child, kill };
}

/**
 * `opts.port`: a given port (to start Redis again where a killed one was), else a free one.
 * `opts.replicaOf`: the port of a Redis on 127.0.0.1 to replicate. `opts.password`: its requirepass, and
 * the password it gives its master as a replica (masterauth).
 */
export async function startRedis(t: TestContext, opts: { port?: number; replicaOf?: number; password?: string } = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  // A replica's first sync starts at once (Redis 7 waits 5 s by default for more replicas to join it).
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--repl-diskless-sync-delay', '0'];
  if (opts.replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(opts.replicaOf));
  if (opts.password !== undefined) args.push('--requirepass', opts.password, '--masterauth', opts.password);
  return spawnRedis(t, port, args);
}

/**
 * A Redis Sentinel (redis-server --sentinel, with its own config file in a temporary directory: sentinel
 * rewrites it) monitoring the master on 127.0.0.1:`opts.masterPort` as `opts.name` (quorum 1), which it
 * holds down after `opts.downAfterMs` (1 s by default) without an answer. `opts.password`: the sentinel's
 * own requirepass; `opts.masterPassword`: the password of the master and its replicas (auth-pass).
 */
export async function startSentinel(t: TestContext, opts: { masterPort: number; name?: string; downAfterMs?: number; password?: string; masterPassword?: string }): Promise<RedisServer> {
  const port = await freePort();
  const name = opts.name ?? 'mymaster';
  const file = join(tempDir('sentinel'), 'sentinel.conf');
  writeFileSync(file, [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode no',
    `sentinel monitor ${name} 127.0.0.1 ${opts.masterPort} 1`,
    `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${name} 10000`,
    ...(opts.password === undefined ? [] : [`requirepass ${opts.password}`]),
    ...(opts.masterPassword === undefined ? [] : [`sentinel auth-pass ${name} ${opts.masterPassword}`]),
    '',
  ].join('\n'));
  return spawnRedis(t, port, [file, '--sentinel']);
}
