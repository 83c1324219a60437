/**
 * zod issues in the words of the config file: what was expected (allowed values listed, types named as YAML
 * users know them), what was found (never a secret), and a suggestion when a value is close to an allowed one.
 * No zod phrase ("Too small: expected array to have >=1 items") reaches the user.
 */
import type { z } from 'zod';
import { closest, SUGGESTION, type ConfigPath } from './errors.js';
import { isSecret, knownKeys, type JsonSchema } from './json-schema.js';

type ZodIssue = z.core.$ZodIssue;

/**
 * A problem at a key path. Its line and column are those of `locate` (default: `path`), of the key rather
 * than the value when `useKey`.
 */
export interface PlacedMessage { path: ConfigPath; message: string; locate?: ConfigPath; useKey?: boolean }

export interface IssueSource { data: unknown; json: JsonSchema }

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', bigint: 'an integer', boolean: 'true or false',
  array: 'a list', object: 'a map', record: 'a map', map: 'a map', null: 'null', undefined: 'nothing',
};

function valueAt(data: unknown, path: ConfigPath): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** A value as the user wrote it, shortened. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `a list of ${v.length}`;
  if (typeof v === 'object') return 'a map';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}..."` : s;
}

function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

const literal = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const isDefault = (message: string): boolean => /^(Invalid|Too (small|big))\b/.test(message);
const plural = (n: number | bigint, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function bound(issue: ZodIssue & { code: 'too_small' | 'too_big' }): string {
  const small = issue.code === 'too_small';
  const n = small ? issue.minimum : issue.maximum;
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case 'array': case 'set':
      return small && n === 1 ? 'at least one item' : `${small ? 'at least' : 'at most'} ${plural(n, 'item')}`;
    case 'string':
      return small && n === 1 ? 'a non-empty string' : `${small ? 'at least' : 'at most'} ${plural(n, 'character')}`;
    default:
      return small ? `${inclusive ? 'at least' : 'more than'} ${n}` : `${inclusive ? 'at most' : 'less than'} ${n}`;
  }
}

function format(issue: ZodIssue & { code: 'invalid_format' }): string {
  if (!isDefault(issue.message)) return issue.message;
  const i = issue as { format: string; prefix?: string; suffix?: string; includes?: string; pattern?: string };
  switch (i.format) {
    case 'starts_with': return `a string starting with "${i.prefix}"`;
    case 'ends_with': return `a string ending with "${i.suffix}"`;
    case 'includes': return `a string containing "${i.includes}"`;
    case 'regex': return `a string matching ${i.pattern}`;
    case 'email': return 'an e-mail address';
    case 'url': return 'a URL';
    default: return `a valid ${i.format}`;
  }
}

/** The thing expected by an issue about one value ("expected X"), or undefined for other issues. */
function expectation(issue: ZodIssue): { text: string; values?: unknown[] } | undefined {
  switch (issue.code) {
    case 'invalid_type': return { text: isDefault(issue.message) ? TYPE_NAMES[issue.expected] ?? `a ${issue.expected}` : issue.message };
    case 'invalid_value': return { text: issue.values.map(literal).join(', '), values: issue.values };
    case 'too_small': case 'too_big': return { text: bound(issue) };
    case 'invalid_format': return { text: format(issue) };
    case 'not_multiple_of': return { text: `a multiple of ${issue.divisor}` };
    default: return undefined;
  }
}

/** "expected one of a, b, c" for allowed values, "expected X or Y" for alternatives. */
function expected(parts: { text: string; values?: unknown[] }[]): string {
  const values = parts.flatMap((p) => p.values ?? []);
  if (values.length === parts.flatMap((p) => p.values ?? [undefined]).length) {
    const list = [...new Set(values.map(literal))];
    return list.length === 1 ? list[0]! : `one of ${list.join(', ')}`;
  }
  return orList([...new Set(parts.map((p) => (p.values && p.values.length > 1 ? `one of ${p.text}` : p.text)))]);
}

function got(src: IssueSource, path: ConfigPath, value: unknown, allowed: unknown[]): string {
  if (isSecret(src.json, path)) return ', got something else (not shown: it is a secret)';
  const hint = typeof value === 'string' ? closest(value, allowed.filter((v): v is string => typeof v === 'string')) : undefined;
  return `, got ${describeValue(value)}${hint ? `${SUGGESTION}did you mean "${hint}"?` : ''}`;
}

const shallow = (branch: readonly ZodIssue[]): boolean =>
  branch.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value'));

function union(src: IssueSource, issue: ZodIssue & { code: 'invalid_union' }, path: ConfigPath): PlacedMessage[] {
  const deep = issue.errors.filter((b) => !shallow(b));
  // One alternative got further than the others: its problems are the ones the user meant to fix.
  if (deep.length) {
    const best = deep.reduce((a, b) => (b.length < a.length ? b : a));
    return best.flatMap((i) => describeIssue(src, i, path));
  }
  const parts = issue.errors.flatMap((b) => b.map(expectation)).filter((p) => p !== undefined);
  const value = valueAt(src.data, path);
  return [{ path, message: `expected ${expected(parts)}${got(src, path, value, parts.flatMap((p) => p.values ?? []))}` }];
}

/** One zod issue as the messages a user reads, each at its key path. */
export function describeIssue(src: IssueSource, issue: ZodIssue, base: ConfigPath): PlacedMessage[] {
  const path = [...base, ...(issue.path as (string | number)[])];
  const value = valueAt(src.data, path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const hint = closest(key, knownKeys(src.json, path));
        return { path, locate: [...path, key], useKey: true, message: `unknown key "${key}"${hint ? `${SUGGESTION}did you mean "${hint}"?` : ''}` };
      });
    case 'invalid_union':
      return union(src, issue, path);
    case 'invalid_key': {
      // A record key that fails its own schema (a header name, an upstream name): say what a key must be.
      const inner = (issue as { issues?: ZodIssue[] }).issues?.[0];
      const what = inner && expectation(inner);
      return [{ path, message: `key "${String(path[path.length - 1])}": expected ${what ? expected([what]) : 'another name'}` }];
    }
    case 'invalid_type':
      if (value === undefined) {
        const what = expectation(issue)!;
        return [{ path: path.slice(0, -1), message: `missing required key "${String(path[path.length - 1])}" (${what.text})`, useKey: true }];
      }
      break;
    case 'custom':
      return [{ path, message: issue.message }];
    default:
      break;
  }
  const what = expectation(issue);
  if (!what) return [{ path, message: issue.message }];
  return [{ path, message: `expected ${expected([what])}${got(src, path, value, what.values ?? [])}` }];
}
