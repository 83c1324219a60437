/**
 * DNS providers: A and AAAA records (`dns` + `port`), and SRV records (`srv`). Each asks node's c-ares resolver
 * (the system's servers, or `resolver`), never the OS resolver (getaddrinfo has no TTL and blocks a libuv thread).
 * Lifetime: process, one resolver per provider.
 */
import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';
import type { DiscoveryConfig } from './schema.js';
import type { Answer } from './poll.js';
import type { DiscoveredServer } from './types.js';

type Resolver = InstanceType<typeof dnsPromises.Resolver>;

/** A resolver for this config: `timeout` per try, two tries, the given server or the system's. */
export function makeResolver(cfg: DiscoveryConfig): Resolver {
  const resolver = new dnsPromises.Resolver({ timeout: cfg.timeout, tries: 2 });
  if (cfg.resolver !== undefined) resolver.setServers([cfg.resolver]);
  return resolver;
}

/** `scheme://host:port`, with an IPv6 address in brackets (RFC 3986 3.2.2). */
function serverUrl(scheme: string, address: string, port: number): string {
  return `${scheme}://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

// ENODATA: the name exists but has no record of this type (an IPv4-only service has no AAAA): an empty answer,
// not a failure. Anything else (SERVFAIL, timeout, NXDOMAIN, refused) fails the whole lookup, so that a family
// whose query failed is not dropped from the pool while the other answered.
async function family(lookup: Promise<{ address: string; ttl: number }[]>): Promise<{ address: string; ttl: number }[]> {
  try {
    return await lookup;
  } catch (err) {
    if ((err as { code?: unknown }).code === dnsPromises.NODATA) return [];
    throw err;
  }
}

/** The addresses of a name (A and AAAA) with the smallest TTL among them; an IP literal is its own answer. */
async function addresses(resolver: Resolver, name: string, defaultTtlS: number): Promise<{ addresses: string[]; ttlS: number }> {
  if (isIP(name)) return { addresses: [name], ttlS: defaultTtlS };
  const host = name.endsWith('.') ? name.slice(0, -1) : name;
  const [v4, v6] = await Promise.all([family(resolver.resolve4(host, { ttl: true })), family(resolver.resolve6(host, { ttl: true }))]);
  const records = [...v4, ...v6];
  if (records.length === 0) throw Object.assign(new Error(`${host} has no A or AAAA record`), { code: dnsPromises.NODATA });
  return { addresses: records.map((r) => r.address), ttlS: Math.min(...records.map((r) => r.ttl)) };
}

const byUrl = (a: DiscoveredServer, b: DiscoveredServer): number => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0);

/** A lookup of `dns` + `port`: one server per address, weight 1, none a backup. */
export function dnsLookup(cfg: DiscoveryConfig & { dns: string; port: number }, resolver: Resolver): () => Promise<Answer> {
  return async () => {
    const found = await addresses(resolver, cfg.dns, cfg.max_ttl / 1000);
    const servers = [...new Set(found.addresses)].map((a) => ({ url: serverUrl(cfg.scheme, a, cfg.port), weight: 1, backup: false }));
    return { servers: servers.sort(byUrl), ttlS: found.ttlS };
  };
}

// RFC 2782 weights are 0..65535, with 0 meaning "very rarely"; the pool takes 1..1000.
const clampWeight = (w: number): number => Math.min(1000, Math.max(1, w));

/**
 * A lookup of `srv`: each record's target resolved to its addresses, on the record's port. The lowest priority
 * is the primary tier, every other priority a backup (the pool has two tiers). Node's resolveSrv gives no TTL,
 * so the answer is kept for the smallest TTL of the targets' A/AAAA records (an IP target: max_ttl), within
 * min_ttl and max_ttl. A target listed twice keeps its lowest priority.
 */
export function srvLookup(cfg: DiscoveryConfig & { srv: string }, resolver: Resolver): () => Promise<Answer> {
  return async () => {
    const records = await resolver.resolveSrv(cfg.srv.endsWith('.') ? cfg.srv.slice(0, -1) : cfg.srv);
    // RFC 2782: a single record with target "." means the service is decidedly not available here.
    const usable = records.filter((r) => r.name !== '' && r.name !== '.');
    if (usable.length === 0) throw Object.assign(new Error(`${cfg.srv} has no usable SRV record`), { code: dnsPromises.NODATA });
    const primary = Math.min(...usable.map((r) => r.priority));
    const resolved = await Promise.all(usable.map((r) => addresses(resolver, r.name, cfg.max_ttl / 1000)));
    const servers = new Map<string, DiscoveredServer>();
    const ordered = usable.map((r, i) => ({ r, found: resolved[i]! })).sort((a, b) => a.r.priority - b.r.priority);
    for (const { r, found } of ordered) {
      for (const a of found.addresses) {
        const url = serverUrl(cfg.scheme, a, r.port);
        if (!servers.has(url)) servers.set(url, { url, weight: clampWeight(r.weight), backup: r.priority !== primary });
      }
    }
    return { servers: [...servers.values()].sort(byUrl), ttlS: Math.min(...resolved.map((f) => f.ttlS)) };
  };
}
