/** Logging and the access log. */
import { z } from 'zod';

export const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Level of the process log (stderr)'),
    format: z.enum(['json', 'pretty']).optional()
      .describe('json: one JSON object per line (for log collectors); pretty: one readable line per event. Default: pretty when stderr is a terminal, else json. Read at start'),
  })
  .prefault({})
  .describe('Process log');

export const accessLogSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Write one JSON line per request'),
    path: z.string().optional().describe('File to append to (relative to the config file); stdout by default'),
  })
  .prefault({})
  .describe('Access log: one JSON line per request');

export type AccessLogConfig = z.output<typeof accessLogSchema>;
export type LogConfig = z.output<typeof logSchema>;
