/** Spawns the `gatehouse` command as a user would run it: bin/gatehouse.js on the build (`pretest` builds it). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** `env`: variables set for the command, on top of this process's. */
export function spawnCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  const env = opts.env ? { ...process.env, ...opts.env } : process.env;
  return spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return collect(spawnCli(args, opts));
}

/** The messages of `run`'s process log (JSON lines on a pipe); fails on a line that is not JSON. */
export function logMessages(stderr: string): string[] {
  return stderr.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
}
