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

const REASONS: Record<string, string> = { ENOENT: 'file not found', EACCES: 'permission denied', EISDIR: 'is a directory' };

/**
 * The key of `public_key`: inline PEM, or a PEM file relative to the config directory. Throws an Error
 * naming the file and the reason (what `gatehouse validate` reports, before any request needs the key).
 */
export function readPublicKey(spec: string, baseDir: string): KeyObject {
  const inline = spec.includes('-----BEGIN');
  const file = isAbsolute(spec) ? spec : resolve(baseDir, spec);
  let pem = spec;
  if (!inline) {
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`cannot read public key file ${file}: ${(code && REASONS[code]) ?? code ?? (err as Error).message}`);
    }
  }
  const what = inline ? 'the inline public key' : `public key file ${file}`;
  if (!pem.includes('-----BEGIN')) throw new Error(`${what} is not a PEM public key (no -----BEGIN PUBLIC KEY----- line)`);
  try {
    return createPublicKey(pem);
  } catch (err) {
    const why = (err as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/, '');
    throw new Error(`${what} cannot be parsed (${why})`);
  }
}

function keyFor(jose: Jose, cfg: JwtConfig, baseDir: string): KeyObject | JWTVerifyGetKey {
  if (cfg.jwks_url) return jose.createRemoteJWKSet(new URL(cfg.jwks_url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
  if (cfg.public_key) return readPublicKey(cfg.public_key, baseDir);
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
      const auth = ctx.req.header('authorization');
      const token = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : cfg.cookie ? cookieValue(ctx.req.header('cookie'), cfg.cookie) : undefined;
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
