/** Renders docs/configuration.md from the JSON Schema, so the reference cannot drift from the code. */
import type { JsonSchema } from './json-schema.js';

function typeOf(n: JsonSchema): string {
  if (Array.isArray(n.enum)) return (n.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  if (n.const !== undefined) return JSON.stringify(n.const);
  const subs = n.anyOf ?? n.oneOf;
  if (subs) return [...new Set(subs.map(typeOf))].join(' | ');
  if (n.type === 'array') return `list of ${n.items ? typeOf(n.items) : 'any'}`;
  if (n.type === 'object') return n.properties ? 'map' : `map of ${typeof n.additionalProperties === 'object' ? typeOf(n.additionalProperties) : 'any'}`;
  return Array.isArray(n.type) ? n.type.join(' | ') : (n.type ?? 'any');
}

function children(n: JsonSchema): JsonSchema[] {
  const subs = n.anyOf ?? n.oneOf;
  if (subs) return subs.flatMap(children);
  if (n.type === 'array' && n.items) return children(n.items);
  if (n.type === 'object') {
    if (n.properties) return [n];
    if (typeof n.additionalProperties === 'object') return children(n.additionalProperties).map((c) => ({ ...c, _record: true }));
  }
  return [];
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function walk(n: JsonSchema, path: string, rows: string[]): void {
  for (const obj of children(n)) {
    const base = obj._record ? `${path}.<name>` : path;
    const required = new Set((obj.required as string[] | undefined) ?? []);
    for (const [key, child] of Object.entries(obj.properties ?? {})) {
      const isList = child.type === 'array' || (child.anyOf ?? []).some((s) => s.type === 'array' && s.items && children(s.items).length);
      const p = base ? `${base}.${key}` : key;
      const def = child.default !== undefined ? `\`${JSON.stringify(child.default)}\`` : required.has(key) ? '**required**' : '';
      rows.push(`| \`${p}\` | ${esc(typeOf(child))} | ${def} | ${esc(String(child.description ?? ''))} |`);
      walk(child, isList && child.type === 'array' ? `${p}[]` : p, rows);
    }
  }
}

export function renderConfigDocs(schema: JsonSchema): string {
  const rows: string[] = [];
  walk(schema, '', rows);
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from the config schema by `npm run docs`; a test fails when it is out of date. -->',
    '',
    'Gatehouse reads one YAML (or JSON) file. Durations are strings with a unit: `500ms`, `30s`, `5m`, `1h`,',
    '`7d`, `1y` (a bare number is refused: seconds or milliseconds?). Sizes are a number of bytes or a string',
    'with a unit: KiB, MiB, GiB are powers of 1024; KB, MB, GB powers of 1000 (SI); `16KiB` is 16384 bytes,',
    '`10MB` 10000000. A bare K, M or G, and lower-case units, are refused rather than guessed. Every key below',
    'is checked: an unknown or misspelt key is an error naming the file, line and column, with the closest',
    'known key; a wrong value is an error saying what is expected (for a choice, every allowed value).',
    'Editors complete and check the file through `gatehouse.schema.json` (`gatehouse schema`).',
    '',
    'See [routing.md](routing.md) for how a route is chosen and [errors.md](errors.md) for the error codes.',
    '',
    '## Environment variables',
    '',
    'In a config file, `${NAME}` in a value is replaced by the environment variable NAME before the file is',
    'checked, anywhere in the value (`"http://${DB_HOST}:5432"`). `${NAME:-default}` gives a default when',
    'NAME is unset or empty; `$${` is a literal `${`. A variable that is not set (and has no default) is an',
    'error naming it, with file, line and column. Keys are never substituted. An unquoted value that becomes',
    'a number or true/false is read as one (`retries: ${RETRIES}`), a quoted one stays a string; inside `{ }`',
    'or `[ ]` quote the value (`{ host: "${HOST}" }`), as YAML requires there. A config object given to the',
    'library is taken as is.',
    '',
    '## Keys',
    '',
    '| key | type | default | description |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
