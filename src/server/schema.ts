/** Listeners and process-level settings. */
import { z } from 'zod';
import { duration } from '../config/units.js';
import type { Engine } from '../core/services.js';

const engineEnum = z.enum(['node', 'native']);

export const listenerSchema = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -').describe('Listener name, used by `match.listener` and in logs'),
  address: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8080, [::1]:8080 or :8080')
    .describe('host:port to listen on; an empty host listens on all addresses'),
  h2c: z.boolean().default(false).describe('Speak cleartext HTTP/2 with prior knowledge on this listener instead of HTTP/1.1 (internal and gRPC clients)'),
  engine: engineEnum.optional().describe('This listener\'s HTTP/1.1 engine, instead of the top-level `engine` (a change applies at restart)'),
});

/** Which HTTP/1.1 engine serves requests; `native` is Gatehouse's own (node:net sockets, llhttp's WebAssembly build). */
export const engineSchema = engineEnum
  .optional()
  .describe('HTTP/1.1 engine: node (node:http and undici) or native (Gatehouse\'s own listener and upstream client on node:net/node:tls, parsing with llhttp; HTTP/2 stays on node:http2). Default native, or the GATEHOUSE_ENGINE environment variable (node or native)');

export type { Engine };

/** The engine a config asks for: its `engine`, else GATEHOUSE_ENGINE, else native (#16). */
export function engineOf(configured: Engine | undefined): Engine {
  return configured ?? (process.env.GATEHOUSE_ENGINE === 'node' ? 'node' : 'native');
}

export const shutdownSchema = z
  .strictObject({
    timeout: duration.prefault('30s').describe('On SIGTERM/SIGINT, how long in-flight requests may finish before connections are closed'),
  })
  .prefault({})
  .describe('Graceful shutdown');

export const reloadSchema = z
  .strictObject({
    watch: z
      .boolean()
      .default(true)
      .describe('`gatehouse run` watches the config file and reloads it 300 ms after it last changed, as SIGHUP does (an invalid file changes nothing and is logged); false: only SIGHUP and the admin API reload'),
  })
  .prefault({})
  .describe('How the config file is reloaded (docs/operations.md, Reload)');

export type ListenerConfig = z.output<typeof listenerSchema>;

export const errorPageSchema = z
  .strictObject({
    file: z.string().min(1).optional().describe('File holding the page, relative to the config file; read at start and on every reload'),
    body: z.string().optional().describe('The page itself, inline (instead of `file`)'),
    content_type: z.string().min(1).default('text/html; charset=utf-8').describe('Content-Type of the page'),
  })
  .refine((p) => (p.file === undefined) !== (p.body === undefined), { message: 'an error page takes one of file or body' })
  .describe('A page that replaces the proxy\'s own error reply. `{status}`, `{reason}`, `{code}` and `{request_id}` in it are filled in');

export const errorPagesSchema = z
  .record(z.string().regex(/^([45]\d\d|[45]xx)$/, 'a status from 400 to 599, or 4xx or 5xx'), errorPageSchema)
  .describe('Pages for the errors the proxy answers itself on this route (502 when a server is down, 401, 429…), by status or class (4xx, 5xx); '
    + 'the exact status wins over its class; `{status}`, `{reason}`, `{code}` and `{request_id}` in a page are filled in. '
    + 'Responses from the upstream are passed on as they are (docs/errors.md)');

export type ErrorPageConfig = z.output<typeof errorPageSchema>;
export type ErrorPagesConfig = z.output<typeof errorPagesSchema>;
