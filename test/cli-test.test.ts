/**
 * `gatehouse test -c FILE FIXTURES`: request fixtures checked offline against a config, through the built
 * command: every expectation kind passing, a failing one with its diff (exit 1), JSON for CI, and an invalid
 * fixture file or config reported with file, line, column and key (exit 2).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const HASH = '$scrypt$ln=15,r=8,p=1$SsV7tIgCtBsQ2FvLtaeryw==$ckE4x96wyWl10FS68nAnrfAGyovfhAHYKKm3D3ic+Og='; // "pw"

const CONFIG = `listeners:
  - { name: public, address: "127.0.0.1:18080" }
upstreams:
  api: { servers: [http://127.0.0.1:19001] }
  web: { servers: [http://127.0.0.1:19002] }
routes:
  - name: api
    match: { host: api.example.com, path: /v1/ }
    rewrite: { strip_prefix: /v1 }
    headers: { request: { set: { x-env: prod } }, response: { set: { x-frame-options: DENY } } }
    rate_limit: { rate: 10/s, burst: 10 }
    proxy: { upstream: api }
  - name: internal
    match: { path: /internal/ }
    access: { allow: [10.0.0.0/8] }
    proxy: { upstream: web }
  - name: private
    match: { path: /private/ }
    auth: { basic: { users: { alice: "${HASH}" } } }
    proxy: { upstream: web }
  - name: health
    match: { path: /healthz }
    respond: { status: 204, headers: { x-health: "yes" } }
  - name: old
    match: { path: /old }
    redirect: { to: /new, status: 308 }
`;

const PASSING = `tests:
  - name: api goes to the api pool
    request: { method: GET, url: "https://api.example.com/v1/users?x=1", headers: { authorization: Bearer t0k }, client: 203.0.113.7 }
    expect:
      route: api
      action: proxy
      upstream: api
      path: /users?x=1
      headers: { x-frame-options: DENY }
      upstream_headers: { x-env: prod, authorization: Bearer t0k, x-forwarded-for: 203.0.113.7 }
      access: allow
      auth: none
      rate_limit: { limited: false, remaining: 9 }
  - name: burst is limited
    repeat: 11          # sends the request 11 times; expectations apply to the last
    request: { url: "http://api.example.com/v1/users" }
    expect: { status: 429, code: GH_RATE_LIMITED, action: refuse, rate_limit: { limited: true, remaining: 0 }, headers: { retry-after: "1" } }
  - name: paced requests are not limited
    repeat: 30
    every: 100ms
    request: { url: "http://api.example.com/v1/users" }
    expect: { action: proxy, rate_limit: { limited: false } }
  - name: internal is refused from outside
    request: { url: "http://any.test/internal/a", client: 192.0.2.1 }
    expect: { route: internal, access: deny, status: 403, code: GH_ACCESS_DENIED, auth: none, rate_limit: none }
  - name: internal from inside
    request: { url: "http://any.test/internal/a", client: 10.1.2.3 }
    expect: { access: allow, upstream: web }
  - name: private needs a password
    request: { url: "http://any.test/private/a" }
    expect: { auth: required, status: 401 }
  - name: private with alice's password
    request: { url: "http://any.test/private/a", headers: { authorization: "Basic YWxpY2U6cHc=" } }
    expect: { auth: pass, upstream_headers: { x-forwarded-user: alice, authorization: null } }
  - name: health answers itself
    request: { url: "http://any.test/healthz" }
    expect: { route: health, action: respond, status: 204, headers: { x-health: "yes", x-frame-options: null } }
  - name: old moved
    request: { method: POST, url: "http://any.test/old" }
    expect: { route: old, action: redirect, status: 308, headers: { location: /new } }
  - name: nothing there
    request: { url: "http://any.test/nothing" }
    expect: { route: null, status: 404, code: GH_ROUTE_NOT_FOUND }
`;

function files(fixtures: string): { config: string; fixtures: string } {
  const dir = tempDir('cli-test');
  writeFileSync(join(dir, 'gatehouse.yaml'), CONFIG);
  writeFileSync(join(dir, 'fixtures.yaml'), fixtures);
  return { config: join(dir, 'gatehouse.yaml'), fixtures: join(dir, 'fixtures.yaml') };
}

test('cli test: every fixture passes: one ✓ line each, the summary, exit 0', async () => {
  const f = files(PASSING);
  const r = await runCli(['test', '-c', f.config, f.fixtures]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('✓ ')).length, 10, r.stdout);
  assert.equal(lines[0], '✓ api goes to the api pool');
  assert.equal(lines.at(-1), '10 passed, 0 failed');
  assert.equal(r.stderr, '');
});

test('cli test: a failing expectation prints an expected/actual diff per field and exits 1; --json for CI', async () => {
  const f = files(`${PASSING}  - name: wrong on purpose
    request: { url: "http://api.example.com/v1/users" }
    expect: { upstream: web, status: 200, headers: { x-frame-options: SAMEORIGIN, x-missing: "1" }, rate_limit: { limited: true } }
`);
  const line = PASSING.split('\n').length; // where the failing fixture starts
  const r = await runCli(['test', '-c', f.config, f.fixtures]);
  assert.equal(r.code, 1, r.stderr);
  const out = r.stdout;
  assert.match(out, new RegExp(`^✗ wrong on purpose \\(.*fixtures\\.yaml:${line}\\)$`, 'm'));
  assert.match(out, /^ {4}upstream:\n {6}- expected: web\n {6}\+ actual: {3}api$/m);
  assert.match(out, /^ {4}status:\n {6}- expected: 200\n {6}\+ actual: {3}none \(the request goes upstream to api: its status is the upstream's\)$/m);
  assert.match(out, /^ {4}headers\.x-frame-options:\n {6}- expected: SAMEORIGIN\n {6}\+ actual: {3}DENY$/m);
  assert.match(out, /^ {4}headers\.x-missing:\n {6}- expected: 1\n {6}\+ actual: {3}absent$/m);
  assert.match(out, /^ {4}rate_limit\.limited:\n {6}- expected: true\n {6}\+ actual: {3}false$/m);
  assert.match(out, /\n10 passed, 1 failed\n$/);

  const json = await runCli(['test', '-c', f.config, '--json', f.fixtures]);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { passed: number; failed: number; results: { name: string; ok: boolean; line: number; sent: number; mismatches: { field: string; expected: unknown; actual: unknown }[] }[] };
  assert.equal(report.passed, 10);
  assert.equal(report.failed, 1);
  assert.equal(report.results[1]!.sent, 11);
  const failed = report.results.find((x) => !x.ok)!;
  assert.equal(failed.line, line);
  assert.deepEqual(failed.mismatches.map((m) => [m.field, m.expected, m.actual]), [
    ['upstream', 'web', 'api'], ['status', 200, null], ['headers.x-frame-options', 'SAMEORIGIN', 'DENY'], ['headers.x-missing', '1', null],
    ['rate_limit.limited', true, false],
  ]);
});

test('cli test: an invalid fixture file is listed with file, line, column and key, and exits 2', async () => {
  const f = files(`tests:
  - name: typo
    request: { url: "http://x.test/a", mehtod: GET }
    expect: { status: "429" }
  - name: more
    repeat: 0
    request: { url: /relative, client: nope }
    expect: { acess: deny, auth: maybe }
`);
  const r = await runCli(['test', '-c', f.config, f.fixtures]);
  assert.equal(r.code, 2, r.stdout);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  const at = (re: string): RegExp => new RegExp(`^${f.fixtures.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${re}$`);
  assert.match(lines[0]!, at('unknown key "mehtod" at tests\\[0\\]\\.request \\(line 3, col 40\\): did you mean "method"\\?'));
  assert.match(lines[1]!, at('expected a number, got "429" at tests\\[0\\]\\.expect\\.status \\(line 4, col 23\\)'));
  assert.match(lines[2]!, at('expected at least 1, got 0 at tests\\[1\\]\\.repeat \\(line 6, col 13\\)'));
  assert.match(lines[3]!, at('expected an absolute http:// or https:// URL, got "/relative" at tests\\[1\\]\\.request\\.url \\(line 7, col 21\\)'));
  assert.match(lines[4]!, at('expected an IPv4 or IPv6 address, got "nope" at tests\\[1\\]\\.request\\.client \\(line 7, col 40\\)'));
  assert.match(lines[5]!, at('unknown key "acess" at tests\\[1\\]\\.expect \\(line 8, col 15\\): did you mean "access"\\?'));
  assert.match(lines[6]!, at('expected one of none, pass, required, denied, not_checked, not_reached, got "maybe" at tests\\[1\\]\\.expect\\.auth \\(line 8, col 34\\)'));
  assert.equal(lines[7], '7 errors');

  // Names the config does not have, with a suggestion.
  const names = files(`tests:
  - name: names
    request: { url: "http://x.test/a" }
    expect: { route: apii, upstream: nope }
`);
  const n = await runCli(['test', '-c', names.config, names.fixtures]);
  assert.equal(n.code, 2);
  assert.match(n.stderr, /no route named "apii" in the config \(did you mean "api"\?\) at tests\[0\]\.expect\.route \(line 4, col 22\)/);
  assert.match(n.stderr, /no upstream named "nope" in the config \(it has api, web\) at tests\[0\]\.expect\.upstream \(line 4, col 38\)/);

  // An invalid config is exit 2 too; a missing FIXTURES argument is a usage error.
  const badConfig = files(PASSING);
  writeFileSync(badConfig.config, CONFIG.replace('upstream: api }', 'upstrem: api }'));
  const c = await runCli(['test', '-c', badConfig.config, badConfig.fixtures]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /unknown key "upstrem" at routes\[0\]\.proxy/);
  const usage = await runCli(['test', '-c', badConfig.config]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /test needs a FIXTURES file/);
});

/** The fenced block of docs/cli.md whose first line is `first`. */
function docBlock(doc: string, first: string): string {
  const block = [...doc.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith(first));
  assert.ok(block, `docs/cli.md has a block starting with ${first}`);
  return block;
}

test('cli test: the example of docs/cli.md passes as shown', async () => {
  const doc = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
  const f = files(docBlock(doc, '# fixtures.yaml'));
  writeFileSync(f.config, docBlock(doc, '# gatehouse.yaml'));
  const r = await runCli(['test', '-c', f.config, f.fixtures], { cwd: join(f.config, '..') });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(`$ gatehouse test -c gatehouse.yaml fixtures.yaml\n${r.stdout}`, docBlock(doc, '$ gatehouse test'));
});
