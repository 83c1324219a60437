/** Service discovery: where an upstream's servers come from besides its `servers` list (DNS, SRV, a file). */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { duration } from '../config/units.js';

// A DNS name: labels of letters, digits, '-' and '_' (SRV owner names such as _http._tcp.x), no empty label.
const dnsName = z
  .string()
  .regex(/^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/, 'a DNS name such as users.internal');

/** Whether `text` is what node's dns.Resolver#setServers accepts: IPv4 or [IPv6], each with an optional :port, or a bare IPv6. */
export function isResolverAddress(text: string): boolean {
  const port = (p: string | undefined): boolean => p === undefined || (/^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535);
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6) return isIPv6(v6[1]!) && port(v6[2]);
  if (isIPv6(text)) return true;
  const [host, p, ...rest] = text.split(':');
  return rest.length === 0 && isIPv4(host!) && port(p);
}

const resolverAddress = z.string().refine(isResolverAddress, 'a DNS server address: IP or IP:port, e.g. 127.0.0.1:53 or [::1]:53');

const KINDS = ['dns', 'srv', 'file'] as const;

export const discoverySchema = z
  .strictObject({
    dns: dnsName.optional().describe('Resolve this name (A and AAAA records): one server per address, on `port`'),
    port: z.number().int().min(1).max(65535).optional().describe('Port of the servers found by `dns` (SRV and file entries carry their own)'),
    srv: dnsName.optional().describe('Resolve this SRV name, e.g. _http._tcp.billing.internal: targets and ports from the records, the lowest priority as primaries and the others as backups, weights as weights'),
    file: z.string().min(1).optional().describe('A JSON file (relative to the config file) holding a list of URLs or { url, weight, backup } objects; watched for changes'),
    scheme: z.enum(['http', 'https', 'h2c', 'h2']).default('http').describe('Scheme of the servers found by `dns` or `srv` (h2c, h2: HTTP/2 in cleartext or over TLS)'),
    resolver: resolverAddress.optional().describe('DNS server to ask, IP or IP:port (e.g. 127.0.0.1:15353); the system resolver by default'),
    min_ttl: duration.prefault('1s').describe('Re-resolve no more often than this, whatever the record TTL'),
    max_ttl: duration.prefault('5m').describe('Re-resolve at least this often, whatever the record TTL'),
    timeout: duration.prefault('2s').describe('Time a DNS query waits for an answer (tried twice); past it the lookup has failed and the last good answer is kept'),
    debounce: duration.prefault('200ms').describe('`file`: wait this long after a change before reading the file, so a file being written is read whole'),
  })
  .superRefine((d, ctx) => {
    const kinds = KINDS.filter((k) => d[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', message: kinds.length ? `discovery takes one source, found ${kinds.join(' and ')}` : 'discovery needs one source: dns, srv or file' });
    }
    if (d.dns !== undefined && d.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'dns needs a port' });
    if (d.dns === undefined && d.port !== undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'port goes with dns (srv records and file entries carry their own)' });
    if (d.file !== undefined && d.resolver !== undefined) ctx.addIssue({ code: 'custom', path: ['resolver'], message: 'resolver goes with dns or srv' });
    if (d.min_ttl > d.max_ttl) ctx.addIssue({ code: 'custom', path: ['min_ttl'], message: 'min_ttl is longer than max_ttl' });
  })
  .describe('Find the servers by DNS (`dns` + `port`), SRV (`srv`) or a watched file (`file`); see docs/discovery.md');

export type DiscoveryConfig = z.output<typeof discoverySchema>;
