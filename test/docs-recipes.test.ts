/**
 * The configs the guides show are checked as `gatehouse validate` checks a file: each ```yaml block of
 * docs/getting-started.md and docs/recipes.md is written to a file of its own and loaded (schema, and the
 * certificate files it names, made here with openssl), and must give no warning either. So a renamed key or
 * a changed default cannot leave a guide showing a config that no longer works. A block whose first line is
 * `# fragment` is a piece of a config, not checked; keep those few (the test counts them). Other YAML, such as
 * Traefik's dynamic configuration, is fenced as ```yaml traefik, which this test does not read.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { configWarnings } from '../src/check.js';
import { formatIssue } from '../src/config/errors.js';
import { loadConfig } from '../src/index.js';
import { makeCa, makeLeaf, type Ca, type Leaf } from './helpers/certs.js';
import { ROOT } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const GUIDES = ['docs/getting-started.md', 'docs/recipes.md'];
const FRAGMENT = '# fragment';
const MAX_FRAGMENTS = 2;

interface Block { doc: string; line: number; text: string }

/** The ```yaml blocks of a markdown file, with the line each starts on. */
function yamlBlocks(doc: string): Block[] {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  const blocks: Block[] = [];
  for (const m of text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)) {
    blocks.push({ doc, line: text.slice(0, m.index).split('\n').length, text: m[1]! });
  }
  return blocks;
}

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The files a config names, by kind: certificate + key pairs, CA bundles, error pages. */
function namedFiles(cfg: Tree): { pairs: [string, string][]; cas: string[]; pages: string[] } {
  const pairs: [string, string][] = [];
  const cas: string[] = [];
  const pages: string[] = [];
  for (const l of list(cfg.listeners)) {
    const tls = isTree(l) && isTree(l.tls) ? l.tls : undefined;
    if (!tls) continue;
    for (const c of list(tls.certificates)) if (isTree(c) && str(c.cert) && str(c.key)) pairs.push([c.cert as string, c.key as string]);
    if (isTree(tls.client_auth) && str(tls.client_auth.ca)) cas.push(tls.client_auth.ca as string);
  }
  for (const u of Object.values(isTree(cfg.upstreams) ? cfg.upstreams : {})) {
    const tls = isTree(u) && isTree(u.tls) ? u.tls : undefined;
    if (tls && str(tls.ca)) cas.push(tls.ca as string);
    if (tls && str(tls.cert) && str(tls.key)) pairs.push([tls.cert as string, tls.key as string]);
  }
  for (const r of list(cfg.routes)) {
    if (!isTree(r) || !isTree(r.error_pages)) continue;
    for (const p of Object.values(r.error_pages)) if (isTree(p) && str(p.file)) pages.push(p.file as string);
  }
  return { pairs, cas, pages };
}

let certs: { ca: Ca; leaf: Leaf } | undefined;
/** One CA and one leaf, copied wherever a config names a certificate, key or CA file. */
function testCerts(): { ca: Ca; leaf: Leaf } {
  certs ??= (() => { const ca = makeCa(); return { ca, leaf: makeLeaf(ca, 'example.com', ['example.com', '*.example.com']) }; })();
  return certs;
}

function place(dir: string, rel: string, from: string): void {
  const to = join(dir, rel);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

/** Sets every variable the block reads (`${NAME}`, `token_env`, `*_password_env`) that is not set; returns an undo. */
function provideEnv(text: string): () => void {
  const names = new Set<string>();
  for (const [, name] of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)) names.add(name!);
  for (const [, name] of text.matchAll(/(?:token_env|password_env):\s*"?([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(name!);
  const set = [...names].filter((n) => process.env[n] === undefined);
  for (const n of set) process.env[n] = 'docs-test-value-0123456789abcdef';
  return () => { for (const n of set) delete process.env[n]; };
}

async function checkBlock(b: Block): Promise<void> {
  const dir = tempDir('docs');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, b.text);
  const tree = parse(b.text) as unknown;
  assert.ok(isTree(tree), 'the block is a YAML map');
  const { pairs, cas, pages } = namedFiles(tree);
  if (pairs.length || cas.length) {
    const { ca, leaf } = testCerts();
    for (const [cert, key] of pairs) { place(dir, cert, leaf.cert); place(dir, key, leaf.key); }
    for (const c of cas) place(dir, c, ca.cert);
  }
  for (const p of pages) { mkdirSync(dirname(join(dir, p)), { recursive: true }); writeFileSync(join(dir, p), '<h1>{status} {reason}</h1>\n'); }
  const undo = provideEnv(b.text);
  try {
    const cfg = await loadConfig(file);
    assert.deepEqual(configWarnings(cfg).map((w) => formatIssue(w, 'warning')), [], 'no warnings');
  } finally {
    undo();
  }
}

const blocks = GUIDES.flatMap(yamlBlocks);
const whole = blocks.filter((b) => !b.text.startsWith(FRAGMENT));

test('docs: the guides show configs, and only a few fragments that are not whole configs', () => {
  for (const doc of GUIDES) assert.ok(whole.some((b) => b.doc === doc), `${doc} has whole configs`);
  assert.ok(blocks.length - whole.length <= MAX_FRAGMENTS, `at most ${MAX_FRAGMENTS} blocks marked "${FRAGMENT}"`);
});

for (const b of whole) {
  test(`docs: ${b.doc} line ${b.line}: the config validates with no warning`, () => checkBlock(b));
}

test('docs: getting-started shows the file `gatehouse init --shape single-app` writes', () => {
  const example = readFileSync(join(ROOT, 'examples/single-app.yaml'), 'utf8').replace(/^(#.*\n)+/, '');
  assert.ok(whole.some((b) => b.doc === 'docs/getting-started.md' && b.text === example), 'examples/single-app.yaml without its opening comments');
});

test('docs: docs/README.md, the index, links every page of docs/', () => {
  const index = readFileSync(join(ROOT, 'docs/README.md'), 'utf8');
  const linked = new Set([...index.matchAll(/\]\(([\w.-]+\.md)\)/g)].map((m) => m[1]));
  const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md');
  assert.deepEqual(pages.filter((p) => !linked.has(p)), [], 'add a line for each page to docs/README.md');
});
