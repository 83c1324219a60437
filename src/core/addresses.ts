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
