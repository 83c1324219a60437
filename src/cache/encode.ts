/**
 * Whether and how one response is compressed for its client: the route's `compress` settings, the client's
 * Accept-Encoding and the response head (compress.ts decides what may be transformed). Used on forwarded
 * responses (the forwarder runs the returned Transform) and on responses served from the cache.
 */
import type { Transform } from 'node:stream';
import { chooseEncoding, compressedHead, compressor, DEFAULT_COMPRESSIBLE, shouldCompress, type Encoding } from './compress.js';
import { getJoined, listElements, withField } from './flat-headers.js';
import type { CompressConfig } from './schema.js';

export interface CompressSettings {
  readonly encodings: readonly Encoding[];
  readonly types: readonly string[];
  readonly minLength: number;
  readonly brotliQuality: number;
  readonly gzipLevel: number;
}

/** The route's `compress` value, defaults applied; undefined when off. */
export function compressSettings(cfg: CompressConfig | undefined): CompressSettings | undefined {
  if (cfg === undefined || cfg === false) return undefined;
  const c = cfg === true ? undefined : cfg;
  return {
    encodings: c?.encodings ?? ['br', 'gzip'], types: c?.types ?? DEFAULT_COMPRESSIBLE, minLength: c?.min_length ?? 1024,
    brotliQuality: c?.brotli_quality ?? 4, gzipLevel: c?.gzip_level ?? 6,
  };
}

/** `vary` with accept-encoding added (RFC 9110 12.5.5): the response depends on it even when not compressed. */
function varyOnEncoding(headers: string[]): string[] {
  const vary = listElements(getJoined(headers, 'vary'));
  const lower = vary.map((v) => v.toLowerCase());
  if (lower.includes('*') || lower.includes('accept-encoding')) return headers;
  return withField(headers, 'vary', [...vary, 'accept-encoding'].join(', '));
}

/**
 * The coding to apply to this response for this client, or undefined. `head.headers` is rewritten in place:
 * the compressed head (Content-Encoding, no Content-Length, weak ETag, Vary), or, for a response that could
 * have been compressed, only Vary: Accept-Encoding.
 */
export function planEncoding(s: CompressSettings, acceptEncoding: string | undefined, head: { status: number; headers: string[] }): Encoding | undefined {
  if (!shouldCompress(head, { types: s.types, minLength: s.minLength })) return undefined;
  const enc = chooseEncoding(acceptEncoding, s.encodings);
  head.headers = enc ? compressedHead(head.headers, enc) : varyOnEncoding(head.headers);
  return enc;
}

/** The streaming compressor for `enc` with the route's levels. */
export function encoder(s: CompressSettings, enc: Encoding, sizeHint?: number): Transform {
  return compressor(enc, { brotliQuality: s.brotliQuality, gzipLevel: s.gzipLevel, ...(sizeHint !== undefined ? { sizeHint } : {}) });
}
