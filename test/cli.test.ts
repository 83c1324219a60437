import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { collect, logMessages, ROOT, runCli, spawnCli } from './helpers/cli.js';
import { coreContract } from './helpers/contracts.js';
import { freePort, startOrigin, waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

function writeConfig(text: string, name = 'gatehouse.yaml'): string {
  const dir = tempDir('cli');
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const config = (port: number, origin: string, extra = ''): string => coreContract({ address: `127.0.0.1:${port}`, servers: [origin], extra });

test('cli: validate exits 0 on a good config and 1 listing every error', async () => {
  const good = writeConfig(config(18080, 'http://127.0.0.1:19001'));
  const ok = await runCli(['validate', good]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /valid/);

  const bad = writeConfig(config(18080, 'http://127.0.0.1:19001').replace('upstream: app', 'upstrem: app').replace('status: 301', 'status: 399'));
  const r = await runCli(['validate', bad]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0]!, /gatehouse\.yaml: unknown key "upstrem" at routes\[1\]\.proxy \(line 13, col 14\): did you mean "upstream"\?/);
  assert.match(lines[1]!, /routes\[2\]\.redirect\.status \(line 15/);
  assert.equal(lines[2], '2 errors in config');
  assert.equal(r.stdout, `${bad}: invalid (2 errors)\n`);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
});

test('cli: an unreadable config and a port in use are one clear line (of the process log) and exit 1', async (t) => {
  const missing = await runCli(['run', '-c', '/nonexistent/gatehouse.yaml']);
  assert.equal(missing.code, 1);
  assert.deepEqual(logMessages(missing.stderr), ['/nonexistent/gatehouse.yaml: cannot read config: file not found']);

  const taken = await startOrigin(t, (_q, s) => s.end());
  const file = writeConfig(config(taken.port, 'http://127.0.0.1:19001'));
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 1);
  assert.deepEqual(logMessages(r.stderr), [`listener "public": address 127.0.0.1:${taken.port} is already in use`]);
  assert.ok(!r.stderr.includes('    at '));
});

test('cli: schema prints the JSON Schema; --help works for every command', async () => {
  const r = await runCli(['schema']);
  assert.equal(r.code, 0);
  const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
  assert.ok(schema.properties.listeners && schema.properties.routes && schema.properties.upstreams);
  for (const cmd of ['run', 'validate', 'schema', 'explain']) {
    const h = await runCli([cmd, '--help']);
    assert.equal(h.code, 0, cmd);
    assert.match(h.stdout, new RegExp(`Usage: gatehouse ${cmd}`));
  }
  const top = await runCli(['--help']);
  assert.match(top.stdout, /Commands:/);
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test('cli: explain shows the route, why, the rewritten path, the upstream and the headers sent', async () => {
  const file = writeConfig(config(18080, 'http://127.0.0.1:19001'));
  const r = await runCli(['explain', '-c', file, 'GET', 'http://shop.test/api/users?id=1', '-H', 'X-Request-Id: trace-1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /✗ routes\[0\]: host shop\.test is not hello\.test/);
  assert.match(r.stdout, /→ routes\[1\]: any host; path has prefix \/api\//);
  assert.match(r.stdout, /matched: routes\[1\]/);
  assert.match(r.stdout, /upstream path: \/users\?id=1/);
  assert.match(r.stdout, /upstream app: http:\/\/127\.0\.0\.1:19001/);
  assert.match(r.stdout, /host: shop\.test/);
  assert.match(r.stdout, /x-forwarded-for: 127\.0\.0\.1/);
  assert.match(r.stdout, /via: 1\.1 gatehouse/);
  const none = await runCli(['explain', '-c', file, 'GET', 'http://shop.test/nothing']);
  assert.match(none.stdout, /matched: no route/);
  const json = await runCli(['explain', '-c', file, '--json', 'GET', 'http://hello.test/']);
  assert.equal((JSON.parse(json.stdout) as { chosen: string }).chosen, 'routes[0]');
});

test('cli: run serves, and SIGTERM finishes in-flight requests then exits 0', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { setTimeout(() => res.end('slow answer'), 400); });
  const port = await freePort();
  const file = writeConfig(config(port, origin.url));
  const child = spawnCli(['run', '-c', file]);
  const done = collect(child);
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await waitFor(async () => {
    try { return (await send(`http://127.0.0.1:${port}/`, { headers: { host: 'hello.test' } })).status === 200; } catch { return false; }
  }, 10_000, 'proxy to start');
  const inflight = send(`http://127.0.0.1:${port}/api/slow`);
  await waitFor(() => origin.requests.length === 1, 5000, 'request to reach the origin');
  child.kill('SIGTERM');
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.text, 'slow answer');
  const result = await done;
  assert.equal(result.code, 0);
  await assert.rejects(send(`http://127.0.0.1:${port}/`), /ECONNREFUSED/);
  const access = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const line = access.find((l) => l.path === '/api/slow')!;
  for (const key of ['time', 'reqId', 'client', 'method', 'host', 'path', 'status', 'bytes_in', 'bytes_out', 'route', 'upstream', 'server', 'duration_ms', 'upstream_ms']) {
    assert.ok(key in line, `access log has ${key}`);
  }
  assert.equal(line.status, 200);
  assert.equal(line.server, origin.authority);
});

test('cli: bin/gatehouse.js (the built package) runs', async () => {
  const child = spawn(process.execPath, [join(ROOT, 'bin/gatehouse.js'), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r = await collect(child);
  assert.equal(r.code, 0, `run "npm run build" first: ${r.stderr}`);
  assert.match(r.stdout, /gatehouse <command>/);
});

test('library: `import { createGatehouse } from "gatehouse"` resolves to the built package', async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', "import('gatehouse').then((m) => console.log(typeof m.createGatehouse, typeof m.loadConfig))"], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const r = await collect(child);
  assert.equal(r.stdout.trim(), 'function function', r.stderr);
});

test('cli: hash-password reads stdin and prints a hash the contract config accepts; plain text is refused', async () => {
  const child = spawn(process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end('correct horse\n');
  const r = await collect(child);
  assert.equal(r.code, 0, r.stderr);
  const hash = r.stdout.trim();
  assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const { verifyPassword } = await import('../src/protect/index.js');
  assert.equal(await verifyPassword('correct horse', hash), true);
  assert.equal(await verifyPassword('wrong', hash), false);

  const contract = (users: string) => `listeners:
  - name: public
    address: 127.0.0.1:18080
limits:
  header_size: 16KiB
  body_size: 1MiB
upstreams:
  app:
    servers: [http://127.0.0.1:19001]
routes:
  - match: { path: /limited/ }
    rate_limit: { key: "header:x-api-key", rate: 10/s, burst: 10 }
    proxy: { upstream: app }
  - match: { path: /internal/ }
    access: { allow: [10.0.0.0/8, "fd00::/8"] }
    proxy: { upstream: app }
  - match: { path: /private/ }
    auth:
      basic:
        users: { alice: "${users}" }    # HASH printed by \`gatehouse hash-password\`
    proxy: { upstream: app }
  - match: { path: / }
    proxy: { upstream: app }
`;
  const good = await runCli(['validate', writeConfig(contract(hash))]);
  assert.equal(good.code, 0, good.stderr);
  const plain = await runCli(['validate', writeConfig(contract('correct horse'))]);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /expected a password hash from `gatehouse hash-password` \(plain-text passwords are refused\), got something else \(not shown: it is a secret\) at routes\[2\]\.auth\.basic\.users\.alice \(line 20, col 25\)/);
  assert.ok(!plain.stderr.includes('correct horse'), 'the plain-text password is not echoed');
});
