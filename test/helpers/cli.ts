/** Spawns the `gatehouse` command as a user would run it: bin/gatehouse.js on the build (`pretest` builds it). */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { waitFor } from './origin.js';
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

export interface Running { child: ChildProcess; done: Promise<CliResult>; url: string }

/**
 * Spawns the command and waits for its process log's "listening on http://ADDR" line: with a listener on port 0,
 * the address the proxy got (a port picked beforehand may be taken by another test before the proxy binds it).
 */
export async function startCli(t: TestContext, args: string[]): Promise<Running> {
  const child = spawnCli(args);
  const done = collect(child);
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const LISTENING = /"msg":"listening on (http:\/\/[^"]+)"/;
  await waitFor(() => LISTENING.test(err) || child.exitCode !== null, 10_000, 'the proxy to start');
  const m = LISTENING.exec(err);
  assert.ok(m, `no listener line in: ${err}`);
  return { child, done, url: m[1]! };
}

