/** `gatehouse init`: a starter config for each shape, valid as written; an existing file is kept. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

for (const shape of ['single-app', 'api-and-static', 'microservices']) {
  test(`cli init --shape ${shape}: writes a commented config that validates, with the installed schema for editors`, async () => {
    const file = join(tempDir('init'), 'gatehouse.yaml');
    const r = await runCli(['init', '--shape', shape, '-o', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^wrote ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    const text = readFileSync(file, 'utf8');
    const schema = /\$schema=(\S+)/.exec(text)?.[1];
    assert.ok(schema && existsSync(schema), `the $schema comment names an existing file: ${schema}`);
    assert.match(text, /^# /m);
    assert.doesNotMatch(text, /examples\//, 'the "how to run" comment names the written file, not the example');
    const v = await runCli(['validate', '-c', file], { env: { GATEHOUSE_ADMIN_TOKEN: 'x' } });
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), `${file}: valid`);
  });
}

test('cli init: keeps an existing file unless --force (exit 1); an unknown shape is a usage error (exit 2)', async () => {
  const file = join(tempDir('init'), 'gatehouse.yaml');
  assert.equal((await runCli(['init', '-o', file])).code, 0);
  const again = await runCli(['init', '-o', file, '--shape', 'microservices']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists: choose another name with -o, or --force/);
  assert.match(readFileSync(file, 'utf8'), /One application/);
  assert.equal((await runCli(['init', '-o', file, '--shape', 'microservices', '--force'])).code, 0);
  assert.match(readFileSync(file, 'utf8'), /Microservices by path/);
  const bad = await runCli(['init', '--shape', 'monolith', '-o', join(tempDir('init'), 'x.yaml')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown shape "monolith" \(choose one of: single-app, api-and-static, microservices\)/);
});
