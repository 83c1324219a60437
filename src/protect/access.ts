/** IP rules: allow and deny CIDR lists (IPv4 and IPv6) compiled into node:net BlockLists. */
import { BlockList } from 'node:net';
import type { AccessConfig } from './schema.js';

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

/** A predicate: may this client address pass? */
export function accessRule(cfg: AccessConfig): (ip: string) => boolean {
  const allow = cfg.allow?.length ? blockList(cfg.allow) : undefined;
  const deny = cfg.deny?.length ? blockList(cfg.deny) : undefined;
  return (ip) => {
    if (!ip) return false;
    const family = ip.includes(':') ? 'ipv6' : 'ipv4';
    if (deny?.check(ip, family)) return false;
    return allow === undefined || allow.check(ip, family);
  };
}
