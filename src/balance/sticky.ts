/**
 * Sticky sessions: a signed cookie names the server a client was sent to. The value is a short id derived
 * from the server URL (stable across restarts and config reordering) and an HMAC, so a client cannot pick a
 * server by forging the cookie.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { cookieValue } from '../core/headers.js';
import type { Peer } from '../core/services.js';
import type { StickyConfig } from './schema.js';

export interface StickyCookie {
  readonly name: string;
  /** The peer the request's cookie header names, if the cookie is present and genuine. */
  peerFor(cookieHeader: string | undefined): Peer | undefined;
  /** The Set-Cookie value that pins a client to `peer`. */
  setCookie(peer: Peer): string;
}


export function stickyCookie(cfg: StickyConfig, peers: readonly Peer[]): StickyCookie {
  const secret = cfg.secret ?? randomBytes(32).toString('hex');
  const sign = (id: string): string => createHmac('sha256', secret).update(id).digest('base64url').slice(0, 22);
  const byId = new Map<string, Peer>();
  const values = new Map<Peer, string>();
  for (const p of peers) {
    const id = createHash('sha256').update(p.url).digest('base64url').slice(0, 10);
    byId.set(id, p);
    values.set(p, `${id}.${sign(id)}`);
  }
  const attrs = `; Path=/; HttpOnly; SameSite=Lax${cfg.max_age !== undefined ? `; Max-Age=${Math.floor(cfg.max_age / 1000)}` : ''}`;
  return {
    name: cfg.cookie,
    peerFor(header) {
      const v = cookieValue(header, cfg.cookie);
      if (!v) return undefined;
      const dot = v.indexOf('.');
      if (dot === -1) return undefined;
      const id = v.slice(0, dot);
      const expected = Buffer.from(sign(id));
      const given = Buffer.from(v.slice(dot + 1));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      return byId.get(id);
    },
    setCookie(peer) {
      return `${cfg.cookie}=${values.get(peer)!}${attrs}`;
    },
  };
}
