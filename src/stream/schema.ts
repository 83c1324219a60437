/** Layer 4 listeners (tcp, tls_passthrough), PROXY protocol on listeners and to upstreams. */
import { z } from 'zod';
import { duration } from '../config/units.js';

/** An SNI key: an exact host name, or `*.example.com` (any name ending in `.example.com`). */
const sniName = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a host name, or *.example.com')
  .transform((s) => s.toLowerCase());

/** Keys added to every listener (composed into the root listener schema). */
export const streamListenerFields = {
  protocol: z
    .enum(['http', 'tcp', 'tls_passthrough'])
    .default('http')
    .describe('http: HTTP/1.1 or HTTP/2 with routes; tcp: every connection is piped to `upstream`; tls_passthrough: TLS connections are piped, still encrypted, to the upstream their SNI names (docs/protocols.md)'),
  upstream: z
    .string()
    .min(1)
    .optional()
    .describe('tcp: the upstream (of tcp:// servers) every connection goes to; tls_passthrough: the upstream for a ClientHello whose name `sni` does not list (or that has none)'),
  sni: z
    .record(sniName, z.string().min(1))
    .optional()
    .describe('tls_passthrough: upstream by the server name the client sends, `a.example.com: NAME` or `*.example.com: NAME`; an exact name wins over a wildcard, a longer wildcard over a shorter one'),
  idle_timeout: duration
    .optional()
    .describe('tcp and tls_passthrough: close a connection on which no byte has passed either way for this long (10m by default, as nginx\'s proxy_timeout)'),
  access: z
    .strictObject({
      allow: z.array(z.string()).optional().describe('Only these client addresses (IP or CIDR) may connect'),
      deny: z.array(z.string()).optional().describe('These client addresses (IP or CIDR) are closed at once (checked before allow)'),
    })
    .optional()
    .describe('tcp and tls_passthrough: IP rules for each connection (the PROXY protocol address when the listener takes one); HTTP listeners use `access` on routes or at the top level'),
  proxy_protocol: z
    .boolean()
    .default(false)
    .describe('Expect a PROXY protocol header (v1 or v2) before each connection\'s bytes, and take the client address from it; only `trusted_proxies` may connect, others are closed at once'),
};

/** Keys added to every upstream. */
export const streamUpstreamFields = {
  proxy_protocol: z
    .enum(['v1', 'v2'])
    .optional()
    .describe('tcp:// servers: send a PROXY protocol header (v1 text or v2 binary) naming the client before its bytes'),
};

/** 10 minutes, nginx's `proxy_timeout` default. */
export const DEFAULT_IDLE_TIMEOUT = 600_000;

export interface StreamListenerConfig {
  name: string;
  address: string;
  protocol: 'http' | 'tcp' | 'tls_passthrough';
  upstream?: string | undefined;
  sni?: Record<string, string> | undefined;
  idle_timeout?: number | undefined;
  access?: { allow?: string[] | undefined; deny?: string[] | undefined } | undefined;
  proxy_protocol: boolean;
}
