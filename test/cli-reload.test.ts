/** Reloading a running `gatehouse run`: the watched config file, and `gatehouse reload` through the admin API. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { send } from './helpers/client.js';
import { collect, runCli, spawnCli, type CliResult } from './helpers/cli.js';
import { freePort, waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

interface Running { child: ChildProcess; done: Promise<CliResult>; url: string; log: () => string }

async function start(t: TestContext, args: string[], env?: Record<string, string>): Promise<Running> {
  const child = spawnCli(args, env ? { env } : {});
  const done = collect(child);
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const STARTED = /"msg":"gatehouse started"/;
  await waitFor(() => STARTED.test(err) || child.exitCode !== null, 10_000, 'the proxy to start');
  const m = /"msg":"listening on (http:\/\/[^"]+)"/.exec(err);
  assert.ok(m, `no listener line in: ${err}`);
  return { child, done, url: m[1]!, log: () => err };
}

const config = (routes: string, extra = ''): string => `listeners: [{ name: public, address: "127.0.0.1:0" }]
${extra}routes:
${routes}`;
const route = (path: string, body: string): string => `  - { match: { path: ${path} }, respond: { status: 200, body: ${body} } }\n`;

async function answers(url: string, body: string): Promise<void> {
  await waitFor(async () => (await send(url)).text === body, 10_000, `${url} to answer ${body}`);
}

test('cli run: a change to the config file reloads it; a broken one keeps the old config and logs what validate says; a rename over it is seen too', async (t) => {
  const dir = tempDir('watch');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(route('/a', 'one')));
  const r = await start(t, ['run', '-c', file]);
  assert.equal((await send(`${r.url}/a`)).text, 'one');

  writeFileSync(file, config(route('/a', 'one') + route('/b', 'two')));
  await answers(`${r.url}/b`, 'two');

  const broken = config(route('/a', 'one') + '  - { match: { path: /c }, respnd: {} }\n');
  const before = r.log().length;
  writeFileSync(file, broken);
  const expected = await runCli(['validate', file]);
  assert.equal(expected.code, 1);
  await waitFor(() => r.log().slice(before).includes('reload failed'), 10_000, 'the reload to fail');
  const line = r.log().slice(before).split('\n').map((l) => l && JSON.parse(l) as { msg: string; level: number }).find((l) => l && l.msg.includes('reload failed'));
  assert.ok(line);
  assert.equal(line.level, 50);
  assert.ok(line.msg.includes(expected.stderr.trim()), `reload line:\n${line.msg}\nvalidate:\n${expected.stderr}`);
  assert.equal((await send(`${r.url}/b`)).text, 'two', 'the running config keeps serving');

  // Saved as editors do: a new file renamed over the old one.
  writeFileSync(join(dir, 'next.yaml'), config(route('/a', 'one') + route('/c', 'three')));
  renameSync(join(dir, 'next.yaml'), file);
  await answers(`${r.url}/c`, 'three');
  assert.equal((await send(`${r.url}/b`)).status, 404);

  // And again, after the rename: the watch was not left on the replaced file.
  writeFileSync(file, config(route('/a', 'four')));
  await answers(`${r.url}/a`, 'four');
  r.child.kill('SIGTERM');
  assert.equal((await r.done).code, 0);
});

test('cli run: a ConfigMap-style symlink swap reloads; files written beside the config do not wake the watch (an access log there)', async (t) => {
  const dir = tempDir('watch');
  // As kubectl mounts a ConfigMap: gatehouse.yaml -> ..data/gatehouse.yaml, ..data -> a versioned directory.
  mkdirSync(join(dir, 'v1'));
  writeFileSync(join(dir, 'v1', 'gatehouse.yaml'), config(route('/a', 'one')));
  symlinkSync('v1', join(dir, '..data'));
  symlinkSync(join('..data', 'gatehouse.yaml'), join(dir, 'gatehouse.yaml'));
  const file = join(dir, 'gatehouse.yaml');
  const r = await start(t, ['run', '-c', file]);
  assert.equal((await send(`${r.url}/a`)).text, 'one');

  // Another file in the config's directory, written again and again: no reload.
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(dir, 'access.log'), `line ${i}\n`, { flag: 'a' });
    await new Promise((res) => setTimeout(res, 50));
  }
  await new Promise((res) => setTimeout(res, 600));
  assert.ok(!r.log().includes('reloading the config file'), 'a sibling file reloaded the config');

  // The swap: a new versioned directory, ..data pointed at it by a rename, the old one removed.
  mkdirSync(join(dir, 'v2'));
  writeFileSync(join(dir, 'v2', 'gatehouse.yaml'), config(route('/a', 'two')));
  symlinkSync('v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, 'v1'), { recursive: true });
  await answers(`${r.url}/a`, 'two').catch((e: unknown) => { throw new Error(`${String(e)}\n${r.log()}`); });

  // And again: the watch follows the path, not the first file.
  mkdirSync(join(dir, 'v3'));
  writeFileSync(join(dir, 'v3', 'gatehouse.yaml'), config(route('/a', 'three')));
  symlinkSync('v3', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, 'v2'), { recursive: true });
  await answers(`${r.url}/a`, 'three');
  r.child.kill('SIGTERM');
  assert.equal((await r.done).code, 0);
});

test('cli run: the config symlink pointed at another file (ln -sfn, the old one kept) reloads; so does a config deleted and made again a second later', async (t) => {
  const dir = tempDir('watch');
  writeFileSync(join(dir, 'v1.yaml'), config(route('/a', 'one')));
  writeFileSync(join(dir, 'v2.yaml'), config(route('/a', 'two')));
  symlinkSync('v1.yaml', join(dir, 'gatehouse.yaml'));
  const file = join(dir, 'gatehouse.yaml');
  const r = await start(t, ['run', '-c', file]);
  assert.equal((await send(`${r.url}/a`)).text, 'one');
  // A new symlink renamed over the old one: the file watched (v1.yaml) never changes.
  symlinkSync('v2.yaml', join(dir, 'next.yaml'));
  renameSync(join(dir, 'next.yaml'), file);
  await answers(`${r.url}/a`, 'two');
  // Gone for a second (the reload in between fails and keeps the config), then back with new content.
  rmSync(file);
  await new Promise((res) => setTimeout(res, 1000));
  writeFileSync(file, config(route('/a', 'three')));
  await answers(`${r.url}/a`, 'three');
  // And watched again: an edit in place.
  writeFileSync(file, config(route('/a', 'four')));
  await answers(`${r.url}/a`, 'four');
  r.child.kill('SIGTERM');
  assert.equal((await r.done).code, 0);
});

test('cli run: reload.watch false leaves a changed file alone until SIGHUP', async (t) => {
  const dir = tempDir('watch');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(route('/a', 'one'), 'reload: { watch: false }\n'));
  const r = await start(t, ['run', '-c', file]);
  writeFileSync(file, config(route('/a', 'two'), 'reload: { watch: false }\n'));
  await new Promise((res) => setTimeout(res, 800));
  assert.equal((await send(`${r.url}/a`)).text, 'one');
  r.child.kill('SIGHUP');
  await answers(`${r.url}/a`, 'two');
  r.child.kill('SIGTERM');
  assert.equal((await r.done).code, 0);
});

test('cli reload: --plan prints what a reload would change and applies nothing; without it the change is applied and printed', async (t) => {
  const dir = tempDir('reload');
  const file = join(dir, 'gatehouse.yaml');
  const port = await freePort();
  const env = { GH_TEST_ADMIN_TOKEN: 'secret-token' };
  const head = `reload: { watch: false }\nadmin: { address: "127.0.0.1:${port}", token_env: GH_TEST_ADMIN_TOKEN }\n`;
  writeFileSync(file, config(route('/a', 'one'), head));
  const r = await start(t, ['run', '-c', file], env);
  writeFileSync(file, config(route('/a', 'one') + route('/b', 'two'), head));

  const plan = await runCli(['reload', '--plan', '-c', file], { env });
  assert.equal(plan.code, 0, plan.stderr);
  assert.equal(plan.stdout, 'plan (nothing applied; config version 1 in force):\nroutes: added routes[1]; changed -; removed -\nupstreams: added -; changed -; removed -\nservers added: -\nservers drained: -\n');
  assert.equal((await send(`${r.url}/b`)).status, 404, 'nothing applied');

  const applied = await runCli(['reload', '-c', file], { env });
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /^reloaded: config version 2\nroutes: added routes\[1\];/);
  assert.equal((await send(`${r.url}/b`)).text, 'two');
  const again = await runCli(['reload', '--plan', '-c', file], { env });
  assert.equal(again.stdout, 'plan (nothing applied; config version 2 in force):\nno changes\n');

  const json = await runCli(['reload', '--plan', '--json', '-c', file], { env });
  assert.equal((JSON.parse(json.stdout) as { applied: boolean }).applied, false);

  const wrong = await runCli(['reload', '-c', file], { env: { GH_TEST_ADMIN_TOKEN: 'wrong' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^gatehouse: the admin API at http:\/\/127\.0\.0\.1:\d+ refused the token \(401\): GH_TEST_ADMIN_TOKEN does not hold/);
  const unset = await runCli(['reload', '-c', file], { env: { GH_TEST_ADMIN_TOKEN: '' } });
  assert.equal(unset.code, 1);
  assert.match(unset.stderr, /set GH_TEST_ADMIN_TOKEN/);

  r.child.kill('SIGTERM');
  assert.equal((await r.done).code, 0);
  const down = await runCli(['reload', '-c', file], { env });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^gatehouse: cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
});

test('cli reload: a config without an admin section is a clear error; --help shows the usage', async () => {
  const file = join(tempDir('reload'), 'gatehouse.yaml');
  writeFileSync(file, config(route('/a', 'one')));
  const r = await runCli(['reload', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no admin section/);
  assert.equal(r.stdout, '');
  const help = await runCli(['reload', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: gatehouse reload \[--plan\]/);
  assert.match((await runCli(['--help'])).stdout, /reload \[--plan\] -c FILE/);
});
