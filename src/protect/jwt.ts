/**
 * JWT bearer authentication with `jose`: HS*, RS*, PS*, ES* and EdDSA, from a shared secret, a PEM public
 * key or a JWKS URL (fetched and cached by jose). Issuer, audience, exp/nbf (with tolerance) and required
 * claims are checked; chosen claims are forwarded as headers. Failures: 401 with a Bearer challenge
 * (RFC 6750 3).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { RequestCtx } from '../core/context.js';
import { cookieValue } from '../core/headers.js';
import { errors } from '../core/errors.js';
import type { JwtConfig } from './schema.js';

export interface JwtAuth {
  verify(ctx: RequestCtx): Promise<JWTPayload>;
  /** [header, value] pairs to send upstream for a verified payload. */
  forwarded(payload: JWTPayload): [string, string][];
}

type Jose = typeof import('jose');
/** jose is loaded on the first route that uses JWT, not by every proxy. */
let josePromise: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (josePromise ??= import('jose'));

function keyFor(jose: Jose, cfg: JwtConfig, baseDir: string): KeyObject | JWTVerifyGetKey {
  if (cfg.jwks_url) return jose.createRemoteJWKSet(new URL(cfg.jwks_url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
  if (cfg.public_key) {
    const pem = cfg.public_key.includes('-----BEGIN')
      ? cfg.public_key
      : readFileSync(isAbsolute(cfg.public_key) ? cfg.public_key : resolve(baseDir, cfg.public_key), 'utf8');
    return createPublicKey(pem);
  }
  if (cfg.secret) return createSecretKey(Buffer.from(cfg.secret));
  throw new Error('auth.jwt needs one of secret, public_key or jwks_url');
}

export function jwtAuth(cfg: JwtConfig, baseDir: string): JwtAuth {
  // Resolved once; the key (and a JWKS set with its cache) lives as long as the route.
  const ready = loadJose().then((jose) => ({ jose, key: keyFor(jose, cfg, baseDir) }));
  ready.catch(() => undefined);
  const opts: JWTVerifyOptions = {
    clockTolerance: Math.round(cfg.clock_tolerance / 1000),
    requiredClaims: cfg.required_claims,
    ...(cfg.algorithms ? { algorithms: cfg.algorithms } : cfg.secret ? { algorithms: ['HS256', 'HS384', 'HS512'] } : {}),
    ...(cfg.issuer !== undefined ? { issuer: cfg.issuer } : {}),
    ...(cfg.audience !== undefined ? { audience: cfg.audience } : {}),
  };
  const challenge = (error?: string): Record<string, string> => ({
    'www-authenticate': `Bearer realm="gatehouse"${error ? `, error="${error}"` : ''}`,
  });
  const claims = Object.entries(cfg.forward_claims);
  return {
    async verify(ctx) {
      const auth = ctx.req.headers.authorization;
      const token = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : cfg.cookie ? cookieValue(ctx.req.headers.cookie, cfg.cookie) : undefined;
      if (!token) throw errors.unauthorized(challenge());
      const { jose, key } = await ready;
      try {
        const { payload } = typeof key === 'function' ? await jose.jwtVerify(token, key, opts) : await jose.jwtVerify(token, key, opts);
        return payload;
      } catch {
        throw errors.unauthorized(challenge('invalid_token'));
      }
    },
    forwarded(payload) {
      const out: [string, string][] = [];
      for (const [claim, header] of claims) {
        const v = payload[claim];
        if (v !== undefined) out.push([header, typeof v === 'string' ? v : JSON.stringify(v)]);
      }
      return out;
    },
  };
}
