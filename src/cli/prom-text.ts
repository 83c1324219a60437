/**
 * A small reader of the Prometheus text exposition format (version 0.0.4), enough for `gatehouse top` to read
 * the proxy's own `GET /metrics`: samples with their labels and values; comments (HELP, TYPE) are skipped.
 * prom-client writes this format but has no reader, and the maintained parsers are Go or Python.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Label values escape backslash, double quote and newline (the format's only escapes). */
function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function parseValue(text: string): number {
  switch (text) {
    case '+Inf': return Infinity;
    case '-Inf': return -Infinity;
    case 'NaN': return NaN;
    default: return Number(text);
  }
}

/** One sample line, or undefined when the line is not one (a malformed line is skipped, not fatal). */
function parseLine(line: string): Sample | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    LABEL.lastIndex = i;
    for (let m = LABEL.exec(line); m; m = LABEL.exec(line)) {
      labels[m[1]!] = unescape(m[2]!);
      i = LABEL.lastIndex;
    }
    if (line[i] !== '}') return undefined;
    i++;
  }
  const [value] = line.slice(i).trim().split(/\s+/);
  if (value === undefined || value === '') return undefined;
  const v = parseValue(value);
  return Number.isNaN(v) && value !== 'NaN' ? undefined : { name, labels, value: v };
}

/** Every sample of a scrape, in order. */
export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const s = parseLine(line);
    if (s) out.push(s);
  }
  return out;
}
