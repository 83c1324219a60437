import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { send } from './helpers/client.js';
import { collect, logMessages, ROOT, runCli, startCli } from './helpers/cli.js';
import { coreContract } from './helpers/contracts.js';
import { startOrigin, waitFor } from './helpers/origin.js';
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

test('cli: schema prints the JSON Schema; --help works for every command and lists --version', async () => {
  const r = await runCli(['schema']);
  assert.equal(r.code, 0);
  const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
  assert.ok(schema.properties.listeners && schema.properties.routes && schema.properties.upstreams);
  for (const cmd of ['run', 'proxy', 'validate', 'schema', 'explain', 'hash-password']) {
    const h = await runCli([cmd, '--help']);
    assert.equal(h.code, 0, cmd);
    assert.match(h.stdout, new RegExp(`Usage: gatehouse ${cmd}`));
  }
  const top = await runCli(['--help']);
  assert.match(top.stdout, /Commands:/);
  assert.match(top.stdout, /-v, --version +print the version/);
  assert.match(top.stdout, /proxy --from ADDR --to URL/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('cli: usage errors exit 2 (unknown command or option, missing or extra argument); an invalid config stays 1', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^gatehouse: unknown command "frobnicate"; run 'gatehouse --help' for the list\n$/],
    [['valdate', 'x.yaml'], /unknown command "valdate" \(did you mean "validate"\?\)/],
    [['run', '--confg', 'x.yaml'], /Unknown option '--confg'.*\(see 'gatehouse run --help'\)/],
    [['validate'], /validate needs/],
    [['explain', '-c', 'gatehouse.yaml', 'GET'], /explain needs METHOD and URL/],
    [['explain', '-c', 'gatehouse.yaml', 'GET', 'http://x/', 'extra'], /unexpected "extra"/],
    [['explain', '-c', 'gatehouse.yaml', '-H', 'nocolon', 'GET', 'http://x/'], /-H expects 'Name: value'/],
    [['proxy'], /proxy needs at least one --to/],
    [['proxy', '--to'], /Option '--to <value>' argument missing/],
    [['schema', 'extra'], /Unexpected argument 'extra'/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  }
  const bad = await runCli(['validate', writeConfig('listeners: []\n')]);
  assert.equal(bad.code, 1);
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
  const file = writeConfig(config(0, origin.url));
  const { child, done, url } = await startCli(t, ['run', '-c', file]);
  assert.equal((await send(`${url}/`, { headers: { host: 'hello.test' } })).status, 200);
  const inflight = send(`${url}/api/slow`);
  await waitFor(() => origin.requests.length === 1, 5000, 'request to reach the origin');
  child.kill('SIGTERM');
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.text, 'slow answer');
  const result = await done;
  assert.equal(result.code, 0);
  await assert.rejects(send(`${url}/`), /ECONNREFUSED/);
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

test('library: `import { createGatehouse } from "gatehouse-proxy"` resolves to the built package', async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', "import('gatehouse-proxy').then((m) => console.log(typeof m.createGatehouse, typeof m.loadConfig))"], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Runs `gatehouse hash-password` on a terminal (util-linux `script` makes the pty), typing each answer after a prompt. */
function hashOnTerminal(answers: string[]): Promise<{ code: number | null; output: string }> {
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(ROOT, 'bin/gatehouse.js'))} hash-password`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.on('error', (err) => { throw new Error(`the terminal test needs \`script\` (util-linux; Debian: bsdutils): ${err.message}`); });
  let output = '';
  let sent = 0;
  child.stdout!.on('data', (c: Buffer) => {
    output += c.toString();
    const prompts = output.match(/Password( \(again\))?: /g)?.length ?? 0;
    while (sent < prompts && sent < answers.length) child.stdin!.write(`${answers[sent++]!}\r`);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) => child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); }));
}

test('cli: hash-password on a terminal asks twice, hides what is typed and refuses a mismatch', async () => {
  const ok = await hashOnTerminal(['tr0ub4dor&3', 'tr0ub4dor&3']);
  assert.equal(ok.code, 0, ok.output);
  assert.match(ok.output, /Password: \r?\nPassword \(again\): \r?\n/);
  assert.ok(!ok.output.includes('tr0ub4dor'), 'the password is not echoed');
  const hash = /\$scrypt\$\S+/.exec(ok.output)![0];
  const { verifyPassword } = await import('../src/protect/index.js');
  assert.equal(await verifyPassword('tr0ub4dor&3', hash), true);

  const mismatch = await hashOnTerminal(['tr0ub4dor&3', 'tr0ub4dor&4']);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.output, /gatehouse: the passwords do not match; nothing was printed/);
  assert.ok(!mismatch.output.includes('$scrypt$'));
});

test('cli: explain shows the redirect_https, access, auth and rate-limit decisions on the request', async () => {
  const hash = '$scrypt$ln=15,r=8,p=1$SsV7tIgCtBsQ2FvLtaeryw==$ckE4x96wyWl10FS68nAnrfAGyovfhAHYKKm3D3ic+Og='; // "pw"
  const file = writeConfig(`listeners:
  - { name: plain, address: "127.0.0.1:18080", redirect_https: true }
  - { name: secure, address: "127.0.0.1:18443" }
access: { deny: [192.0.2.0/24] }
upstreams: { app: { servers: [http://127.0.0.1:19001] } }
routes:
  - match: { path: /limited/ }
    rate_limit: { key: "header:x-api-key", rate: 10/s, burst: 5 }
    proxy: { upstream: app }
  - match: { path: /internal/ }
    access: { allow: [10.0.0.0/8] }
    proxy: { upstream: app }
  - match: { path: /private/ }
    auth: { basic: { users: { alice: "${hash}" } } }
    proxy: { upstream: app }
`);
  const explainOut = async (...args: string[]): Promise<string> => {
    const r = await runCli(['explain', '-c', file, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const redirect = await explainOut('GET', 'http://shop.test/private/x?a=1');
  assert.match(redirect, /✗ tls: redirect_https on listener plain: answers 301 → https:\/\/shop\.test\/private\/x\?a=1/);
  assert.match(redirect, /matched: routes\[2\] \(not reached: answered before routing\)/);
  assert.match(redirect, /action: answers 301 → https:\/\/shop\.test\/private\/x\?a=1 \(tls, before routing\)/);

  const denied = await explainOut('-l', 'secure', '--client-ip', '192.0.2.7', 'GET', 'http://shop.test/private/x');
  assert.match(denied, /✗ access: global: deny 192\.0\.2\.0\/24: refused: 403 GH_ACCESS_DENIED/);

  const noCreds = await explainOut('-l', 'secure', 'GET', 'http://shop.test/private/x');
  assert.match(noCreds, /✓ access: global: deny 192\.0\.2\.0\/24: passes/);
  assert.match(noCreds, /✗ auth: basic, realm "gatehouse", users alice: refused: 401 GH_UNAUTHORIZED/);
  assert.match(noCreds, /action: refused: 401 GH_UNAUTHORIZED \(auth\)/);
  const creds = await explainOut('-l', 'secure', 'GET', 'http://shop.test/private/x', '-H', `Authorization: Basic ${Buffer.from('alice:pw').toString('base64')}`);
  assert.match(creds, /✓ auth: basic, realm "gatehouse", users alice: passes/);
  assert.match(creds, /action: proxy to upstream app/);
  assert.match(creds, /x-forwarded-user: alice/);

  const inside = await explainOut('-l', 'secure', '--client-ip', '10.1.2.3', 'GET', 'http://shop.test/internal/x');
  assert.match(inside, /✓ access: route: allow 10\.0\.0\.0\/8: passes/);
  const outside = await explainOut('-l', 'secure', 'GET', 'http://shop.test/internal/x');
  assert.match(outside, /✗ access: route: allow 10\.0\.0\.0\/8: refused: 403 GH_ACCESS_DENIED/);

  const limited = await explainOut('-l', 'secure', 'GET', 'http://shop.test/limited/x');
  assert.match(limited, /✓ rate_limit: 10\/s, burst 5, per header:x-api-key: passes \(past the rate and burst: 429 GH_RATE_LIMITED\)/);
  const json = JSON.parse(await explainOut('-l', 'secure', '--json', 'GET', 'http://shop.test/limited/x')) as { checks: { plugin: string; stops: boolean }[] };
  assert.deepEqual(json.checks.map((c) => [c.plugin, c.stops]), [['rate_limit', false]]);
});

test('cli: explain refuses a method the server would refuse (400 over HTTP/1.1) and explains CONNECT', async () => {
  const file = writeConfig(config(18080, 'http://127.0.0.1:19001'));
  const lower = await runCli(['explain', '-c', file, 'get', 'http://shop.test/api/x']);
  assert.equal(lower.code, 2);
  assert.match(lower.stderr, /the server answers 400 to the method "get" over HTTP\/1\.1: methods are case-sensitive: did you mean GET\?/);
  const unknown = await runCli(['explain', '-c', file, 'FOO', 'http://shop.test/api/x']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /"FOO" .*not one of the methods node:http knows/);
  for (const method of ['PURGE', 'QUERY', 'M-SEARCH']) {
    const r = await runCli(['explain', '-c', file, method, 'http://shop.test/api/x']);
    assert.equal(r.code, 0, `${method}: ${r.stderr}`);
  }
  const connect = await runCli(['explain', '-c', file, 'CONNECT', 'http://shop.test/api/x']);
  assert.match(connect.stdout, /action: refused: 405 GH_METHOD_NOT_ALLOWED/);
});
