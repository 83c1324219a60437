/**
 * Temporary directories for tests (some hold private keys), removed when the test process exits: after
 * every test of the file and its `after` hooks (proxies stopped, children killed), so that nothing still
 * writes into a directory already gone. Tests make them only through here (test/package.test.ts checks).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

process.once('exit', () => { for (const dir of made) rmSync(dir, { recursive: true, force: true }); });

/** A new directory under the system's temporary directory, `gh-<prefix>-XXXXXX`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `gh-${prefix}-`));
  made.push(dir);
  return dir;
}
