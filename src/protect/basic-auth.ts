/**
 * HTTP Basic authentication (RFC 7617) against scrypt hashes. Verifying a password costs tens of
 * milliseconds of thread-pool time by design, so results are cached (keyed by a SHA-256 of the
 * credentials, never the password itself), bounded in size: a client retrying the same credentials,
 * right or wrong, costs one verification.
 */
import { createHash } from 'node:crypto';
import type { RequestCtx } from '../core/context.js';
import { errors } from '../core/errors.js';
import { verifyPassword } from './password.js';
import type { BasicAuthConfig } from './schema.js';

const CACHE_MAX = 10_000;

export interface BasicAuth {
  /** Resolves when the request carries valid credentials; rejects with 401 otherwise. */
  check(ctx: RequestCtx): Promise<string>;
}

export function basicAuth(cfg: BasicAuthConfig): BasicAuth {
  const cache = new Map<string, boolean>();
  const challenge = { 'www-authenticate': `Basic realm=${JSON.stringify(cfg.realm)}, charset="UTF-8"` };
  const users = new Map(Object.entries(cfg.users));
  return {
    async check(ctx) {
      const header = ctx.req.header('authorization');
      if (!header || !/^basic /i.test(header)) throw errors.unauthorized(challenge);
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 1) throw errors.unauthorized(challenge);
      const user = decoded.slice(0, colon);
      const hash = users.get(user);
      if (hash === undefined) throw errors.unauthorized(challenge);
      const key = createHash('sha256').update(decoded).digest('base64');
      let ok = cache.get(key);
      if (ok === undefined) {
        ok = await verifyPassword(decoded.slice(colon + 1), hash);
        if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
        cache.set(key, ok);
      }
      if (!ok) throw errors.unauthorized(challenge);
      return user;
    },
  };
}
