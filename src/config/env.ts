/**
 * `${NAME}` in a config file's values: replaced by the environment variable NAME before validation.
 * `${NAME:-default}` gives a default for a variable that is unset or empty; `$${` is a literal `${`.
 * Keys are never substituted. An unquoted value that becomes a number or true/false is read as one
 * (`retries: ${RETRIES}`); a quoted value stays a string. A variable that is not set is an error naming it.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { ConfigPath } from './errors.js';

export interface EnvProblem { path: ConfigPath; node: Node; message: string }

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

/** The text with its references replaced; the problems of the ones that cannot be. */
export function expand(text: string, env: Readonly<Record<string, string | undefined>>): { text: string; problems: string[] } {
  const problems: string[] = [];
  const out = text.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    if (name === undefined) {
      problems.push(`"${whole}" is not a variable reference: write \${NAME} or \${NAME:-default} (and $\${ for a literal \${)`);
      return whole;
    }
    const value = env[name];
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    problems.push(`environment variable ${name} is not set (\${${name}:-default} gives a default)`);
    return whole;
  });
  return { text: out, problems };
}

/** An unquoted value read again after substitution: numbers and booleans as YAML would read them. */
function retype(text: string): string | number | boolean {
  if (/^(true|false)$/.test(text)) return text === 'true';
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text) || /^0x[0-9a-fA-F]+$/.test(text)) return Number(text);
  return text;
}

/** Substitutes environment variables in every value of the document, in place. */
export function substituteEnv(doc: Document, env: Readonly<Record<string, string | undefined>>): EnvProblem[] {
  const problems: EnvProblem[] = [];
  const walk = (node: unknown, path: ConfigPath): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (isPair(pair)) walk(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : '?']);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      const { text, problems: found } = expand(node.value, env);
      for (const message of found) problems.push({ path, node, message });
      node.value = node.type === 'PLAIN' ? retype(text) : text;
    }
  };
  walk(doc.contents, []);
  return problems;
}
