/**
 * String and buffer methods for the request path, called as `charCodeAt(s, i)` rather than `s.charCodeAt(i)`
 * (#16). Strings read off the wire come in several kinds (copies, slices, ropes, internalized and forwarded
 * ones); where a call site has seen too many, V8's optimized code finds `s.charCodeAt` with a LoadIC call at
 * every use (3-4% of a proxied request's CPU in `perf`). Here the method is named through `String.prototype`,
 * a constant to the optimizing compiler, so the call is made straight (and inlined where V8 inlines the method);
 * these small functions are inlined in turn. `isNormal` (server/request-target.ts) went from 0.47% to 0.13% of
 * the CPU profile. Use them only where a profile shows the lookup; elsewhere write the plain method call.
 */

export function charCodeAt(s: string, i: number): number {
  return String.prototype.charCodeAt.call(s, i);
}

export function includes(s: string, search: string): boolean {
  return String.prototype.includes.call(s, search);
}

export function indexOf(s: string, search: string, from?: number): number {
  return String.prototype.indexOf.call(s, search, from);
}

export function slice(s: string, start: number, end?: number): string {
  return String.prototype.slice.call(s, start, end);
}

export function startsWith(s: string, search: string): boolean {
  return String.prototype.startsWith.call(s, search);
}

export function substring(s: string, start: number, end: number): string {
  return String.prototype.substring.call(s, start, end);
}

export function toLowerCase(s: string): string {
  return String.prototype.toLowerCase.call(s);
}

/** Buffer's own encoders (node defines them on Buffer.prototype; its types do not list them). */
interface Encoders {
  latin1Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
}

/** Bytes `[start, end)` of `b` as a latin1 string (one character a byte, every byte kept). */
export function latin1Slice(b: Uint8Array, start: number, end: number): string {
  return (Buffer.prototype as unknown as Encoders).latin1Slice.call(b, start, end);
}

/** Bytes `[start, end)` of `b` in hex (toString('hex', …) without its encoding dispatch). */
export function hexSlice(b: Uint8Array, start: number, end: number): string {
  return (Buffer.prototype as unknown as Encoders).hexSlice.call(b, start, end);
}

/** node's Buffer class (Buffer[Symbol.species]): `new FastBuffer(arrayBuffer, offset, length)` is a view. */
const FastBuffer = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species] as new (ab: ArrayBufferLike, off: number, len: number) => Buffer;

/** A view of bytes `[start, end)` of `b`, as Buffer's subarray but made straight: subarray looks up the species
 * constructor with two generic property reads per call. */
export function subarray(b: Uint8Array, start: number, end: number): Buffer {
  return new FastBuffer(b.buffer, b.byteOffset + start, end - start);
}
