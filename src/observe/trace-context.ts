/**
 * W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context/): reading an incoming `traceparent`,
 * judging a `tracestate`, writing the `traceparent` sent on, and making trace and span ids.
 *
 * Ids come from a pool of random bytes (4 KiB, refilled in place when used up), one pool per tracer: a
 * request costs two hex conversions of a few bytes, not a call into the system's random source each.
 */
import { randomFillSync } from 'node:crypto';

/** What a valid incoming traceparent says. */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's span: 16 lower-case hex digits, not all zero. */
  readonly parentId: string;
  /** The `sampled` flag (§3.2.2.5.1): the caller may have recorded the trace. */
  readonly sampled: boolean;
}

// §3.2.2: version "-" trace-id "-" parent-id "-" trace-flags, each lower-case hex (HEXDIGLC); a future version
// may add fields after the flags, each behind a dash (§3.2.4).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Reads a `traceparent` value; undefined when it is absent or invalid, which restarts the trace (§4.3).
 * Invalid: upper-case hex (§3.2.2 HEXDIGLC), an all-zero trace-id or parent-id (§3.2.2.3, §3.2.2.4), version
 * `ff` (§3.2.2.1), version 00 with anything after the flags, a future version whose flags are not followed by
 * the end or a dash (§3.2.4). Several `traceparent` fields reach here joined by ", " and fail that last rule.
 */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (value === undefined || value.length < 55) return undefined;
  const m = TRACEPARENT.exec(value);
  if (m === null) return undefined;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  // §3.2.2.5: a bit field; only `sampled` (the lowest bit) is defined, other bits are not passed on.
  return { traceId, parentId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** The traceparent sent on: always version 00 (§3.2.4: the highest version known), only `sampled` set. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** §3.3.1.1: a tracestate list has at most 32 list-members. */
const MAX_TRACESTATE_MEMBERS = 32;

/**
 * Whether an incoming `tracestate` (its fields joined by commas, RFC 9110 5.3) may be passed on: at most 32
 * list-members (empty members, which §3.3.1.1 allows, are not counted). Its entries are opaque and passed on
 * unchanged, whatever their length: §3.3.1.5 asks to propagate at least 512 characters, and the header limits
 * (`limits`) bound it already.
 */
export function isTracestateKept(value: string): boolean {
  let members = 0;
  let start = 0;
  for (;;) {
    const comma = value.indexOf(',', start);
    const end = comma === -1 ? value.length : comma;
    if (value.slice(start, end).trim() !== '' && ++members > MAX_TRACESTATE_MEMBERS) return false;
    if (comma === -1) return true;
    start = comma + 1;
  }
}

/** Trace and span ids, from a pool of random bytes. */
export interface IdSource {
  /** 16 random bytes as 32 hex digits, never all zero. */
  traceId(): string;
  /** 8 random bytes as 16 hex digits, never all zero. */
  spanId(): string;
  /** A random draw: true with probability `ratio` (0 to 1), from the same pool of random bytes. */
  draw(ratio: number): boolean;
}

export function idSource(poolSize = 4096): IdSource {
  const pool = Buffer.allocUnsafe(poolSize);
  let off = poolSize;
  function reserve(n: number): number {
    if (off + n > poolSize) {
      randomFillSync(pool);
      off = 0;
    }
    off += n;
    return off - n;
  }
  function take(n: number): string {
    const at = reserve(n);
    return pool.toString('hex', at, at + n);
  }
  return {
    traceId() {
      let id = take(16);
      while (id === ZERO_TRACE) id = take(16); // §3.2.2.3: all zeroes is invalid (a 2^-128 chance)
      return id;
    },
    spanId() {
      let id = take(8);
      while (id === ZERO_SPAN) id = take(8);
      return id;
    },
    draw(ratio) {
      if (ratio >= 1) return true;
      if (ratio <= 0) return false;
      return pool.readUInt32BE(reserve(4)) < ratio * 2 ** 32;
    },
  };
}

/**
 * The sampling decision for a new trace, from its id (as OpenTelemetry's TraceIdRatioBased sampler): the
 * low 52 bits of the trace-id against `ratio`, so every process with the same ratio decides alike. Only for
 * ids this process made: a client that picks its trace-id would pick one that is always sampled.
 */
export function sampledByRatio(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(19), 16) < ratio * 2 ** 52;
}
