/** Reloading a running `gatehouse run`: the watched config file, and `gatehouse reload` through the admin API. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { send } from './helpers/client.js';
import { collect, runCli, spawnCli, type CliResult } from './helpers/cli.js';
import { waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

interface Running { child: ChildProcess; done: Promise<CliResult>; url: string; log: () => string }

async function start(t: TestContext, args: string[]): Promise<Running> {
  const child = spawnCli(args);
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
