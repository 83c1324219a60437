/** A real redis-server on a free loopback port, started by the test and killed by its `after`. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import { freePort } from './origin.js';

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

/** `opts.port`: a given port (to start Redis again where a killed one was), else a free one. */
export async function startRedis(t: TestContext, opts: { port?: number } = {}): Promise<RedisServer> {
  if (!hasRedis()) throw new Error('redis-server is not installed: apt-get install redis-server (or brew install redis); .ci/run installs it');
  const port = opts.port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
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
