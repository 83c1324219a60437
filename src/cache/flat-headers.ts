/**
 * Small helpers over the flat `[name, value, …]` header lists the cache stores (names lower-case), shared by
 * ranges.ts and compress.ts. They never mutate their input: each returns a new list.
 */

/** Every value of `name`, in order. */
export function getAll(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) out.push(headers[i + 1]!);
  return out;
}

/** The values of `name` joined as one list (RFC 9110 5.3: same-named fields combine with ", "), or undefined. */
export function getJoined(headers: readonly string[], name: string): string | undefined {
  const all = getAll(headers, name);
  return all.length === 0 ? undefined : all.join(', ');
}

/** The list without any field named in `names`. */
export function without(headers: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (!names.includes(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}

/** The list with `name` set to `value` (earlier values of `name` removed; appended at the end). */
export function withField(headers: readonly string[], name: string, value: string): string[] {
  return [...without(headers, [name]), name, value];
}

/** The comma-separated elements of a list-based field (RFC 9110 5.6.1), trimmed, empty ones dropped. */
export function listElements(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
