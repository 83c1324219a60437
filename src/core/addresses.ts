/** IP addresses and CIDR blocks as the config writes them (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`). */
import { BlockList, isIP } from 'node:net';

/** An IP address, or an address with a prefix length that fits its family. */
export function isCidr(s: string): boolean {
  const [ip, bits, ...rest] = s.split('/');
  const v = ip ? isIP(ip) : 0;
  if (rest.length || !v) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128));
}

/** A node:net BlockList of addresses and CIDR blocks (checked by `isCidr` at config load). */
export function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [ip, bits] = c.split('/');
    const family = ip!.includes(':') ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip!, family);
    else list.addSubnet(ip!, Number(bits), family);
  }
  return list;
}

/**
 * A server URL as it is dialled: h2c:// and h2:// are http:// and https:// spoken in HTTP/2 (`h2`: true).
 */
export function serverTransport(url: string): { url: URL; h2: boolean } {
  const m = /^(h2c?):/i.exec(url);
  if (!m) return { url: new URL(url), h2: false };
  const scheme = m[1]!.toLowerCase() === 'h2c' ? 'http:' : 'https:';
  return { url: new URL(scheme + url.slice(m[0].length)), h2: true };
}

/**
 * A server's id everywhere (the registry, the admin API, reload plans, the fleet): `host:port`, the port
 * spelt out even when it is the scheme's default (`http://api` is `api:80`, `h2://b` is `b:443`).
 */
export function serverIdOf(url: string): string {
  const u = serverTransport(url).url;
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}
