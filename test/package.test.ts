/** What a user installs: the package's name, files, scripts, license and documents, and the tests' own hygiene. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; type: string; license: string; bin: Record<string, string>; scripts: Record<string, string>; files: string[];
};

interface PackFile { path: string }
/** `npm pack --dry-run`: the files the published tarball holds (dist/ as built by `npm test`'s pretest). */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out) as { files: PackFile[] }[])[0]!.files.map((f) => f.path);
}

test('package: published as gatehouse-proxy (the name gatehouse is taken), with the gatehouse command, ESM, no install-time build', () => {
  assert.equal(pkg.name, 'gatehouse-proxy');
  assert.deepEqual(pkg.bin, { gatehouse: 'bin/gatehouse.js' });
  assert.equal(pkg.type, 'module');
  // npm runs prepare (and the install scripts) on the user's machine for git installs; the build belongs to prepack.
  for (const hook of ['prepare', 'preinstall', 'install', 'postinstall']) assert.equal(pkg.scripts[hook], undefined, hook);
  assert.match(pkg.scripts.prepack!, /build/);
  assert.match(pkg.scripts.prestart!, /build/);
  assert.match(pkg.scripts.pretest!, /build/);
});

test('package: the tarball holds the built code, the command, the schema, README, LICENSE, CHANGELOG and docs; no sources or tests', () => {
  const files = packedFiles();
  for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'CONTRIBUTING.md', 'bin/gatehouse.js', 'gatehouse.schema.json',
    'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'docs/configuration.md', 'docs/errors.md']) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  const stray = files.filter((f) => /^(src|test|bench|scripts|\.ci)\//.test(f) || f.startsWith('tsconfig'));
  assert.deepEqual(stray, []);
  // Every file the README links to is in the package, so its links work where it is read (npm, node_modules).
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const [, target] of readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
    if (!/^[a-z]+:/.test(target!)) assert.ok(files.includes(target!), `README links to ${target}, which is in the package`);
  }
});

test('package: the packed tarball installs into an empty folder, and its command validates every config in examples/', () => {
  const dir = tempDir('pack');
  // dist/ is built by `npm test`'s pretest: packed as it is (prepack would build it again).
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const tarball = join(dir, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
  // The dependencies come from npm's cache when it has them (`npm ci` filled it), else from the registry.
  const install = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, encoding: 'utf8' });
  assert.equal(install.status, 0, install.stderr);
  const bin = join(app, 'node_modules', 'gatehouse-proxy', 'bin', 'gatehouse.js');
  const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));
  assert.ok(examples.length >= 5, examples.join(', '));
  for (const f of examples) {
    const r = spawnSync(process.execPath, [bin, 'validate', '-c', join(ROOT, 'examples', f)], { cwd: app, encoding: 'utf8', env: { ...process.env, GATEHOUSE_ADMIN_TOKEN: 'example-token' } });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), `${join(ROOT, 'examples', f)}: valid`);
  }
});

test('deploy: the Dockerfile copies only files that exist, runs as a non-root user with a health check; the systemd unit reloads with SIGHUP', () => {
  const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  for (const [, from, srcs] of docker.matchAll(/^COPY (--from=\S+ )?(.+) \S+$/gm)) {
    if (from) continue;
    for (const src of srcs!.split(' ')) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: missing`);
  }
  assert.match(docker, /^USER node$/m);
  assert.match(docker, /^HEALTHCHECK .*\n?.*\/healthz/m);
  assert.match(docker, /^FROM \S+ AS build$/m);
  const unit = readFileSync(join(ROOT, 'deploy', 'gatehouse.service'), 'utf8');
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.match(unit, /^ExecStartPre=\S+ validate -c /m);
  assert.match(unit, /^KillMode=mixed$/m);
});

test('package: every source map in the tarball carries the sources it points at', () => {
  const maps = packedFiles().filter((f) => f.endsWith('.map'));
  assert.ok(maps.length > 10, 'source maps are shipped');
  for (const m of maps) {
    const map = JSON.parse(readFileSync(join(ROOT, m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    map.sources.forEach((source, i) => {
      const original = resolve(ROOT, dirname(m), source);
      assert.equal(map.sourcesContent?.[i], readFileSync(original, 'utf8'), `${m}: the content of ${source} is inlined`);
    });
  }
});

test('package: MIT LICENSE as package.json says; README says how to install and that it is ESM only', () => {
  assert.equal(pkg.license, 'MIT');
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} /);
  assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /npm install -g gatehouse-proxy/);
  assert.match(readme, /npx gatehouse-proxy /);
  assert.match(readme, /ESM only/);
  assert.match(readme, /from 'gatehouse-proxy'/);
  assert.doesNotMatch(readme, /from 'gatehouse'/);
  // The programs the tests need, by name.
  for (const program of ['openssl', 'python3', 'pebble', 'script']) assert.match(readme, new RegExp(`\`${program}\``), program);
  assert.match(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'), /^# Changelog\n/);
});

/** Markdown files of the repository that users and contributors read. */
function documents(): string[] {
  return ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));
}

test('docs: no link or path reference leaves the repository; every relative link resolves', () => {
  const problems: string[] = [];
  for (const doc of documents()) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // URLs are checked below
      const file = resolve(ROOT, dirname(doc), target!.replace(/#.*$/, ''));
      if (relative(ROOT, file).startsWith('..')) problems.push(`${doc}: ${target} is outside the repository`);
      else if (!existsSync(file)) problems.push(`${doc}: ${target} does not exist`);
    }
    for (const [ref] of text.matchAll(/(?<![\w./%])\.\.\/[\w./-]+/g)) problems.push(`${doc}: ${ref} points outside`);
    for (const [url] of text.matchAll(/\]\((https?:\/\/[^)]+)\)/g)) problems.push(`${doc}: links out to ${url}`);
  }
  assert.deepEqual(problems, []);
});

test('bin/gatehouse.js without dist/ says to build, in one line', () => {
  const dir = tempDir('bin');
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'bin/gatehouse.js'), join(dir, 'bin/gatehouse.js'));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  const r = spawnSync(process.execPath, [join(dir, 'bin/gatehouse.js'), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'gatehouse: dist/ is missing: run "npm run build" in the repository first\n');
});

/** Every .ts file under test/. */
function testFiles(dir = join(ROOT, 'test')): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? testFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('tests leave no temporary directories behind: they make them through helpers/tmp.ts, which removes them on exit', () => {
  const own = join(ROOT, 'test/helpers/tmp.ts');
  const self = join(ROOT, 'test/package.test.ts'); // holds the pattern below
  const direct = testFiles().filter((f) => f !== own && f !== self && /mkdtemp|tmpdir\(\)/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(direct.map((f) => relative(ROOT, f)), [], 'use tempDir() from test/helpers/tmp.ts');
  const script = `import { tempDir } from ${JSON.stringify(own)}; import { writeFileSync } from 'node:fs';
const d = tempDir('probe'); writeFileSync(d + '/key.pem', 'secret'); console.log(d);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const dir = r.stdout.trim();
  assert.match(dir, /gh-probe-/);
  assert.equal(existsSync(dir), false, `${dir} was removed when the process exited`);
});
