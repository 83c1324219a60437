/**
 * A group of workers as a user runs it: `gatehouse run -c FILE` on a config with `workers:` and an admin API,
 * written by `text(port, adminPort)` on free ports; started when its admin API is up, stopped by the test's
 * `after` (SIGTERM, then SIGKILL past 8 s).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { collect, spawnCli, type CliResult } from './cli.js';
import { freePort, waitFor } from './origin.js';
import { tempDir } from './tmp.js';

export interface Group {
  child: ChildProcess;
  done: Promise<CliResult>;
  url: string;
  admin: string;
  file: string;
  /** The process log so far, one parsed line each. */
  lines(): { msg: string; worker?: number; pid?: number }[];
  /** Worker pids by slot, from their "is listening" lines (the latest per slot). */
  pids(): Map<number, number>;
}

/** `env`: variables for the command (the admin token the config's `token_env` names). */
export async function startGroup(t: TestContext, text: (port: number, adminPort: number) => string, env: Record<string, string>): Promise<Group> {
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(tempDir('workers'), 'gatehouse.yaml');
  writeFileSync(file, text(port, adminPort));
  const child = spawnCli(['run', '-c', file], { env });
  const done = collect(child);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 8000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const lines = (): { msg: string; worker?: number; pid?: number }[] =>
    err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
  await waitFor(() => /admin API on/.test(err) || child.exitCode !== null, 20_000, 'the workers and the admin API to start');
  assert.equal(child.exitCode, null, err);
  const pids = (): Map<number, number> => {
    const out = new Map<number, number>();
    for (const l of lines()) {
      const m = /^worker (\d+) \(pid (\d+)\) is listening$/.exec(l.msg);
      if (m) out.set(Number(m[1]), Number(m[2]));
    }
    return out;
  };
  return { child, done, url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${adminPort}`, file, lines, pids };
}

/**
 * The config of a simple group: `workers: 2`, an admin API with the token in `tokenEnv`, one upstream `app` of
 * `origin`, one route `api` to it; `shutdown` how long a stop may take.
 */
export function groupConfig(port: number, adminPort: number, origin: string, tokenEnv: string, shutdown = '2s'): string {
  return `listeners:
  - name: public
    address: 127.0.0.1:${port}
admin:
  address: 127.0.0.1:${adminPort}
  token_env: ${tokenEnv}
workers: 2
reload: { watch: false }
shutdown: { timeout: ${shutdown} }
upstreams:
  app:
    servers: [${origin}]
routes:
  - name: api
    match: { path: / }
    proxy: { upstream: app }
`;
}
