/**
 * Reads a YAML or JSON config (JSON is YAML 1.2), validates it against a zod schema and reports every
 * problem at once with file, line, column and key path. The schema comes from the caller (the composition
 * root), so this module knows no capability.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, type ConfigPath } from './errors.js';
import { substituteEnv } from './env.js';
import { describeIssue, type PlacedMessage } from './issues.js';
import { toJsonSchema, type JsonSchema } from './json-schema.js';

interface Located { node?: Node; keyNode?: Node }

/** Finds the YAML node for a path, and the key node of the last map entry on the way. */
function locate(doc: Document, path: ConfigPath): Located {
  let node: unknown = doc.contents;
  let keyNode: Node | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return { node: node as Node, keyNode };
      keyNode = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      keyNode = undefined;
      node = node.items[seg];
    } else {
      return { node: node as Node | undefined, keyNode };
    }
  }
  return { node: (node as Node | null) ?? undefined, keyNode };
}

/** Where a config came from: its file and its YAML document (key positions). */
interface Source { doc: Document | undefined; lines: LineCounter; file?: string }
interface Ctx extends Source { data: unknown; json: JsonSchema }

/**
 * The source of each config validated from text, so problems found later (files it names, warnings) are
 * placed by line and column too. Keyed by the frozen config object: nothing is shared between configs.
 */
const sources = new WeakMap<object, Source>();

/** A message with the file, line and column of its key path (no position for an object without a document). */
function at(ctx: Source, m: PlacedMessage): ConfigIssue {
  const issue: ConfigIssue = { path: m.path, message: m.message };
  if (ctx.file) issue.file = ctx.file;
  if (!ctx.doc) return issue;
  const { node, keyNode } = locate(ctx.doc, m.locate ?? m.path);
  const target = m.useKey ? keyNode ?? node : node ?? keyNode;
  const offset = target?.range?.[0];
  if (offset !== undefined) {
    const pos = ctx.lines.linePos(offset);
    issue.line = pos.line;
    issue.col = pos.col;
  }
  return issue;
}

function position(lines: LineCounter, node: Node): { line?: number; col?: number } {
  const offset = node.range?.[0];
  return offset === undefined ? {} : lines.linePos(offset);
}

export interface ParseOptions {
  file?: string;
  /** Values for `${NAME}` references (see env.ts); `process.env` by default. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Parses config text with `schema`; throws `ConfigError` listing every problem.
 * @returns the validated config, deep-frozen, with defaults filled in.
 */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, opts: ParseOptions = {}): z.output<S> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      const issue: ConfigIssue = { path: [], message: e.message.split('\n')[0]! };
      if (opts.file) issue.file = opts.file;
      if (pos) { issue.line = pos.line; issue.col = pos.col; }
      return issue;
    }));
  }
  const envProblems = substituteEnv(doc, opts.env ?? process.env);
  if (envProblems.length) {
    const src: Source = { doc, lines, ...(opts.file ? { file: opts.file } : {}) };
    throw new ConfigError(envProblems.map((p) => ({ ...at(src, { path: p.path, message: p.message }), ...position(lines, p.node) })));
  }
  const data: unknown = doc.toJS() ?? {};
  return validate(schema, data, { doc, lines, ...(opts.file ? { file: opts.file } : {}) });
}

/** Validates an already-parsed object (library use); positions are reported when `doc` is given. */
export function validate<S extends z.ZodType>(
  schema: S, data: unknown, src: { doc?: Document; lines?: LineCounter; file?: string } = {},
): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) {
    const config = deepFreeze(result.data) as z.output<S>;
    if (config && typeof config === 'object') sources.set(config, { doc: src.doc, lines: src.lines ?? new LineCounter(), ...(src.file ? { file: src.file } : {}) });
    return config;
  }
  const ctx: Ctx = {
    doc: src.doc, lines: src.lines ?? new LineCounter(), data, json: toJsonSchema(schema),
    ...(src.file ? { file: src.file } : {}),
  };
  let issues = result.error.issues.flatMap((i) => describeIssue(ctx, i, [])).map((m) => at(ctx, m));
  // A key reported missing because it was misspelt is said once, as the unknown key with its suggestion.
  const suggested = new Set(issues.map((i) => /did you mean "([^"]+)"/.exec(i.message)?.[1] && `${JSON.stringify(i.path)}|${/did you mean "([^"]+)"/.exec(i.message)![1]}`));
  issues = issues.filter((i) => {
    const m = /^missing required key "([^"]+)"/.exec(i.message);
    return !m || !suggested.has(`${JSON.stringify(i.path)}|${m[1]}`);
  });
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  throw new ConfigError(issues);
}

/**
 * Places problems found in a validated config (after the schema: files it names, warnings) at the file,
 * line and column of their key paths, as schema errors are.
 */
export function placeIssues(config: object, found: readonly PlacedMessage[]): ConfigIssue[] {
  const src = sources.get(config) ?? { doc: undefined, lines: new LineCounter() };
  return found.map((m) => at(src, m));
}

/** Reads and validates a config file. Unreadable files throw a ConfigError naming the file. */
export async function loadConfigFile<S extends z.ZodType>(schema: S, file: string): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new ConfigError([{ file, path: [], message: `cannot read config: ${why}` }]);
  }
  return parseConfigText(schema, text, { file });
}

function deepFreeze<T>(v: T): T {
  // A Buffer (a plugin schema may make one, a key say) cannot be frozen: Object.freeze throws on its bytes.
  if (v && typeof v === 'object' && !Object.isFrozen(v) && !ArrayBuffer.isView(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
