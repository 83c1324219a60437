import assert from 'node:assert/strict';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { collect, logMessages, runCli, spawnCli } from './helpers/cli.js';
import { waitFor } from './helpers/origin.js';
import { tempDir as makeTempDir } from './helpers/tmp.js';

/** A directory for one test's files, removed after it (it may hold private keys). */
function tempDir(t: TestContext): string {
  const dir = makeTempDir('validate');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('validate: certificate and key files are checked as run loads them (missing, not PEM, swapped, another certificate\'s key), each at its key', async (t) => {
  const ca = makeCa();
  t.after(() => rmSync(ca.dir, { recursive: true, force: true }));
  const a = makeLeaf(ca, 'a.test', ['a.test']);
  const b = makeLeaf(ca, 'b.test', ['b.test']);
  const dir = tempDir(t);
  copyFileSync(a.cert, join(dir, 'a.pem'));
  copyFileSync(a.key, join(dir, 'a-key.pem'));
  copyFileSync(b.key, join(dir, 'b-key.pem'));
  writeFileSync(join(dir, 'readme.txt'), 'not a certificate\n');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `listeners:
  - name: secure
    address: 127.0.0.1:0
    tls:
      certificates:
        - { cert: missing.pem, key: a-key.pem }
        - { cert: a-key.pem, key: a.pem }
        - { cert: readme.txt, key: a-key.pem }
        - { cert: a.pem, key: b-key.pem }
        - { cert: a.pem, key: a-key.pem }
routes:
  - match: {}
    respond: { body: "hi" }
`);
  const expected = [
    `${file}: cannot read certificate file ${dir}/missing.pem: file not found at listeners[0].tls.certificates[0].cert (line 6, col 19)`,
    `${file}: certificate file ${dir}/a-key.pem holds a private key, not a certificate: are cert and key swapped? at listeners[0].tls.certificates[1].cert (line 7, col 19)`,
    `${file}: key file ${dir}/a.pem holds a certificate, not a private key: are cert and key swapped? at listeners[0].tls.certificates[1].key (line 7, col 35)`,
    `${file}: certificate file ${dir}/readme.txt is not a PEM certificate (no -----BEGIN CERTIFICATE----- line) at listeners[0].tls.certificates[2].cert (line 8, col 19)`,
    `${file}: key file ${dir}/b-key.pem does not belong to certificate file ${dir}/a.pem (their public keys differ) at listeners[0].tls.certificates[3].key (line 9, col 31)`,
  ];
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 1);
  assert.deepEqual(v.stderr.trim().split('\n'), [...expected, '5 errors in config']);
  assert.equal(v.stdout, `${file}: invalid (5 errors)\n`);
  // run refuses the same config with the same lines (one process-log message), before binding anything.
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 1);
  assert.deepEqual(logMessages(r.stderr), [[...expected, '5 errors in config'].join('\n')]);
});

const WARNED = `listeners:
  - name: public
    address: 127.0.0.1:0
  - name: admin
    address: 127.0.0.1:0
upstreams:
  app: { servers: ["http://127.0.0.1:9"] }
  old: { servers: ["http://127.0.0.1:9"] }
routes:
  - match: { path: /api/, listener: public }
    proxy: { upstream: app }
  - name: api-get
    match: { path: /api/, listener: public, method: GET }
    respond: { body: "never" }
  - match: { path: /api/, listener: public, headers: { x-beta: "1" } }
    respond: { body: "beta" }
`;
const WARNINGS = (file: string) => [
  `${file}: warning: listener "admin" has no routes: every request to it is answered 404 at listeners[1] (line 4, col 5)`,
  `${file}: warning: upstream "old" is not used by any route at upstreams.old (line 8, col 3)`,
  `${file}: warning: route api-get can never be chosen: routes[0] comes first with the same host, path and listener and no narrower method or header condition at routes[1].match (line 13, col 5)`,
  `${file}: warning: route routes[2] can never be chosen: routes[0] comes first with the same host, path and listener and no narrower method or header condition at routes[2].match (line 15, col 5)`,
];

test('validate: an unused upstream, a shadowed route and a listener without routes are warnings (exit 0); run logs them', async (t) => {
  const file = join(tempDir(t), 'gatehouse.yaml');
  writeFileSync(file, WARNED);
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual(v.stderr.trim().split('\n'), WARNINGS(file));
  assert.equal(v.stdout, `${file}: valid (4 warnings)\n`);

  const child = spawnCli(['run', '-c', file]);
  const done = collect(child);
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  await waitFor(() => (stderr.match(/config warning/g) ?? []).length === 4, 10_000, 'the warnings to be logged');
  child.kill('SIGTERM');
  await done;
  const logged = stderr.split('\n').filter((l) => l.includes('config warning')).map((l) => JSON.parse(l) as { msg: string; file: string; line: number; key: string });
  assert.deepEqual(logged.map((l) => `${l.file}:${l.line} ${l.key} ${l.msg}`), [
    `${file}:4 listeners[1] config warning: listener "admin" has no routes: every request to it is answered 404`,
    `${file}:8 upstreams.old config warning: upstream "old" is not used by any route`,
    `${file}:13 routes[1].match config warning: route api-get can never be chosen: routes[0] comes first with the same host, path and listener and no narrower method or header condition`,
    `${file}:15 routes[2].match config warning: route routes[2] can never be chosen: routes[0] comes first with the same host, path and listener and no narrower method or header condition`,
  ]);
});

test('validate: a route narrower than an earlier one, on another host or listener, is not shadowed', async (t) => {
  const file = join(tempDir(t), 'gatehouse.yaml');
  writeFileSync(file, `listeners:
  - name: public
    address: 127.0.0.1:0
  - name: admin
    address: 127.0.0.1:0
routes:
  - match: { path: /api/, listener: admin }
    respond: { body: "admin" }
  - match: { path: /api/, method: GET }
    respond: { body: "get" }
  - match: { path: /api/ }
    respond: { body: "others" }
  - match: { path: /api/, host: a.test }
    respond: { body: "a" }
  - match: { path_exact: /api/ }
    respond: { body: "exact" }
  - match: { path_regex: "^/api/" }
    respond: { body: "regex" }
`);
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stderr, '');
  assert.equal(v.stdout, `${file}: valid\n`);
});

test('validate: several files are each checked and reported; exit 1 when one is invalid, 2 on a usage error', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  const warned = join(dir, 'warned.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, 'listeners: [{ name: p, address: "127.0.0.1:0" }]\nroutes: [{ match: {}, respond: {} }]\n');
  writeFileSync(warned, WARNED);
  writeFileSync(bad, 'listeners: [{ name: p, address: "127.0.0.1:0" }]\nroutes: [{ match: {}, redirect: { to: /x, status: 300 } }]\n');
  const r = await runCli(['validate', good, bad, warned]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, `${good}: valid\n${bad}: invalid (1 error)\n${warned}: valid (4 warnings)\n`);
  assert.deepEqual(r.stderr.trim().split('\n'), [
    `${bad}: expected one of 301, 302, 303, 307, 308, got 300 at routes[0].redirect.status (line 2, col 51)`,
    ...WARNINGS(warned),
  ]);
  const ok = await runCli(['validate', good, warned]);
  assert.equal(ok.code, 0);
  const missing = await runCli(['validate', good, join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.yaml: cannot read config: file not found\n$/);
  assert.match(missing.stdout, /good\.yaml: valid\n.*nope\.yaml: invalid \(1 error\)\n$/);

  const none = await runCli(['validate']);
  assert.equal(none.code, 2);
  assert.equal(none.stderr, 'gatehouse: validate needs a FILE\nUsage: gatehouse validate FILE... [--plugin FILE]...\n');
  const flag = await runCli(['validate', '--strict', good]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^gatehouse: Unknown option '--strict'/);
});

test('validate: CA bundles, upstream client certificates and JWT public keys are checked too', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'readme.txt'), 'not a key\n');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `listeners:
  - name: p
    address: 127.0.0.1:0
upstreams:
  a: { servers: ["https://127.0.0.1:9"], tls: { ca: ca.pem } }
  b: { servers: ["https://127.0.0.1:9"], tls: { cert: client.pem } }
routes:
  - match: { path: /a/ }
    proxy: { upstream: a }
  - match: { path: /b/ }
    auth: { jwt: { public_key: readme.txt } }
    proxy: { upstream: b }
`);
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 1);
  assert.deepEqual(v.stderr.trim().split('\n'), [
    `${file}: cannot read CA bundle file ${dir}/ca.pem: file not found at upstreams.a.tls.ca (line 5, col 53)`,
    `${file}: a client certificate needs both tls.cert and tls.key (only tls.cert is given) at upstreams.b.tls (line 6, col 47)`,
    `${file}: public key file ${dir}/readme.txt is not a PEM public key (no -----BEGIN PUBLIC KEY----- line) at routes[1].auth.jwt.public_key (line 11, col 32)`,
    '3 errors in config',
  ]);
});

test('validate and run: ${NAME} comes from the environment; an unset variable is an error naming it', async (t) => {
  const file = join(tempDir(t), 'gatehouse.yaml');
  writeFileSync(file, 'listeners:\n  - name: p\n    address: "127.0.0.1:${GH_TEST_UNSET_PORT}"\nroutes: [{ match: {}, respond: { body: "${GH_TEST_GREETING:-hello}" } }]\n');
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 1);
  assert.deepEqual(v.stderr.trim().split('\n'), [
    `${file}: environment variable GH_TEST_UNSET_PORT is not set (\${GH_TEST_UNSET_PORT:-default} gives a default) at listeners[0].address (line 3, col 14)`,
  ]);
  assert.equal(v.stdout, `${file}: invalid (1 error)\n`);
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /environment variable GH_TEST_UNSET_PORT is not set/);
});
