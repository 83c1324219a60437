/**
 * The readable form of the process log (`log.format: pretty`, the default on a terminal): one line per event,
 * `2026-11-29T05:42:34.123Z INFO  listening on https://127.0.0.1:8443 listener=secure`. A few lines of our own
 * rather than pino-pretty (a transport on a worker thread, and a dozen dependencies, for this).
 */

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '90' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
};

// Shown in the line's head, or the same on every line.
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

// Control characters (a newline is handled apart): a log line must not move a terminal's cursor or set its colours.
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/g;

function clean(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `key=value`: a plain word as it is, anything else as JSON. */
function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=\\\u0000-\u001f\u007f]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

interface SerializedError { message: string; stack: string }

function isSerializedError(v: unknown): v is SerializedError {
  return typeof v === 'object' && v !== null && typeof (v as SerializedError).message === 'string' && typeof (v as SerializedError).stack === 'string';
}

/**
 * One pino JSON line in readable form: time, level, message, then `key=value` fields; the rest of a
 * multi-line message and any stack trace follow on indented lines. A line that is not JSON passes unchanged.
 */
export function prettyLine(json: string, opts: { color?: boolean } = {}): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = LEVELS[rec.level as number];
  const name = (level?.name ?? String(rec.level)).padEnd(5);
  const time = typeof rec.time === 'string' ? rec.time : new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString();
  const [first = '', ...rest] = clean(String(rec.msg ?? '')).split('\n');
  let head = `${time} ${opts.color && level ? `\u001b[${level.color}m${name}\u001b[0m` : name} ${first}`;
  const tail = rest.map((l) => `  ${l}`);
  for (const [k, v] of Object.entries(rec)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    if (isSerializedError(v)) {
      head += ` ${k}=${clean(value(v.message))}`;
      for (const l of clean(v.stack).split('\n')) tail.push(`  ${l}`);
    } else {
      head += ` ${k}=${clean(value(v))}`;
    }
  }
  return `${[head, ...tail].join('\n')}\n`;
}
