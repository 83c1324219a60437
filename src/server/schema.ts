/** Listeners and process-level settings. */
import { z } from 'zod';
import { duration } from '../config/units.js';

export const listenerSchema = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -').describe('Listener name, used by `match.listener` and in logs'),
  address: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8080, [::1]:8080 or :8080')
    .describe('host:port to listen on; an empty host listens on all addresses'),
  h2c: z.boolean().default(false).describe('Speak cleartext HTTP/2 with prior knowledge on this listener instead of HTTP/1.1 (internal and gRPC clients)'),
});

export const shutdownSchema = z
  .strictObject({
    timeout: duration.prefault('30s').describe('On SIGTERM/SIGINT, how long in-flight requests may finish before connections are closed'),
  })
  .prefault({})
  .describe('Graceful shutdown');

export type ListenerConfig = z.output<typeof listenerSchema>;
