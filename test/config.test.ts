import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigDocs } from '../src/config/docs.js';
import { toJsonSchema } from '../src/config/json-schema.js';
import { parseConfigText } from '../src/config/load.js';
import { ConfigError, createGatehouse, configSchema } from '../src/index.js';
import { coreContract } from './helpers/contracts.js';

const parse = (text: string) => parseConfigText(configSchema, text, { file: 'gatehouse.yaml' });
function errorsOf(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

const CONTRACT = coreContract();

test('config: the contract config is valid, with defaults filled in', () => {
  const cfg = parse(CONTRACT);
  assert.equal(cfg.routes.length, 3);
  assert.equal(cfg.upstreams.app!.retries, 2);
  assert.equal(cfg.upstreams.app!.timeouts.connect, 5000);
  assert.equal(cfg.shutdown.timeout, 30_000);
  assert.ok(Object.isFrozen(cfg.routes[0]));
});

test('config: a typo names file, line, column and key path, and suggests the closest key', () => {
  const text = CONTRACT.replace('proxy: { upstream: app }', 'proxy: { upstrem: app }');
  const errs = errorsOf(text);
  assert.deepEqual(errs, ['gatehouse.yaml: unknown key "upstrem" at routes[1].proxy (line 14, col 14): did you mean "upstream"?']);
});

test('config: every error at once, references checked, durations and sizes validated', () => {
  const text = `listeners:
  - name: public
    address: localhost
upstreams:
  app:
    servers: [ftp://x, { url: http://127.0.0.1:1, wieght: 2 }]
    timeouts: { connect: 5 seconds }
routes:
  - match: { path: /a/ }
    proxy: { upstream: ap }
  - match: { path: /b/ }
    respond: { status: 200 }
    redirect: { to: /c }
  - match: { path_regex: "([" }
    respond: {}
`;
  const errs = errorsOf(text);
  assert.equal(errs.length, 7, errs.join('\n'));
  assert.match(errs[0]!, /expected host:port.*got "localhost" at listeners\[0\]\.address \(line 3, col 14\)/);
  assert.match(errs[1]!, /expected an http:\/\/ or https:\/\/ URL.*at upstreams\.app\.servers\[0\] \(line 6, col 15\)/);
  assert.match(errs[2]!, /unknown key "wieght" at upstreams\.app\.servers\[1\] \(line 6, col 51\): did you mean "weight"\?/);
  assert.match(errs[3]!, /expected a duration.*got "5 seconds" at upstreams\.app\.timeouts\.connect \(line 7/);
  assert.match(errs[4]!, /unknown upstream "ap" \(defined: app\) at routes\[0\]\.proxy\.upstream \(line 10, col 24\)/);
  assert.match(errs[5]!, /a route takes one action, found respond and redirect at routes\[1\] \(line 11/);
  assert.match(errs[6]!, /invalid regular expression.*at routes\[2\]\.match\.path_regex \(line 14/);
});

test('config: YAML syntax errors and duplicate keys are reported with their position', () => {
  const errs = errorsOf('listeners:\n  - name: a\n    name: b\n    address: 127.0.0.1:1\n');
  assert.match(errs[0]!, /^gatehouse\.yaml: Map keys must be unique \(line 3, col 5\)/);
});

test('config: JSON works too, and the library rejects bad objects with the same errors', () => {
  const cfg = parseConfigText(configSchema, JSON.stringify({ listeners: [{ name: 'p', address: ':8080' }] }));
  assert.equal(cfg.listeners[0]!.address, ':8080');
  assert.throws(
    () => createGatehouse({ listeners: [{ name: 'p', address: '127.0.0.1:1' }], routes: [{ match: { path: '/' }, proxy: { upstream: 'none' } }] }),
    (err: unknown) => err instanceof ConfigError && /unknown upstream "none" \(no upstreams are defined\) at routes\[0\]\.proxy\.upstream/.test(err.message),
  );
});

test('config: sizes accept KiB/MiB and bytes', async () => {
  const { parseSize, parseDuration } = await import('../src/config/units.js');
  assert.equal(parseSize('16KiB'), 16384);
  assert.equal(parseSize('10MiB'), 10 * 1024 * 1024);
  assert.equal(parseSize('1GB'), 1e9);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('5 parsecs'), undefined);
});

test('config: gatehouse.schema.json and docs/configuration.md are generated from the schema (run npm run docs)', () => {
  const schema = toJsonSchema(configSchema);
  const committed = JSON.parse(readFileSync(new URL('../gatehouse.schema.json', import.meta.url), 'utf8')) as unknown;
  assert.deepEqual(committed, JSON.parse(JSON.stringify(schema)));
  assert.equal(readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8'), renderConfigDocs(schema));
  assert.doesNotThrow(() => parse(readFileSync(new URL('../gatehouse.yaml', import.meta.url), 'utf8')));
});

test('docs/errors.md lists every error code of the catalogue', async () => {
  const { errors } = await import('../src/core/errors.js');
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const make of Object.values(errors)) {
    const code = (make as (c?: unknown) => { code: string })(undefined).code;
    assert.ok(doc.includes(`\`${code}\``), `${code} is documented`);
  }
});

test('config: the issue #4 contract (balancing, health, backups, weights, hash) validates as written', () => {
  const cfg = parse(`listeners:
  - name: public
    address: 127.0.0.1:18080
upstreams:
  app:
    balance: round_robin            # least_request | random | p2c | hash
    retries: 2
    health:
      active: { path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
      passive: { failures: 3, ejection: 10s }
    servers:
      - http://127.0.0.1:19001
      - http://127.0.0.1:19002
      - http://127.0.0.1:19003
      - { url: http://127.0.0.1:19004, backup: true }
  weighted:
    servers:
      - { url: http://127.0.0.1:19001, weight: 3 }
      - { url: http://127.0.0.1:19002, weight: 1 }
  sticky:
    balance: hash
    hash: { key: "header:x-user" }  # or client_ip, cookie:NAME, path
    servers: [http://127.0.0.1:19001, http://127.0.0.1:19002, http://127.0.0.1:19003]
routes:
  - match: { path: /w/ }
    rewrite: { strip_prefix: /w }
    proxy: { upstream: weighted }
  - match: { path: /h/ }
    rewrite: { strip_prefix: /h }
    proxy: { upstream: sticky }
  - match: { path: / }
    proxy: { upstream: app }
`);
  const app = cfg.upstreams.app!;
  assert.equal(app.health!.active!.interval, 1000);
  assert.equal(app.health!.active!.timeout, 500);
  assert.equal(app.health!.passive!.ejection, 10_000);
  assert.deepEqual(app.servers[3], { url: 'http://127.0.0.1:19004', weight: 1, backup: true });
  assert.equal(cfg.upstreams.sticky!.balance, 'hash');
  assert.equal(cfg.upstreams.sticky!.hash!.key, 'header:x-user');
  const errs = errorsOf(`listeners: [{ name: p, address: ":1" }]
upstreams:
  a:
    balance: round_robbin
    servers: [{ url: "http://127.0.0.1:1", backup: true }]
`);
  assert.match(errs.join('\n'), /balance/);
  assert.match(errs.join('\n'), /every server is a backup/);
});

test('config: header names must be tokens and values free of CR/LF (no header injection from a config)', () => {
  const errs = errorsOf(`listeners:
  - name: public
    address: 127.0.0.1:18080
hide_headers: ["X Bad"]
routes:
  - match: {}
    headers: { response: { set: { X-A: "a\\r\\nSet-Cookie: evil=1" }, add: { "Bad Name": x } } }
    respond: { body: "hi" }
`);
  assert.equal(errs.length, 3, errs.join('\n'));
  assert.match(errs[0]!, /header name .* at hide_headers\[0\] \(line 4, col 16\)/);
  assert.match(errs[1]!, /expected a header value without CR, LF .* at routes\[0\]\.headers\.response\.set\.X-A \(line 7, col 40\)/);
  assert.match(errs[2]!, /key "Bad Name": expected a header name .* at routes\[0\]\.headers\.response\.add\["Bad Name"\]/);
});

test('config: errors list allowed values, hint at a duration unit, name no zod phrase, never show a secret', () => {
  const errs = errorsOf(`listeners:
  - name: public
    address: 127.0.0.1:18080
limits: { header_timeout: 30, body_size: 10M }
overload: true
upstreams:
  app:
    balance: round_robbin
    servers: []
    sticky: { cookie: s, secret: "short-secret" }
routes:
  - match: { path: /a/ }
    redirect: { to: /x, status: 300 }
  - match: { path: /private/ }
    auth: { basic: { users: { alice: "hunter2" } } }
    proxy: { upstream: app }
`);
  assert.deepEqual(errs, [
    'gatehouse.yaml: expected a duration with a unit, such as 30s or 30ms, got 30 at limits.header_timeout (line 4, col 27)',
    'gatehouse.yaml: expected a size such as 512 (bytes), 16KiB or 10MiB (powers of 1024), 16KB or 10MB (powers of 1000), got "10M" at limits.body_size (line 4, col 42)',
    'gatehouse.yaml: expected a map or false, got true at overload (line 5, col 11)',
    'gatehouse.yaml: expected one of round_robin, least_request, random, p2c, hash, got "round_robbin" at upstreams.app.balance (line 8, col 14): did you mean "round_robin"?',
    'gatehouse.yaml: expected at least one item, got an empty list at upstreams.app.servers (line 9, col 14)',
    'gatehouse.yaml: expected at least 16 characters, got something else (not shown: it is a secret) at upstreams.app.sticky.secret (line 10, col 34)',
    'gatehouse.yaml: expected one of 301, 302, 303, 307, 308, got 300 at routes[0].redirect.status (line 13, col 33)',
    'gatehouse.yaml: expected a password hash from `gatehouse hash-password` (plain-text passwords are refused), got something else (not shown: it is a secret) at routes[1].auth.basic.users.alice (line 15, col 38)',
  ]);
  const text = errs.join('\n');
  assert.ok(!/hunter2|short-secret/.test(text), 'secrets are not echoed');
  assert.ok(!/Too small|Invalid (input|option|string)|expected expected/.test(text), 'no zod phrases, no doubled prefix');
});

test('config: an object given to the library is reported by key path, with no made-up position', () => {
  assert.throws(
    () => createGatehouse({ listeners: [{ name: 'p', address: 'x' }], upstreams: { a: { servers: [] } }, routes: [{ match: { path: '/' }, proxy: { upstrem: 'a' } as never }] }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.message.split('\n'), [
        'expected host:port, e.g. 127.0.0.1:8080, [::1]:8080 or :8080, got "x" at listeners[0].address',
        'expected at least one item, got an empty list at upstreams.a.servers',
        'unknown key "upstrem" at routes[0].proxy: did you mean "upstream"?',
      ]);
      return true;
    },
  );
});

test('config: sizes are bytes, KiB/MiB/GiB (powers of 1024) or KB/MB/GB (powers of 1000); K, M, G and lower case are refused', async () => {
  const { parseSize } = await import('../src/config/units.js');
  assert.equal(parseSize('10MB'), 10_000_000);
  assert.equal(parseSize('10MiB'), 10 * 1024 * 1024);
  for (const ambiguous of ['10M', '16K', '1G', '10mb', '16kib']) assert.equal(parseSize(ambiguous), undefined, ambiguous);
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  assert.match(doc, /KiB, MiB, GiB are powers of 1024; KB, MB, GB powers of 1000/);
});

test('config: match.host with a port (it would never match) is an error', () => {
  const errs = errorsOf(`listeners: [{ name: p, address: "127.0.0.1:1" }]
routes:
  - match: { host: "example.com:8080" }
    respond: {}
  - match: { host: ["a.test", "[::1]:443", "::1"] }
    respond: {}
`);
  assert.deepEqual(errs, [
    'gatehouse.yaml: host "example.com:8080" has a port and would never match: hosts are matched without the port (write "example.com"; match.listener selects by listener) at routes[0].match.host (line 3, col 20)',
    'gatehouse.yaml: host "[::1]:443" has a port and would never match: hosts are matched without the port (write "[::1]"; match.listener selects by listener) at routes[1].match.host[1] (line 5, col 31)',
    'gatehouse.yaml: host "::1" would never match: an IPv6 address is written in brackets, as in the Host header ("[::1]") at routes[1].match.host[2] (line 5, col 44)',
  ]);
  assert.doesNotThrow(() => parse('listeners: [{ name: p, address: "127.0.0.1:1" }]\nroutes: [{ match: { host: ["[::1]", "*.a.test"] }, respond: {} }]\n'));
});

test('config: ${NAME} in values is replaced from the environment; a missing variable is an error naming it', () => {
  const env = { PORT: '18080', HOST: 'api.test', RETRIES: '3', TOKEN_HASH: '', EMPTY: '' };
  const text = `listeners:
  - name: public
    address: "127.0.0.1:\${PORT}"
upstreams:
  app:
    retries: \${RETRIES}
    host: "\${UPSTREAM_HOST:-backend.internal}"
    servers: ["http://\${HOST}:9001"]
routes:
  - match: { host: "\${HOST}", path: "/cost/$\${price}" }
    respond: { body: "\${EMPTY:-fallback} \${EMPTY}|\${HOST}" }
`;
  const cfg = parseConfigText(configSchema, text, { file: 'gatehouse.yaml', env });
  assert.equal(cfg.listeners[0]!.address, '127.0.0.1:18080');
  assert.equal(cfg.upstreams.app!.retries, 3, 'an unquoted value is read as a number');
  assert.equal(cfg.upstreams.app!.host, 'backend.internal');
  assert.deepEqual(cfg.upstreams.app!.servers, ['http://api.test:9001']);
  assert.equal(cfg.routes[0]!.match.host, 'api.test');
  assert.equal(cfg.routes[0]!.match.path, '/cost/${price}', '$${ is a literal ${');
  assert.equal(cfg.routes[0]!.respond!.body, 'fallback |api.test');

  assert.throws(() => parseConfigText(configSchema, `listeners:
  - name: public
    address: "127.0.0.1:\${PORT}"
routes:
  - match: { host: "\${API_HOST}" }
    respond: { body: "\${oops" }
`, { file: 'gatehouse.yaml', env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.message.split('\n'), [
      'gatehouse.yaml: environment variable PORT is not set (${PORT:-default} gives a default) at listeners[0].address (line 3, col 14)',
      'gatehouse.yaml: environment variable API_HOST is not set (${API_HOST:-default} gives a default) at routes[0].match.host (line 5, col 20)',
      'gatehouse.yaml: "${oops" is not a variable reference: write ${NAME} or ${NAME:-default} (and $${ for a literal ${) at routes[0].respond.body (line 6, col 22)',
    ]);
    return true;
  });
});
