/**
 * `gatehouse test -c FILE FIXTURES...`: request fixtures with expected outcomes checked offline against a
 * config (fixtures.ts has the format, fixture-run.ts the checks), so a config change is tested in CI before it
 * ships. One line per fixture, a diff per field that fails, a summary; exit 0 when all pass, 1 when one fails,
 * 2 when the config or a fixture file is invalid (or on a usage error).
 */
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.js';
import type { GatehouseConfig } from '../schema.js';
import { runFixture, type FixtureResult, type Mismatch } from './fixture-run.js';
import { fixtureAt, loadFixtures, type FixtureFile } from './fixtures.js';
import { HELP } from './help.js';
import { loadWithPlugins } from './plugin-files.js';
import { errorText } from './run.js';
import { UsageError } from './usage.js';

/** The exit status for an invalid config or fixture file (a failing fixture is 1). */
const INVALID_EXIT = 2;

export interface TestResult extends FixtureResult { file: string; line?: number }

function shown(v: unknown, field: string): string {
  if (v === undefined) return field.includes('headers.') ? 'absent' : 'none';
  if (v === null) return field.includes('headers.') ? 'absent' : 'null';
  // A string as it is (a header value's quotes stay readable), unless blank; a map as JSON.
  if (typeof v === 'string') return v.trim() === v && v !== '' ? v : JSON.stringify(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function diffLines(m: Mismatch): string[] {
  return [
    `    ${m.field}:`,
    `      - expected: ${shown(m.expected, m.field)}`,
    `      + actual:   ${shown(m.actual, m.field)}${m.note ? ` (${m.note})` : ''}`,
  ];
}

/** The report for a person: ✓/✗ per fixture (files named when there are several), diffs, the summary. */
function formatResults(results: readonly TestResult[], files: readonly string[]): string {
  const lines: string[] = [];
  let current: string | undefined;
  for (const r of results) {
    if (files.length > 1 && r.file !== current) lines.push(`${lines.length ? '\n' : ''}${r.file}`);
    current = r.file;
    const pad = files.length > 1 ? '  ' : '';
    if (r.ok) {
      lines.push(`${pad}✓ ${r.name}`);
      continue;
    }
    lines.push(`${pad}✗ ${r.name} (${r.file}${r.line !== undefined ? `:${r.line}` : ''})`);
    for (const m of r.mismatches) lines.push(...diffLines(m).map((l) => pad + l));
  }
  const failed = results.filter((r) => !r.ok).length;
  lines.push('', `${results.length - failed} passed, ${failed} failed`);
  return lines.join('\n');
}

/** The report for CI: the counts, and per fixture its outcome, mismatches and what it got. */
function jsonResults(results: readonly TestResult[]): string {
  const failed = results.filter((r) => !r.ok).length;
  return JSON.stringify({
    passed: results.length - failed, failed,
    results: results.map((r) => ({ ...r, mismatches: r.mismatches.map((m) => ({ ...m, actual: m.actual ?? null })) })),
  }, null, 2);
}

async function runFile(config: GatehouseConfig, path: string, fixtures: FixtureFile, baseDir: string): Promise<TestResult[]> {
  const out: TestResult[] = [];
  for (const [i, f] of fixtures.tests.entries()) {
    const { line } = fixtureAt(fixtures, i);
    out.push({ file: path, ...(line !== undefined ? { line } : {}), ...await runFixture(config, f, { baseDir }) });
  }
  return out;
}

function parse(args: string[]): { config: string; files: string[]; json: boolean; plugins: string[]; help: boolean } {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c', default: 'gatehouse.yaml' }, json: { type: 'boolean' },
      plugin: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
    },
  });
  return { config: values.config!, files: positionals, json: values.json ?? false, plugins: values.plugin ?? [], help: values.help ?? false };
}

export async function cmdTest(args: string[], out: (text: string) => void): Promise<number> {
  const opts = parse(args);
  if (opts.help) return out(HELP.test!), 0;
  if (!opts.files.length) throw new UsageError('test needs a FIXTURES file, e.g. gatehouse test -c gatehouse.yaml fixtures.yaml');
  try {
    const { config } = await loadWithPlugins(opts.config, opts.plugins);
    // Every file is read and checked before any runs: a bad one stops the run (exit 2) with all its problems.
    const loaded: [string, FixtureFile][] = [];
    for (const f of opts.files) loaded.push([f, await loadFixtures(f, config)]);
    const results: TestResult[] = [];
    for (const [file, fixtures] of loaded) results.push(...await runFile(config, file, fixtures, dirname(resolve(opts.config))));
    out(opts.json ? jsonResults(results) : formatResults(results, opts.files));
    return results.every((r) => r.ok) ? 0 : 1;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${errorText(err).replace(/errors in config$/, 'errors')}\n`);
    return INVALID_EXIT;
  }
}
