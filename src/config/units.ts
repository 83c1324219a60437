/**
 * Duration (`500ms`, `30s`, `5m`, `1h`, `1d`) and size (`512`, `16KiB`, `10MiB`, `1GB`) values.
 * KiB/MiB/GiB are powers of 1024, KB/MB/GB powers of 1000.
 * Parsed once at config load into milliseconds and bytes; the hot path only sees numbers.
 */
import { z } from 'zod';

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

// Binary units are powers of 1024 (KiB, MiB, GiB), SI units powers of 1000 (KB, MB, GB, as SI defines them);
// a bare K, M or G (1000 or 1024?) and lower-case spellings are refused rather than guessed.
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3,
};

/** Parses a duration string to milliseconds; returns undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!) : undefined;
}

/** Parses a size string to bytes; returns undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  return m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']!) : undefined;
}

/** A duration in the config: a string such as `500ms`, `30s`, `5m`; becomes milliseconds. */
export const duration = z
  // A bare number has no unit (seconds? milliseconds?): refused with the two readings it could have.
  .string({ error: (iss) => (iss.code === 'invalid_type' && typeof iss.input === 'number' ? `a duration with a unit, such as ${iss.input}s or ${iss.input}ms` : undefined) })
  .regex(DURATION_RE, 'a duration such as 500ms, 30s, 5m, 1h, 7d or 1y')
  .transform((s) => parseDuration(s)!);

/**
 * A size in the config: a number of bytes, or a string with a unit: `16KiB`, `10MiB` (powers of 1024) or
 * `16KB`, `10MB` (powers of 1000); becomes bytes.
 */
export const size = z
  .union([
    z.number().int().nonnegative(),
    z.string().regex(SIZE_RE, 'a size such as 512 (bytes), 16KiB or 10MiB (powers of 1024), 16KB or 10MB (powers of 1000)'),
  ])
  .transform((v) => (typeof v === 'number' ? v : parseSize(v)!));

/** A header field name in the config: an HTTP token (RFC 9110 5.1). */
export const headerName = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'a header name made of letters, digits and !#$%&\'*+-.^_`|~ (RFC 9110 5.1)');

/** A header field value in the config: no CR, LF, NUL or other control characters (RFC 9110 5.5). */
export const headerValue = z
  .string()
  .regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'a header value without CR, LF or other control characters (RFC 9110 5.5)');
