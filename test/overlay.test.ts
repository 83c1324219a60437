import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { createGatehouse, loadConfig, type Gatehouse } from '../src/index.js';
import { send, type Response } from './helpers/client.js';
import { collect, spawnCli } from './helpers/cli.js';
import { startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 'overlay-token-9a7e';
process.env.GATEHOUSE_ADMIN_TOKEN = TOKEN;
const auth = { authorization: `Bearer ${TOKEN}` };

function configText(servers: string[], stateFile?: string): string {
  return `listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
  token_env: GATEHOUSE_ADMIN_TOKEN${stateFile ? `\n  state_file: ${stateFile}` : ''}
access_log: { enabled: false }
overload: false
upstreams:
  app:
    servers: [${servers.join(', ')}]
routes:
  - match: { path: / }
    proxy: { upstream: app }
`;
}

interface LogLine { level: number; msg: string; overlay?: string }
interface Running { gh: Gatehouse; admin: string; logs: LogLine[] }

/** Starts the proxy from `file` as `gatehouse run -c FILE` does, with its log lines collected. */
async function run(t: TestContext, file: string): Promise<Running> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => { logs.push(JSON.parse(s) as LogLine); } });
  const gh = createGatehouse(await loadConfig(file), { configPath: file, logger });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  return { gh, admin: gh.adminUrl()!, logs };
}

const post = (url: string, body?: unknown): Promise<Response> =>
  send(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

interface Listed { id: string; weight: number; draining: boolean; source: string; sources: string[] }
async function servers(r: Running): Promise<Listed[]> {
  const res = await send(`${r.admin}/api/upstreams`, { headers: auth });
  assert.equal(res.status, 200, res.text);
  const body = JSON.parse(res.text) as { upstreams: { name: string; servers: Listed[] }[] };
  return body.upstreams.find((u) => u.name === 'app')!.servers;
}

/** Which origins (by name) answered `n` requests through the proxy. */
async function answeredBy(r: Running, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const res = await send(`${r.gh.url()}/`);
    assert.equal(res.status, 200, res.text);
    seen.add(res.text);
  }
  return seen;
}

async function origins(t: TestContext): Promise<[Origin, Origin]> {
  const a = await startOrigin(t, (_req, res) => res.end('a'));
  const b = await startOrigin(t, (_req, res) => res.end('b'));
  return [a, b];
}

const idOf = (o: Origin): string => new URL(o.url).host;

test('overlay: a server added through the API is in the pool again after a restart, and gets traffic', async (t) => {
  const [a, b] = await origins(t);
  const file = join(tempDir('overlay'), 'gatehouse.yaml');
  writeFileSync(file, configText([a.url]));
  const first = await run(t, file);
  assert.equal((await post(`${first.admin}/api/upstreams/app/servers`, { url: b.url, weight: 2 })).status, 201);
  await first.gh.stop({ timeoutMs: 1000 });
  assert.ok(existsSync(`${file}.state.json`), 'the state file is written beside the config file');

  const second = await run(t, file);
  const listed = await servers(second);
  assert.deepEqual(listed.map((s) => [s.id, s.source, s.weight]), [[idOf(a), 'file', 1], [idOf(b), 'api', 2]]);
  assert.deepEqual([...(await answeredBy(second, 6))].sort(), ['a', 'b']);
  const line = second.logs.find((l) => l.overlay !== undefined && /API overlay .* applied/.test(l.msg));
  assert.ok(line, 'run logs the overlay it applied');
  assert.equal(line.level, 30);
  assert.equal(line.overlay, `${file}.state.json`);
  assert.match(line.msg, /1 added/);
});

test('overlay: a server drained through the API stays drained across a reload of the file and a restart', async (t) => {
  const [a, b] = await origins(t);
  const dir = tempDir('overlay');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, configText([a.url, b.url], 'api.json'));
  const r = await run(t, file);
  assert.equal((await post(`${r.admin}/api/upstreams/app/servers/${idOf(b)}/drain`)).status, 200);
  // The file changes (a reload re-applies every file server), and is reloaded.
  writeFileSync(file, `${configText([a.url, b.url], 'api.json')}# edited\n`);
  assert.equal((await post(`${r.admin}/api/reload`)).status, 200);
  assert.deepEqual((await servers(r)).map((s) => [s.id, s.draining]), [[idOf(a), false], [idOf(b), true]]);
  assert.deepEqual([...(await answeredBy(r, 4))], ['a']);
  await r.gh.reload(await loadConfig(file));
  assert.deepEqual([...(await answeredBy(r, 4))], ['a']);
  await r.gh.stop({ timeoutMs: 1000 });
  assert.ok(existsSync(join(dir, 'api.json')), 'admin.state_file is relative to the config file');

  const again = await run(t, file);
  assert.deepEqual((await servers(again)).map((s) => [s.id, s.draining]), [[idOf(a), false], [idOf(b), true]]);
  // Enabled through the API: the drain is forgotten.
  assert.equal((await post(`${again.admin}/api/upstreams/app/servers/${idOf(b)}/enable`)).status, 200);
  await again.gh.reload(await loadConfig(file));
  assert.deepEqual([...(await answeredBy(again, 6))].sort(), ['a', 'b']);
});

test('overlay: a file server removed through the API stays removed across reloads until it is added again', async (t) => {
  const [a, b] = await origins(t);
  const file = join(tempDir('overlay'), 'gatehouse.yaml');
  writeFileSync(file, configText([a.url, b.url]));
  const r = await run(t, file);
  const del = await send(`${r.admin}/api/upstreams/app/servers/${idOf(b)}`, { method: 'DELETE', headers: auth });
  assert.equal(del.status, 202, del.text);
  await r.gh.reload(await loadConfig(file));
  assert.deepEqual([...(await answeredBy(r, 4))], ['a']);
  assert.deepEqual((await servers(r)).filter((s) => !s.draining).map((s) => s.id), [idOf(a)]);
  assert.equal((await post(`${r.admin}/api/upstreams/app/servers`, { url: b.url })).status, 201);
  await r.gh.reload(await loadConfig(file));
  assert.deepEqual([...(await answeredBy(r, 6))].sort(), ['a', 'b']);
});

test('overlay: a server added with a TTL is gone after a restart past its TTL', async (t) => {
  const [a, b] = await origins(t);
  const file = join(tempDir('overlay'), 'gatehouse.yaml');
  writeFileSync(file, configText([a.url]));
  const first = await run(t, file);
  assert.equal((await post(`${first.admin}/api/upstreams/app/servers`, { url: b.url, ttl: '300ms' })).status, 201);
  await first.gh.stop({ timeoutMs: 1000 });
  const state = JSON.parse(readFileSync(`${file}.state.json`, 'utf8')) as { upstreams: { app: { added: Record<string, { expires_at: number }> } } };
  const expires = state.upstreams.app.added[idOf(b)]!.expires_at;
  assert.ok(expires > Date.now() - 1000, 'the expiry is kept as an absolute time');
  await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now()) + 50));

  const second = await run(t, file);
  assert.deepEqual((await servers(second)).map((s) => s.id), [idOf(a)]);
  assert.deepEqual([...(await answeredBy(second, 4))], ['a']);
  assert.ok(second.logs.some((l) => /1 expired/.test(l.msg)));
});

test('overlay: a corrupt state file is logged and ignored (not deleted); the proxy starts', async (t) => {
  const [a] = await origins(t);
  const file = join(tempDir('overlay'), 'gatehouse.yaml');
  writeFileSync(file, configText([a.url]));
  writeFileSync(`${file}.state.json`, '{"version": 1, "upstreams": {"app": ');
  const r = await run(t, file);
  assert.deepEqual([...(await answeredBy(r, 2))], ['a']);
  const err = r.logs.find((l) => l.level === 50 && /corrupt/.test(l.msg));
  assert.ok(err, 'an error names the corrupt file');
  assert.match(err.msg, /gatehouse\.yaml\.state\.json/);
  assert.equal(readFileSync(`${file}.state.json`, 'utf8'), '{"version": 1, "upstreams": {"app": ');
  assert.ok(existsSync(`${file}.state.json.corrupt`));
});

/** `gatehouse run -c FILE` in a child process, its admin URL once started, and its stderr so far. */
async function runCli(t: TestContext, file: string): Promise<{ admin: string; url: string; stderr: () => string; signal(s: NodeJS.Signals): void; stop(): Promise<number | null> }> {
  const child = spawnCli(['run', '-c', file]);
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const done = collect(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  await waitFor(() => stderr.includes('gatehouse started'), 10_000, 'gatehouse run to start');
  return {
    admin: /admin API on (http:\/\/[\d.]+:\d+)/.exec(stderr)![1]!,
    url: /listening on (http:\/\/[\d.]+:\d+)/.exec(stderr)![1]!,
    stderr: () => stderr,
    signal: (sig) => { child.kill(sig); },
    async stop() { child.kill('SIGTERM'); return (await done).code; },
  };
}

test('overlay: gatehouse run keeps a drain across SIGHUP and a restart, and logs the overlay it applied', async (t) => {
  const [a, b] = await origins(t);
  const file = join(tempDir('overlay'), 'gatehouse.yaml');
  writeFileSync(file, configText([a.url, b.url]));
  const first = await runCli(t, file);
  assert.match(first.stderr(), /API overlay [^"]*gatehouse\.yaml\.state\.json applied: nothing to apply/);
  assert.equal((await post(`${first.admin}/api/upstreams/app/servers/${idOf(b)}/drain`)).status, 200);
  const reloads = (): number => first.stderr().split('config reloaded').length - 1;
  first.signal('SIGHUP');
  await waitFor(() => reloads() === 1, 10_000, 'the SIGHUP reload');
  for (let i = 0; i < 4; i++) assert.equal((await send(`${first.url}/`)).text, 'a');
  assert.equal(await first.stop(), 0);

  const second = await runCli(t, file);
  assert.match(second.stderr(), /API overlay [^"]*gatehouse\.yaml\.state\.json applied: 0 added, 1 drained, 0 removed, 0 expired/);
  for (let i = 0; i < 4; i++) assert.equal((await send(`${second.url}/`)).text, 'a');
  assert.equal(await second.stop(), 0);
});
