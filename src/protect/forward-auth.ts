/**
 * Forward auth (Traefik ForwardAuth, nginx auth_request): a sub-request with the client's method and
 * headers (never its body) and X-Forwarded-Method/-Uri/-Host/-Proto/-For. A 2xx answer lets the request
 * through and copies `copy_headers` onto the upstream request; any other answer (status, headers, body)
 * goes back to the client as it is. An unreachable or slow auth service is a 503, never a pass.
 */
import { request } from 'undici';
import { kRejected, type RequestCtx } from '../core/context.js';
import { HOP_BY_HOP } from '../core/headers.js';
import { errors } from '../core/errors.js';
import type { Reply } from '../core/plugin.js';
import type { ForwardAuthConfig } from './schema.js';

const NOT_SENT = new Set([...HOP_BY_HOP, 'content-length', 'host', 'expect']);

export interface ForwardAuthResult { reply?: Reply; copy: [string, string][] }

export function forwardAuth(cfg: ForwardAuthConfig): (ctx: RequestCtx) => Promise<ForwardAuthResult> {
  const copy = cfg.copy_headers.map((h) => h.toLowerCase());
  return async (ctx) => {
    const headers: Record<string, string> = {};
    const raw = ctx.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      // HTTP/2 pseudo-headers (`:path`…) are the request line, not fields.
      if (NOT_SENT.has(k) || k.charCodeAt(0) === 58 /* : */) continue;
      const prev = headers[k];
      headers[k] = prev === undefined ? raw[i + 1]! : `${prev}${k === 'cookie' ? '; ' : ', '}${raw[i + 1]!}`;
    }
    Object.assign(headers, {
      'x-forwarded-method': ctx.req.method, 'x-forwarded-uri': ctx.path + ctx.query, 'x-forwarded-host': ctx.head.hostHeader ?? '',
      'x-forwarded-proto': ctx.proto, 'x-forwarded-for': ctx.clientIp,
    });
    let res;
    try {
      res = await request(cfg.url, { method: 'GET', headers, headersTimeout: cfg.timeout, bodyTimeout: cfg.timeout, signal: AbortSignal.timeout(cfg.timeout) });
    } catch (err) {
      throw errors.authUnavailable(err);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump();
      const out: [string, string][] = [];
      for (const name of copy) {
        const v = res.headers[name];
        if (v !== undefined) out.push([name, Array.isArray(v) ? v.join(', ') : v]);
      }
      return { copy: out };
    }
    const body = Buffer.from(await res.body.arrayBuffer());
    const replyHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || k === 'content-length' || k === 'server' || k === 'x-powered-by') continue;
      replyHeaders[k] = v;
    }
    ctx.set(kRejected, 'auth_failed');
    return { reply: { status: res.statusCode, headers: replyHeaders, body }, copy: [] };
  };
}
