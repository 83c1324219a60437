/** Config errors: every problem at once, each with file, line, column, key path and a suggestion. */

export type ConfigPath = readonly (string | number)[];

export interface ConfigIssue {
  file?: string;
  line?: number;
  col?: number;
  path: ConfigPath;
  message: string;
}

/** Separates a message from a suggestion printed after the position ("…(line 3, col 5): did you mean "x"?"). */
export const SUGGESTION = '\u0000';

/** `routes[1].proxy.upstream` */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || '(root)';
}

/** `file: message at key.path (line L, col C)`; a warning reads `file: warning: message …`. */
export function formatIssue(issue: ConfigIssue, severity: 'error' | 'warning' = 'error'): string {
  const where = issue.line !== undefined ? ` (line ${issue.line}, col ${issue.col})` : '';
  const at = issue.path.length ? ` at ${formatPath(issue.path)}` : '';
  const file = issue.file ? `${issue.file}: ` : '';
  // A suggestion comes after the position ("… (line 3, col 5): did you mean "x"?").
  const [head, suggestion] = issue.message.split(SUGGESTION);
  return `${file}${severity === 'warning' ? 'warning: ' : ''}${head}${at}${where}${suggestion ? `: ${suggestion}` : ''}`;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map((i) => formatIssue(i)).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Levenshtein distance, for "did you mean" on unknown keys. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
