/**
 * Header rewriting in both directions. Requests: hop-by-hop fields dropped (RFC 9110 7.6.1, and every field
 * named in Connection), X-Forwarded-For/-Proto/-Host set (client values kept only from trusted proxies),
 * Via appended (RFC 9110 7.6.3), X-Request-Id set. Responses: hop-by-hop and backend-identifying fields dropped,
 * Location/Content-Location pointing at a backend rewritten to the public host.
 */
import { util as undiciUtil } from 'undici';
import { connectionTokens, FieldNames, HOP_BY_HOP } from '../core/headers.js';
import type { RequestCtx, RequestHead } from '../core/context.js';
import { charCodeAt, slice, startsWith, toLowerCase } from '../core/strings.js';

const { headerNameToString } = undiciUtil;

/** Request fields the proxy sets itself, so the client's copies are dropped. */
const REQUEST_REPLACED: readonly string[] = [
  'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'via',
  'x-request-id', 'x-real-ip',
  // The proxy answers `Expect: 100-continue` itself (node:http does, as nginx); forwarding it would make the
  // origin send a 100 that the upstream client does not expect.
  'expect',
];
/** What a request's fields lose on the way: hop-by-hop ones and those the proxy sets itself. */
const REQUEST_DROPPED = new FieldNames([...HOP_BY_HOP, ...REQUEST_REPLACED]);

export interface RequestHeaderOptions {
  /** Host header override for this upstream (an upstream's config is one: no object per request). */
  readonly host?: string | undefined;
}

/** Builds the header list sent upstream. */
export function upstreamRequestHeaders(ctx: RequestCtx, head: RequestHead, opts: RequestHeaderOptions): string[] {
  const req = ctx.req;
  const raw = req.rawHeaders;
  const extra = connectionTokens(head.connection);
  const out: string[] = [];
  const h2 = req.httpVersion === '2';
  let cookies: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (charCodeAt(name, 0) === 58 /* : */) continue; // HTTP/2 pseudo-headers
    const lower = toLowerCase(name);
    if (h2 && lower === 'cookie') {
      // RFC 9113 8.2.3: HTTP/2 clients may split Cookie into several fields; HTTP/1.1 gets them as one.
      cookies = cookies === undefined ? raw[i + 1]! : `${cookies}; ${raw[i + 1]!}`;
      continue;
    }
    if (REQUEST_DROPPED.has(lower)) {
      // RFC 9110 10.1.4, RFC 9113 8.2.2: TE is hop-by-hop, but "trailers" says the client takes trailer
      // fields, which the proxy relays: gRPC servers require it. Other TE values stay on this hop.
      if (lower === 'te' && /(?:^|,)\s*trailers\s*(?:[,;]|$)/i.test(raw[i + 1]!)) out.push('te', 'trailers');
      continue;
    }
    if (extra !== undefined && extra.includes(lower)) continue;
    if (lower === 'max-forwards') {
      // RFC 9110 7.6.2: decremented on OPTIONS and TRACE (0 was answered by the proxy itself).
      const m = req.method;
      const n = Number(raw[i + 1]);
      if ((m === 'OPTIONS' || m === 'TRACE') && n > 0) { out.push(name, String(n - 1)); continue; }
    }
    out.push(name, raw[i + 1]!);
  }
  if (cookies !== undefined) out.push('cookie', cookies);
  const host = opts.host ?? head.hostHeader;
  if (host !== undefined) out.push('host', host);
  const peer = req.remoteAddress ?? '';
  const peerIp = startsWith(peer, '::ffff:') ? slice(peer, 7) : peer;
  if (ctx.trustedPeer) {
    out.push(
      'x-forwarded-for', head.xff ? `${head.xff}, ${peerIp}` : peerIp,
      'x-forwarded-proto', head.xfProto ?? ctx.proto,
    );
    const fh = head.xfHost ?? head.hostHeader;
    if (fh !== undefined) out.push('x-forwarded-host', fh);
  } else {
    out.push('x-forwarded-for', peerIp, 'x-forwarded-proto', ctx.proto);
    if (head.hostHeader !== undefined) out.push('x-forwarded-host', head.hostHeader);
  }
  const hop = `${req.httpVersion} gatehouse`;
  out.push('via', head.via ? `${head.via}, ${hop}` : hop, 'x-request-id', ctx.requestId);
  return out;
}

/** Response fields never shown to the client, besides hop-by-hop ones. */
export const ALWAYS_HIDDEN: readonly string[] = ['server', 'x-powered-by', 'x-request-id'];

export interface ResponseHeaderOptions {
  /** Lower-cased names to drop: hop-by-hop, Server, X-Powered-By and the configured `hide_headers`. */
  hidden: FieldNames;
  /** Lower-cased `host:port` of this upstream's servers, to recognise backend URLs in Location. */
  authorities: ReadonlySet<string>;
  /** Maps a backend path back to the client's (the inverse of the route's rewrite), for backend URLs. */
  unrewrite?: ((path: string) => string) | undefined;
}

function rewriteLocation(value: string, ctx: RequestCtx, hostHeader: string | undefined, opts: ResponseHeaderOptions): string {
  const scheme = value.startsWith('http://') ? 7 : value.startsWith('https://') ? 8 : 0;
  if (scheme === 0) return value;
  let end = value.indexOf('/', scheme);
  if (end === -1) end = value.length;
  const authority = value.slice(scheme, end).toLowerCase();
  if (!opts.authorities.has(authority)) return value;
  let rest = value.slice(end) || '/';
  if (opts.unrewrite) {
    let q = rest.search(/[?#]/);
    if (q === -1) q = rest.length;
    rest = opts.unrewrite(rest.slice(0, q)) + rest.slice(q);
  }
  return hostHeader ? `${ctx.proto}://${hostHeader}${rest}` : rest;
}

/**
 * The client's header list built from the upstream's raw header pairs, the Content-Length (-1: none), and how
 * many items at the start of the list are known valid fields (`DownstreamResponse.writeHead`'s `checked`).
 */
export interface ClientHeaders { headers: string[]; contentLength: number; checked: number }

/**
 * Raw header pairs from an upstream: Buffers from undici; latin1 strings from the native client (h1/), whose
 * parser lower-cases the names (core/llhttp.ts `lowerNames`): a string name is in lower case.
 */
export type RawFields = readonly (Buffer | string)[];

/** A field name in lower case: a string name is already (RawFields); a Buffer through undici's lookup tree. */
function lowerName(name: Buffer | string): string {
  return typeof name === 'string' ? name : headerNameToString(name);
}

const text = (v: Buffer | string): string => (typeof v === 'string' ? v : v.toString('latin1'));

/**
 * Builds the header list sent to the client straight from the upstream's raw header pairs (`[name, value, ...]`
 * as Buffers or strings): names lower-cased, hop-by-hop and hidden fields dropped, Location / Content-Location
 * pointing at a backend rewritten. No intermediate header object is built. `idKnown`: no user plugin with hooks
 * runs, so ctx.requestId is the kernel's (counted in `checked` when the fields before it are).
 */
export function clientResponseHeaders(
  ctx: RequestCtx, raw: RawFields, hostHeader: string | undefined, opts: ResponseHeaderOptions, idKnown = false,
): ClientHeaders {
  let out: string[] = [];
  let extra: string[] | undefined;
  let contentLength = -1;
  // Strings come from the native client's parser, which lets no invalid name or value through (-1: all so far).
  let checked = raw.length === 0 || typeof raw[0] === 'string' ? -1 : 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerName(raw[i]!);
    if (opts.hidden.has(name)) {
      // Connection is hop-by-hop, so hidden; the fields it names are dropped below (it may come after them).
      if (name === 'connection') {
        const tokens = connectionTokens(text(raw[i + 1]!));
        if (tokens) extra = extra ? extra.concat(tokens) : tokens;
      }
      continue;
    }
    const value = text(raw[i + 1]!);
    if (name === 'content-length') contentLength = Number(value);
    if (name === 'location' || name === 'content-location') {
      const rewritten = rewriteLocation(value, ctx, hostHeader, opts);
      if (rewritten !== value && checked === -1) checked = out.length;
      out.push(name, rewritten);
    } else out.push(name, value);
  }
  if (extra !== undefined) {
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) if (!extra.includes(out[i]!)) kept.push(out[i]!, out[i + 1]!);
    out = kept;
    checked = 0;
  }
  if (checked === -1) checked = out.length;
  // The request id is the client's (a parser's field, REQUEST_ID_RE) or the proxy's own; only a user plugin could
  // have set another, so it is checked with the rest when one may have (`idKnown` false).
  const all = checked === out.length;
  out.push('x-request-id', ctx.requestId);
  if (all && idKnown) checked = out.length;
  return { headers: out, contentLength, checked };
}

/**
 * RFC 9110 15.2: relays an interim response to the client: 102 (Processing) as is, 103 (Early Hints) with its
 * fields (hop-by-hop and hidden ones dropped, as on the final response). Never to an HTTP/1.0 client (15.2),
 * nor once the final head is out. Other 1xx are dropped: the proxy answers 100 itself and 101 is an upgrade.
 */
export function relayInformational(ctx: RequestCtx, status: number, raw: RawFields, opts: ResponseHeaderOptions): void {
  const res = ctx.res;
  if (res.headersSent || ctx.req.httpVersion === '1.0' || (status !== 102 && status !== 103)) return;
  try {
    if (status === 102) return void res.writeInformational(102, []);
    const { headers } = clientResponseHeaders(ctx, raw, ctx.head.hostHeader, opts);
    // The final response carries the request id; the hints do not.
    headers.length -= 2;
    res.writeInformational(103, headers);
  } catch (err) {
    ctx.log.debug({ err, status }, 'interim response not relayed');
  }
}

/** Trailers as undici hands them over: raw pairs from HTTP/1.1, an object from HTTP/2 (undici 7's h2 client). */
export type UpstreamTrailers = RawFields | Readonly<Record<string, string | string[] | undefined>>;

/** Trailers as a flat [name, value, …] list for res.addTrailers, hidden fields dropped. */
export function clientTrailers(trailers: UpstreamTrailers, hidden: FieldNames): string[] {
  const out: string[] = [];
  if (!Array.isArray(trailers)) {
    for (const [name, v] of Object.entries(trailers)) {
      if (v === undefined || hidden.has(name.toLowerCase())) continue;
      for (const one of Array.isArray(v) ? v : [v]) out.push(name.toLowerCase(), one);
    }
    return out;
  }
  const raw = trailers as RawFields;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = lowerName(raw[i]!);
    if (!hidden.has(name)) out.push(name, text(raw[i + 1]!));
  }
  return out;
}

export function hiddenResponseHeaders(configured: readonly string[]): FieldNames {
  return new FieldNames([...HOP_BY_HOP, ...ALWAYS_HIDDEN, ...configured.map((h) => h.toLowerCase())]);
}
