/**
 * The process log: pino on stderr, in one format for every line the process writes there. JSON lines
 * (`log.format: json`) for collectors, or readable lines (pretty.ts) for a person at a terminal; the time
 * is ISO 8601 in both, as in the access log.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { prettyLine } from './pretty.js';
import type { LogConfig } from './schema.js';

export interface LoggerOptions {
  /** Where lines go (tests); stderr by default. */
  destination?: DestinationStream;
}

/** `log.format`, or its default: pretty when stderr is a terminal, else JSON. */
export function logFormat(cfg: Pick<LogConfig, 'format'>): 'json' | 'pretty' {
  return cfg.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
}

/** The process logger at `log.level`, in `log.format`. */
export function createLogger(cfg: LogConfig, opts: LoggerOptions = {}): Logger {
  // Synchronous: a line is on stderr before the next statement runs, so nothing is lost when the process exits.
  const dest = opts.destination ?? pino.destination({ dest: 2, sync: true });
  let stream = dest;
  if (logFormat(cfg) === 'pretty') {
    const color = opts.destination === undefined && process.stderr.isTTY && !process.env.NO_COLOR;
    stream = { write: (line: string) => dest.write(prettyLine(line, { color })) };
  }
  return pino({ level: cfg.level, base: { name: 'gatehouse' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}
