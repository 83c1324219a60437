/**
 * Range requests on stored objects (RFC 9110 §14: Range, Content-Range, 206, multipart/byteranges, 416; §13.1.5
 * If-Range). Three steps the cache layer calls in order: `planRange` decides what to send, `rangeHead` builds the
 * status and header fields, `rangeBody` streams the bytes from the store. Parsing is range-parser's (as express).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import rangeParser from 'range-parser';
import { getJoined, withField, without } from './flat-headers.js';

export type ByteRange = { start: number; end: number };

/** What to send: the whole object, one range, several ranges (multipart), or a 416. Offsets are inclusive. */
export type RangePlan =
  | { kind: 'full' }
  | { kind: 'single'; start: number; end: number }
  | { kind: 'multi'; ranges: ByteRange[] }
  | { kind: 'unsatisfiable' };

export interface RangeRequest {
  method: string;
  range: string | undefined;
  ifRange: string | undefined;
}

export interface RangeTarget {
  size: number;
  status: number;
  etag: string | undefined;
  lastModified: string | undefined;
}

/**
 * Abuse guard (Apache CVE-2011-3192, "Apache Killer": `Range: bytes=0-,5-0,5-1,…` with ~1300 overlapping parts
 * made the server build one copy of the body per part). RFC 9110 §14.2 lets a server ignore a Range with many
 * overlapping or small ranges; we coalesce overlaps first, then serve the whole object (200) when the client
 * still asks for more than MAX_RANGES parts, or sent more than MAX_SPECS specs at all (whatever they overlap):
 * no legitimate client needs that, and a 200 costs us no more than the object itself.
 */
export const MAX_RANGES = 16;
export const MAX_SPECS = 2 * MAX_RANGES;

const FULL: RangePlan = { kind: 'full' };

/**
 * Decides how to answer a request for `obj`. 'full' whenever ranges do not apply: not a GET (RFC 9110 §14.2:
 * GET is the only method with range handling), not a 200 object, no Range, a range unit other than bytes, an
 * invalid range set (§14.2: a server MAY ignore it), a failed If-Range (§13.1.5), or the abuse guard above.
 */
export function planRange(req: RangeRequest, obj: RangeTarget): RangePlan {
  if (req.method !== 'GET' || obj.status !== 200 || req.range === undefined) return FULL;
  // RFC 9110 §13.1.5: If-Range is evaluated only with a Range; when false, the whole representation is sent.
  if (req.ifRange !== undefined && !ifRangeHolds(req.ifRange, obj)) return FULL;
  const eq = req.range.indexOf('=');
  // RFC 9110 §14.1: range units are case-insensitive; §14.2: an unknown unit means the Range is ignored.
  if (eq < 0 || req.range.slice(0, eq).trim().toLowerCase() !== 'bytes') return FULL;
  const spec = 'bytes=' + clampSuffixes(req.range.slice(eq + 1), obj.size);
  if (!isValidRangeSet(spec)) return FULL;
  const raw = rangeParser(obj.size, spec);
  if (raw === -1) return { kind: 'unsatisfiable' };
  if (raw === -2) return FULL;
  if (raw.length > MAX_SPECS) return FULL;
  const combined = rangeParser(obj.size, spec, { combine: true });
  if (!Array.isArray(combined) || combined.length > MAX_RANGES) return FULL;
  if (combined.length === 1) return { kind: 'single', start: combined[0]!.start, end: combined[0]!.end };
  return { kind: 'multi', ranges: combined.map((r) => ({ start: r.start, end: r.end })) };
}

/**
 * RFC 9110 §14.1.2: a suffix longer than the representation selects all of it, but range-parser computes a
 * negative start and drops the spec as unsatisfiable; so such suffixes are shortened to the length first.
 */
function clampSuffixes(set: string, size: number): string {
  if (size === 0) return set;
  return set.split(',').map((s) => {
    const m = /^\s*-(\d+)\s*$/.exec(s);
    return m !== null && Number(m[1]) > size ? `-${size}` : s;
  }).join(',');
}

/**
 * RFC 9110 §14.1.1: a byte-range-spec whose last-byte-pos is below its first-byte-pos is invalid. range-parser
 * skips such specs as if unsatisfiable, so we parse once against an unbounded length: nothing is clamped there,
 * and any spec it drops was invalid (or `-0`, which we then also ignore: §14.2 lets a server ignore any Range).
 */
function isValidRangeSet(spec: string): boolean {
  const probe = rangeParser(Number.MAX_SAFE_INTEGER, spec);
  if (!Array.isArray(probe)) return false;
  return probe.length === spec.slice('bytes='.length).split(',').length;
}

/**
 * RFC 9110 §13.1.5: an entity-tag must match the current ETag by strong comparison (§8.8.3.2: both strong and
 * identical; a weak tag on either side never matches); otherwise an HTTP-date must exactly match Last-Modified.
 */
function ifRangeHolds(ifRange: string, obj: RangeTarget): boolean {
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) {
    return obj.etag !== undefined && !v.startsWith('W/') && !obj.etag.startsWith('W/') && v === obj.etag.trim();
  }
  return obj.lastModified !== undefined && !Number.isNaN(Date.parse(v)) && v === obj.lastModified.trim();
}

/** A fresh multipart boundary (RFC 2046 §5.1.1: at most 70 characters, not found in the parts' bytes). */
export function newBoundary(): string {
  return `gatehouse-${randomBytes(12).toString('hex')}`;
}

/**
 * The head to send for `plan`. `headers` are the stored fields (flat, lower-case names); `size` the body length.
 * - full: status 200 (a caller serving a non-200 object keeps its own status), `accept-ranges: bytes`, and
 *   content-length = size.
 * - single: 206 with `content-range: bytes S-E/SIZE` and the part's content-length (RFC 9110 §14.4, §15.3.7).
 * - multi: 206 with `content-type: multipart/byteranges; boundary=…` and the exact length of the multipart body
 *   (§14.6); any stored content-range is dropped (it would describe a single part).
 * - unsatisfiable: 416 with `content-range: bytes *\/SIZE` (§15.5.17), an empty body and no content-type.
 */
export function rangeHead(plan: RangePlan, headers: string[], size: number, boundary: string): { status: number; headers: string[] } {
  const base = withField(without(headers, ['content-length', 'content-range', 'transfer-encoding']), 'accept-ranges', 'bytes');
  switch (plan.kind) {
    case 'full':
      return { status: 200, headers: [...base, 'content-length', String(size)] };
    case 'single':
      return {
        status: 206,
        headers: [...base, 'content-range', contentRange(plan, size), 'content-length', String(plan.end - plan.start + 1)],
      };
    case 'multi': {
      const length = multipartLength(plan.ranges, getJoined(headers, 'content-type'), size, boundary);
      const fields = withField(base, 'content-type', `multipart/byteranges; boundary=${boundary}`);
      return { status: 206, headers: [...fields, 'content-length', String(length)] };
    }
    case 'unsatisfiable':
      return { status: 416, headers: [...without(base, ['content-type']), 'content-range', `bytes */${size}`, 'content-length', '0'] };
  }
}

function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end}/${size}`;
}

/**
 * RFC 9110 §14.6 / RFC 2046 §5.1.1: each part is a delimiter line, its own Content-Type and Content-Range, a blank
 * line and the bytes; the CRLF before each delimiter belongs to the delimiter, so the first part has none.
 */
function partHeader(i: number, r: ByteRange, contentType: string | undefined, size: number, boundary: string): Buffer {
  const type = contentType === undefined ? '' : `content-type: ${contentType}\r\n`;
  return Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\n${type}content-range: ${contentRange(r, size)}\r\n\r\n`, 'latin1');
}

function closingDelimiter(boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
}

function multipartLength(ranges: readonly ByteRange[], contentType: string | undefined, size: number, boundary: string): number {
  let total = closingDelimiter(boundary).length;
  ranges.forEach((r, i) => {
    total += partHeader(i, r, contentType, size, boundary).length + (r.end - r.start + 1);
  });
  return total;
}

/**
 * The body for `plan`, read through `read` (the store's ranged read). `contentType` must be the stored
 * content-type that `rangeHead` saw, so the multipart length it announced holds. full: the whole object;
 * single: that range; multi: one stream of the parts, each read only once the previous one has been consumed
 * (backpressure flows through: a part's bytes are pulled as the consumer reads, never buffered whole);
 * unsatisfiable: empty. Destroying the returned stream destroys the part being read.
 */
export function rangeBody(
  plan: RangePlan, read: (r: ByteRange) => Readable, contentType: string | undefined, size: number, boundary: string,
): Readable {
  switch (plan.kind) {
    case 'full':
      return size === 0 ? Readable.from([], { objectMode: false }) : read({ start: 0, end: size - 1 });
    case 'single':
      return read({ start: plan.start, end: plan.end });
    case 'multi':
      return Readable.from(multipartChunks(plan.ranges, read, contentType, size, boundary), { objectMode: false });
    case 'unsatisfiable':
      return Readable.from([], { objectMode: false });
  }
}

async function* multipartChunks(
  ranges: readonly ByteRange[], read: (r: ByteRange) => Readable, contentType: string | undefined, size: number, boundary: string,
): AsyncGenerator<Buffer> {
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    yield partHeader(i, r, contentType, size, boundary);
    // for await pulls one chunk at a time and destroys the part stream if we are returned early (client gone).
    for await (const chunk of read(r)) yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
  }
  yield closingDelimiter(boundary);
}
