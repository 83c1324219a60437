import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Top-level area of a src file: `core`, `routing`, …, or `root` for src/*.ts. */
function area(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? 'root' : rel[0]!;
}

// STYLE.md 1: imports flow one way: cli → composition root → capability → core. `config` (schema loading,
// units) is shared infrastructure that any capability's schema may use.
const ALLOWED: Record<string, string[]> = {
  core: ['core'],
  config: ['config', 'core'],
  routing: ['routing', 'core', 'config'],
  upstream: ['upstream', 'core', 'config'],
  balance: ['balance', 'core', 'config'],
  health: ['health', 'core', 'config'],
  protect: ['protect', 'core', 'config'],
  tls: ['tls', 'core', 'config'],
  observe: ['observe', 'core', 'config'],
  server: ['server', 'core', 'config'],
  discovery: ['discovery', 'core', 'config'],
  admin: ['admin', 'core', 'config'],
  cache: ['cache', 'core', 'config'],
  cluster: ['cluster', 'core', 'config'],
  stream: ['stream', 'core', 'config'],
  cli: ['cli', 'root', 'config', 'server', 'protect', 'tls', 'core'],
  root: ['root', 'core', 'config', 'routing', 'upstream', 'balance', 'health', 'protect', 'tls', 'observe', 'server', 'discovery', 'admin', 'cache', 'stream', 'cluster'],
};

test('architecture: imports flow one way and no capability imports another (STYLE.md 1)', () => {
  const problems: string[] = [];
  for (const file of files(SRC)) {
    const from = area(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
      const target = join(file, '..', m[1]!.replace(/\.js$/, '.ts'));
      const to = area(target);
      if (!(ALLOWED[from] ?? []).includes(to)) problems.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (${from} → ${to})`);
    }
  }
  assert.deepEqual(problems, []);
});

test('architecture: no source file is over 400 lines (STYLE.md 7)', () => {
  const long = files(SRC).map((f) => [relative(SRC, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
  assert.deepEqual(long, []);
});
