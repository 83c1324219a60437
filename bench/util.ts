/** Helpers shared by the bench scripts. */
import { execFileSync } from 'node:child_process';

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
