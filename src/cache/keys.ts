/**
 * Cache keys. A key is the route's zone (its cache settings), the URL (scheme, host, path, query) and any
 * configured request headers or cookies; a stored response with Vary adds the normalised values of the
 * request fields it names (RFC 9111 4.1), so each variant is an object of its own.
 */
import { createHash } from 'node:crypto';
import Negotiator from 'negotiator';
import type { RequestCtx } from '../core/context.js';
import { cookieValue } from '../core/headers.js';
import type { RouteCacheConfig } from './schema.js';

/** A short id for a route's cache settings: objects stored under other settings are not used. */
export function zoneOf(routeId: string, upstream: string, cfg: RouteCacheConfig): string {
  return createHash('sha256').update(JSON.stringify([routeId, upstream, cfg.key, cfg.store_set_cookie])).digest('base64url').slice(0, 10);
}

function matchesParam(name: string, patterns: readonly string[]): boolean {
  for (const p of patterns) {
    if (p === '*' || p === name || (p.endsWith('*') && name.startsWith(p.slice(0, -1)))) return true;
  }
  return false;
}

/** The query as the key sees it: ignored parameters dropped, sorted when asked. */
export function keyQuery(query: string, key: RouteCacheConfig['key']): string {
  if (query === '' || (key.ignore_query.length === 0 && !key.sort_query)) return query;
  let parts = query.slice(1).split('&').filter((p) => p !== '');
  if (key.ignore_query.length) {
    parts = parts.filter((p) => {
      const eq = p.indexOf('=');
      const raw = eq === -1 ? p : p.slice(0, eq);
      let name = raw;
      try { name = decodeURIComponent(raw.replace(/\+/g, ' ')); } catch { /* keep it as sent */ }
      return !matchesParam(name, key.ignore_query);
    });
  }
  if (key.sort_query) parts.sort();
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The URL a request names, as purge and invalidation name it: scheme://host/path?query (host lower-case, no port). */
export function urlOf(ctx: RequestCtx, query = ctx.query): string {
  return `${ctx.proto}://${ctx.host}${ctx.path}${query}`;
}

/**
 * A URL as a user types it, in the form `urlOf` indexes objects by: `scheme://host/path?query`, the scheme and
 * host lower-case, without port, user info, trailing dot or fragment (RFC 9110 4.2.3: the scheme and host are
 * case-insensitive). The path and query are kept as typed (they are case-sensitive), with characters a request
 * line cannot carry (spaces, non-ASCII) percent-encoded as a client would send them. No path is `/`, so a prefix
 * with no path names one whole host (`http://a.example` → `http://a.example/`). Undefined when it is not an
 * absolute http(s) URL.
 */
export function normalUrl(input: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/i.exec(input.trim());
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  let host: string;
  try {
    // WHATWG URL parsing of the authority alone: lower-case, IDNA (punycode, as clients send Host), IPv6 form.
    host = new URL(`${scheme}://${m[2]}/`).hostname;
  } catch {
    return undefined;
  }
  if (host === '') return undefined;
  if (host.endsWith('.')) host = host.slice(0, -1);
  let rest = m[3]!;
  try {
    rest = rest.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  } catch {
    return undefined; // a lone surrogate
  }
  // The request target is never empty (RFC 9112 3.2.1): `http://a.example` and `http://a.example?q` mean `/`.
  if (!rest.startsWith('/')) rest = `/${rest}`;
  return `${scheme}://${host}${rest}`;
}

/** The base key of a request: zone, URL and configured headers and cookies. */
export function baseKey(zone: string, ctx: RequestCtx, key: RouteCacheConfig['key']): string {
  let out = `${zone} ${urlOf(ctx, keyQuery(ctx.query, key))}`;
  // The Host as sent reaches the origin (Host, X-Forwarded-Host), which may echo it into links: a port or a
  // trailing dot there makes another object, or one client could poison the object for all (Host: a.com:666).
  const host = ctx.head.hostHeader?.toLowerCase();
  if (host !== undefined && host !== ctx.host) out += `
host=${host}`;
  // Behind a trusted proxy its X-Forwarded-Proto and -Host reach the origin too, which may redirect or build links
  // by them: an http request through a TLS-terminating balancer must not store a redirect for its https users.
  if (ctx.trustedPeer) {
    const proto = ctx.head.xfProto?.trim().toLowerCase();
    const xfHost = ctx.head.xfHost?.trim().toLowerCase();
    if (proto !== undefined && proto !== ctx.proto) out += `\nxfp=${proto}`;
    if (xfHost !== undefined && xfHost !== (host ?? ctx.host)) out += `\nxfh=${xfHost}`;
  }
  for (const h of key.headers) {
    const v = ctx.req.header(h.toLowerCase());
    out += `\nh:${h.toLowerCase()}=${v ?? ''}`;
  }
  if (key.cookies.length) {
    const jar = ctx.req.header('cookie');
    for (const c of key.cookies) out += `\nc:${c}=${cookieValue(jar, c) ?? ''}`;
  }
  return out;
}

/** RFC 9111 4.1: the Vary field names of a response, lower-case, without duplicates. */
export function varyNames(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'vary') continue;
    for (const n of headers[i + 1]!.split(',')) {
      const name = n.trim().toLowerCase();
      if (name && !out.includes(name)) out.push(name);
    }
  }
  return out.sort();
}

/**
 * Accept-Encoding as a variant bucket: the codings of br and gzip it accepts, in the client's order of
 * preference, parsed as origins built on negotiator parse it (q-values, parameters, `*`). Every client in a
 * bucket accepts the same codings, so a stored gzip body is never served to one that refused gzip (`identity`,
 * as wget sends) because an attacker's spelling (`*`, `gzip;q=1;x=y`) fell into its bucket. At most five buckets.
 */
export function encodingBucket(value: string | undefined): string {
  if (!value) return '';
  return acceptedCodings(value).join(',');
}

/** The codings of br and gzip an Accept-Encoding value accepts (q > 0), preferred first. */
export function acceptedCodings(value: string): string[] {
  return new Negotiator({ headers: { 'accept-encoding': value } }).encodings(['br', 'gzip']).filter((e) => e === 'br' || e === 'gzip');
}

/**
 * RFC 9111 4.1: a response stored for `Vary: Accept-Encoding` must suit every request that selects it. One whose
 * Content-Encoding the request did not accept (an origin reading `*` or an odd spelling its own way) is not stored.
 */
export function codingMismatch(acceptEncoding: string | string[] | undefined, contentEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined || contentEncoding === undefined) return false;
  const accepted = acceptedCodings(Array.isArray(acceptEncoding) ? acceptEncoding.join(', ') : acceptEncoding);
  return contentEncoding.split(',').map((c) => c.trim().toLowerCase()).some((c) => c !== '' && c !== 'identity' && !accepted.includes(c));
}

/**
 * Accept-Language as a variant bucket (RFC 9111 4.1 lets a cache normalise by the field's syntax): language
 * ranges are case-insensitive (RFC 4647 2), so "eN, De" selects the same variant as "en, de". The order is
 * kept: origins (e.g. the negotiator library) break ties between equal weights by it.
 */
export function languageBucket(value: string): string {
  return value.split(',').map((r) => r.replace(/\s+/g, '').toLowerCase()).filter((r) => r !== '').join(',');
}

/** The variant part of a key: the request's values of the Vary fields, whitespace normalised. */
export function variantKey(names: readonly string[], ctx: RequestCtx): string {
  if (names.length === 0) return '';
  let out = '';
  for (const n of names) {
    const v = ctx.req.header(n);
    const value = v === undefined ? '\u0000' : n === 'accept-encoding' ? encodingBucket(v)
      : n === 'accept-language' ? languageBucket(v)
        : v.replace(/\s*,\s*/g, ',').replace(/\s+/g, ' ').trim();
    out += `\n${n}=${value}`;
  }
  return `\nvary${out}`;
}
