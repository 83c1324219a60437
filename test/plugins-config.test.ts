import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { plugin as abSplit } from '../examples/plugins/ab-split.js';
import { plugin as headerSigner } from '../examples/plugins/header-signer.js';
import {
  ConfigError, configSchemaFor, createGatehouse, definePlugin, loadConfig, parseConfig, type GatehouseConfigInput,
} from '../src/index.js';
import { toJsonSchema } from '../src/config/json-schema.js';
import { send } from './helpers/client.js';
import { ROOT, runCli, startCli } from './helpers/cli.js';
import { startOrigin } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

const DOC = readFileSync(join(ROOT, 'docs/plugins.md'), 'utf8');
const TAGGER = join(ROOT, 'test/fixtures/tagger-plugin.mjs');

function writeFile(text: string, name = 'gatehouse.yaml'): string {
  const dir = tempDir('plugins');
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function configErrors(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  return assert.fail('expected a ConfigError');
}

/** The fenced block of docs/plugins.md that contains `needle`, and the block after it. */
function docBlocks(needle: string): [string, string] {
  const blocks = [...DOC.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const i = blocks.findIndex((b) => b.includes(needle));
  assert.ok(i >= 0, `no block with ${needle}`);
  return [blocks[i]!, blocks[i + 1] ?? ''];
}

test('plugins: docs/plugins.md shows the example plugins exactly as tested', () => {
  for (const file of ['header-signer.ts', 'ab-split.ts']) {
    const source = readFileSync(join(ROOT, 'examples/plugins', file), 'utf8');
    const [block] = docBlocks(source.split('\n')[0]!);
    assert.equal(block, source.replace("'../../src/index.js'", "'gatehouse-proxy'"), `${file} and its copy in docs/plugins.md differ`);
  }
});

test('plugins: a bad plugin setting in a YAML file is an error with line and column (the docs example)', async () => {
  const [yaml, output] = docBlocks('secret: too-short');
  const file = writeFile(yaml);
  const errs = await configErrors(loadConfig(file, { plugins: [headerSigner] }));
  const expected = output.trim().split('\n').filter((l) => !/errors in config$/.test(l)).map((l) => l.replace(/^gatehouse\.yaml:/, `${file}:`));
  assert.deepEqual(errs, expected);
  assert.equal(expected.length, 3);
});

test('plugins: settings for a plugin that is not given are unknown keys; one validated for other plugins is refused', async () => {
  const file = writeFile(`listeners: [{ name: public, address: "127.0.0.1:0" }]
upstreams: { app: { servers: ["http://127.0.0.1:1"] } }
routes:
  - match: { path: / }
    plugins:
      header_signer: {}
    proxy: { upstream: app }
`);
  assert.deepEqual(await configErrors(loadConfig(file)), [`${file}: unknown key "header_signer" at routes[0].plugins (line 6, col 7)`]);
  assert.deepEqual(await configErrors(loadConfig(file, { plugins: [abSplit] })), [`${file}: unknown key "header_signer" at routes[0].plugins (line 6, col 7)`]);
  // header_signer needs its plugin-wide secret.
  assert.deepEqual(await configErrors(loadConfig(file, { plugins: [headerSigner] })), [`${file}: missing required key "header_signer" (a map) at plugins (line 1, col 1)`]);

  const input: GatehouseConfigInput = {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], upstreams: { app: { servers: ['http://127.0.0.1:1'] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  };
  const plain = parseConfig(input);
  assert.throws(() => createGatehouse(plain, { plugins: [abSplit] }), /this config was validated for plugins \[\], not \[ab_split\]: give loadConfig\/parseConfig the plugins given to createGatehouse/);
  const bad = { ...input, routes: [{ ...input.routes![0]!, plugins: { ab_split: { variants: {} } } }] };
  assert.throws(() => createGatehouse(bad, { plugins: [abSplit] }), /at least one variant needs a weight above 0 at routes\[0\]\.plugins\.ab_split\.variants/);
});

test('plugins: a plugin schema may turn a setting into a Buffer (a key), which the plugin gets as is', () => {
  const keyed = definePlugin({ name: 'keyed', schema: z.strictObject({ key: z.base64().transform((s) => Buffer.from(s, 'base64')) }), create: () => ({}) });
  const cfg = parseConfig({ listeners: [{ name: 'public', address: '127.0.0.1:0' }], plugins: { keyed: { key: 'c2VjcmV0' } } }, { plugins: [keyed] });
  assert.deepEqual(cfg.plugins.keyed, { key: Buffer.from('secret') });
});

test('plugins: a malformed plugin list is refused: bad or taken names, twice the same, a schema that is not zod', () => {
  const config: GatehouseConfigInput = { listeners: [{ name: 'public', address: '127.0.0.1:0' }] };
  const make = (name: string, extra: object = {}) => definePlugin({ name, create: () => ({}), ...extra });
  const cases: [unknown[], RegExp][] = [
    [[make('My-Plugin')], /plugin "My-Plugin": a name must be snake_case/],
    [[make('auth')], /plugin "auth": the name of a built-in plugin/],
    [[make('one'), make('one')], /plugin "one": given twice/],
    [[make('old', { schema: { parse: () => ({}) } })], /plugin "old": schema is not a zod 4 schema/],
    [[{ name: 'half' }], /not a plugin: half/],
  ];
  for (const [plugins, message] of cases) {
    assert.throws(() => createGatehouse(config, { plugins: plugins as never }), message);
  }
});

test('plugins: the JSON Schema for given plugins describes their settings; the shipped one accepts any', () => {
  const tagged = definePlugin({ name: 'tagged', schema: z.strictObject({ tag: z.string().describe('The tag') }), routeSchema: z.boolean(), create: () => ({}) });
  const json = toJsonSchema(configSchemaFor([tagged])) as { properties: Record<string, { properties?: Record<string, { properties?: Record<string, { description?: string }> }> }> };
  assert.equal(json.properties.plugins!.properties!.tagged!.properties!.tag!.description, 'The tag');
  const shipped = JSON.parse(readFileSync(join(ROOT, 'gatehouse.schema.json'), 'utf8')) as { properties: Record<string, { additionalProperties?: unknown }> };
  assert.deepEqual(shipped.properties.plugins!.additionalProperties, {});
});

test('plugins: gatehouse validate, schema and run take --plugin FILE', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(`tag=${req.headers['x-team'] ?? 'none'}`));
  const file = writeFile(`listeners: [{ name: public, address: "127.0.0.1:0" }]
upstreams: { app: { servers: ["${origin.url}"] } }
access_log: { enabled: false }
plugins:
  tagger: { tag: blue }
routes:
  - match: { path: / }
    plugins:
      tagger: { header: x-team }
    proxy: { upstream: app }
`);
  const without = await runCli(['validate', file]);
  assert.equal(without.code, 1);
  assert.deepEqual(without.stderr.trim().split('\n'), [
    `${file}: unknown key "tagger" at plugins (line 5, col 3): a plugin is loaded with --plugin FILE (no plugins are loaded)`,
    `${file}: unknown key "tagger" at routes[0].plugins (line 9, col 7): a plugin is loaded with --plugin FILE (no plugins are loaded)`,
    '2 errors in config',
  ]);
  const valid = await runCli(['validate', file, '--plugin', TAGGER]);
  assert.equal(valid.code, 0, valid.stderr);
  assert.equal(valid.stdout, `${file}: valid\n`);
  const missing = await runCli(['validate', file, '--plugin', 'no-such-plugin.js']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'gatehouse: --plugin no-such-plugin.js: cannot load: file not found\n']);
  const schema = await runCli(['schema', '--plugin', TAGGER]);
  assert.match(schema.stdout, /"tagger"/);

  const proxy = await startCli(t, ['run', '-c', file, '--plugin', TAGGER]);
  assert.equal((await send(`${proxy.url}/`)).text, 'tag=blue');
  proxy.child.kill('SIGTERM');
  const r = await proxy.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /"plugin":"tagger".*"msg":"tagger ready"/);
});
