/**
 * String and buffer methods for the request path, called through their prototypes: `charCodeAt.call(s, i)`
 * rather than `s.charCodeAt(i)` (#16). Strings read off the wire come in several kinds (copies, slices, ropes,
 * internalized and forwarded ones), buffers in two classes; where a call site has seen too many, V8's optimized
 * code finds the method with a LoadIC call at every use (3-4% of a proxied request's CPU in `perf`). Taken from
 * the prototype once, the method needs no lookup: `isNormal` (server/request-target.ts) went from 0.47% to 0.13%
 * of the CPU profile. Use these only where a profile shows the lookup; elsewhere write the plain method call.
 */
export const { charCodeAt, includes, indexOf, slice, startsWith, substring, toLowerCase } = String.prototype;

/** A view of bytes `[start, end)` of `b` (Buffer's subarray: the same memory, a Buffer). */
const subarrayOf = Uint8Array.prototype.subarray;
export function subarray(b: Uint8Array, start: number, end: number): Buffer {
  return subarrayOf.call(b, start, end) as Buffer;
}
