/**
 * On-the-fly response compression (RFC 9110 §8.4 Content-Encoding, §12.5.3 Accept-Encoding, §12.5.5 Vary) with
 * node:zlib. `chooseEncoding` negotiates (negotiator), `shouldCompress` says whether a response may be
 * transformed, `compressedHead` rewrites its head, `compressor` is the streaming Transform.
 * `normalAcceptEncoding` is the bucket the cache keys `Vary: Accept-Encoding` variants by.
 */
import Negotiator from 'negotiator';
import { constants, createBrotliCompress, createGzip, type BrotliOptions, type ZlibOptions } from 'node:zlib';
import type { Transform } from 'node:stream';
import { getJoined, listElements, without, withField } from './flat-headers.js';

export type Encoding = 'br' | 'gzip';

/** negotiator 1.x takes a preferred order for ties; @types/negotiator (0.6) does not know it yet. */
type EncodingsWithPreference = (available: readonly string[], opts: { preferred: readonly string[] }) => string[];

/**
 * The coding to send, among `offered` (in our order of preference), or undefined for none. RFC 9110 §12.5.3:
 * q=0 refuses a coding, `*` matches any coding not listed, an empty field value means identity only. Identity
 * takes part in the negotiation, so a client that rates it above gzip gets the body as is. On equal q values
 * the order of `offered` wins (br before gzip), not the order in the header. No header at all: undefined
 * (any coding would be allowed, but like nginx and Caddy we do not compress for clients that never asked).
 */
export function chooseEncoding(acceptEncoding: string | undefined, offered: readonly Encoding[]): Encoding | undefined {
  if (acceptEncoding === undefined || offered.length === 0) return undefined;
  const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding } });
  const encodings = negotiator.encodings.bind(negotiator) as unknown as EncodingsWithPreference;
  const best = encodings([...offered, 'identity'], { preferred: offered })[0];
  return offered.find((e) => e === best);
}

/**
 * The variant bucket for a request's Accept-Encoding: 'br', 'gzip' or '' (identity). The cache keys
 * `Vary: Accept-Encoding` variants by this rather than by the raw header, which has thousands of spellings; it is
 * exactly what `chooseEncoding(value, ['br', 'gzip'])` would serve, so br is preferred when both are accepted
 * at the same q.
 */
export function normalAcceptEncoding(value: string | undefined): Encoding | '' {
  return chooseEncoding(value, ['br', 'gzip']) ?? '';
}

/**
 * Media types worth compressing on the fly (in the spirit of Caddy's and nginx's lists): text, JSON, JavaScript,
 * XML and their structured suffixes, SVG, WebAssembly and uncompressed font formats. Images, audio, video, woff2
 * and archives are already compressed and are left out.
 */
export const DEFAULT_COMPRESSIBLE: readonly string[] = Object.freeze([
  'text/*',
  'application/json', 'application/*+json', 'application/x-ndjson', 'application/problem+json',
  'application/javascript', 'application/x-javascript', 'application/ecmascript',
  'application/xml', 'application/*+xml',
  'application/wasm', 'application/yaml', 'application/x-yaml', 'application/toml', 'application/graphql',
  'image/svg+xml', 'image/x-icon', 'image/vnd.microsoft.icon', 'image/bmp',
  'font/ttf', 'font/otf', 'font/collection', 'application/vnd.ms-fontobject',
  'application/x-font-ttf', 'application/x-font-otf', 'application/x-font-opentype', 'application/x-font-truetype',
]);

/**
 * Server-sent events are never compressed, whatever the list says: the stream never ends and each event must
 * reach the client at once, which a compressor holding back bytes would defeat.
 */
const NEVER_COMPRESSIBLE: readonly string[] = ['text/event-stream'];

/**
 * Whether `contentType` matches one of `types`: exact (`application/json`), a whole type (`text/*`) or a
 * structured suffix (`application/*+json`). Parameters (charset…) are ignored; comparison is case-insensitive
 * (RFC 9110 §8.3.1). No content-type: false (we do not sniff).
 */
export function isCompressible(contentType: string | undefined, types: readonly string[]): boolean {
  if (contentType === undefined) return false;
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === '' || NEVER_COMPRESSIBLE.includes(mediaType)) return false;
  return types.some((pattern) => matchesType(pattern.trim().toLowerCase(), mediaType));
}

function matchesType(pattern: string, mediaType: string): boolean {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === mediaType;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return mediaType.length > prefix.length + suffix.length && mediaType.startsWith(prefix) && mediaType.endsWith(suffix);
}

export interface CompressPolicy {
  /** Media type patterns that may be compressed (see `isCompressible`). */
  types: readonly string[];
  /** Bodies with a known Content-Length below this are sent as they are (the frame costs more than it saves). */
  minLength: number;
}

/** Statuses whose body must not be transformed or that have none: 1xx, 204, 206 (ranges of the identity bytes), 304. */
function hasTransformableBody(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 206 && status !== 304;
}

/**
 * Whether a response may be compressed. No when: the origin already chose a coding (Content-Encoding other than
 * identity); the status has no body or is a 206 (a Content-Range addresses identity bytes, RFC 9110 §14.4);
 * Cache-Control: no-transform (RFC 9110 §7.7, RFC 9111 §5.2.2.6: an intermediary must not change the content);
 * a known Content-Length below `minLength`; a media type outside `types`.
 */
export function shouldCompress(head: { status: number; headers: string[] }, opts: CompressPolicy): boolean {
  if (!hasTransformableBody(head.status)) return false;
  const codings = listElements(getJoined(head.headers, 'content-encoding')).map((c) => c.toLowerCase());
  if (codings.some((c) => c !== 'identity')) return false;
  if (getJoined(head.headers, 'content-range') !== undefined) return false;
  const directives = listElements(getJoined(head.headers, 'cache-control'));
  if (directives.some((d) => d.split('=', 1)[0]!.trim().toLowerCase() === 'no-transform')) return false;
  const length = getJoined(head.headers, 'content-length');
  if (length !== undefined && /^\d+$/.test(length) && Number(length) < opts.minLength) return false;
  return isCompressible(getJoined(head.headers, 'content-type'), opts.types);
}

/**
 * The head of the compressed response: Content-Encoding set; Content-Length dropped (the length is unknown
 * until the end: chunked or END_STREAM); Accept-Ranges dropped (byte offsets of the coded body are not the
 * stored ones); a strong ETag made weak, as nginx does (RFC 9110 §8.8.1: the bytes differ, the meaning does
 * not); `accept-encoding` added to Vary (§12.5.5) once, unless Vary is `*`.
 */
export function compressedHead(headers: string[], encoding: Encoding): string[] {
  let out = withField(without(headers, ['content-length', 'accept-ranges', 'content-encoding']), 'content-encoding', encoding);
  const etag = getJoined(headers, 'etag');
  if (etag !== undefined && etag.trim().startsWith('"')) out = withField(out, 'etag', `W/${etag.trim()}`);
  const vary = listElements(getJoined(headers, 'vary'));
  const lower = vary.map((v) => v.toLowerCase());
  if (!lower.includes('*') && !lower.includes('accept-encoding')) {
    out = withField(out, 'vary', [...vary, 'accept-encoding'].join(', '));
  }
  return out;
}

export interface CompressorOptions {
  /** Brotli quality 0-11; default 4 (on-the-fly: about gzip's cost for a smaller result). */
  brotliQuality?: number;
  /** gzip level 1-9; default 6 (zlib's and nginx's usual trade-off). */
  gzipLevel?: number;
  /** The body length when known: brotli sizes its window and tables for it (BROTLI_PARAM_SIZE_HINT). */
  sizeHint?: number;
}

/**
 * A streaming compressor. Each written chunk is flushed (Z_SYNC_FLUSH / BROTLI_OPERATION_FLUSH) so bytes that
 * reach the proxy also leave it: a slowly streamed page or NDJSON feed is not held in the compressor until
 * more arrives. The cost is a few bytes per chunk; the window is kept across flushes, so the ratio barely moves.
 * Brotli uses a 1 MiB window (lgwin 20) to bound memory per stream, below brotli's 4 MiB default.
 */
export function compressor(encoding: Encoding, opts: CompressorOptions = {}): Transform {
  if (encoding === 'gzip') {
    const gzip: ZlibOptions = { level: opts.gzipLevel ?? 6, flush: constants.Z_SYNC_FLUSH };
    return createGzip(gzip);
  }
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: opts.brotliQuality ?? 4,
    [constants.BROTLI_PARAM_LGWIN]: 20,
  };
  if (opts.sizeHint !== undefined && opts.sizeHint >= 0) {
    params[constants.BROTLI_PARAM_SIZE_HINT] = Math.min(opts.sizeHint, 0xffffffff);
  }
  const br: BrotliOptions = { params, flush: constants.BROTLI_OPERATION_FLUSH };
  return createBrotliCompress(br);
}
