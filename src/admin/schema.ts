/** The admin API's settings (`admin:` at the root of the config). */
import { isIP } from 'node:net';
import { z } from 'zod';
import { size } from '../config/units.js';

/** True for a host the admin API may serve without a token on: a loopback address or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/** The host part of `host:port` (brackets of an IPv6 address kept off). */
export function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

export const adminSchema = z
  .strictObject({
    address: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:19901')
      .describe('host:port the admin API listens on; keep it on loopback (127.0.0.1:19901) or set token_env'),
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name, e.g. GATEHOUSE_ADMIN_TOKEN')
      .optional()
      .describe('Environment variable holding the bearer token every /api/ call must carry (`Authorization: Bearer TOKEN`); read at start, which fails when it is unset or empty'),
    state_file: z
      .string()
      .min(1)
      .optional()
      .describe('JSON file where changes made through the API (servers added, drained, removed) are kept and applied again at start and after every reload; relative to the config file. Default: beside the config file, its name + .state.json (gatehouse.yaml → gatehouse.yaml.state.json)'),
    max_body: size.prefault('64KiB').describe('Largest request body the admin API reads; a larger one is a 413'),
    allowed_origins: z
      .array(z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'an origin: scheme://host[:port], no path, e.g. https://admin.example.com'))
      .optional()
      .describe('Origins (scheme://host[:port]) whose pages may call the admin API from a browser besides its own listener: the dashboard served through a proxy that changes the Host (docs/security.md)'),
  })
  .refine((a) => a.token_env !== undefined || isLoopbackHost(hostOf(a.address)), {
    message: 'the admin API on a non-loopback address needs token_env (a bearer token)', path: ['token_env'],
  })
  .describe('The admin API: list and change upstream servers, routes, the config in force, reloads (docs/operations.md)');

export type AdminConfig = z.output<typeof adminSchema>;
