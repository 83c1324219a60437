/** IP rules: allow and deny CIDR lists (IPv4 and IPv6) compiled into node:net BlockLists. */
import { blockList } from '../core/addresses.js';

export { blockList };
import type { AccessConfig } from './schema.js';

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
