/**
 * Path spellings. One resource can be spelt many ways, and backends disagree on which spellings are the same:
 * Python's http.server and most frameworks decode `%2F` into `/`, IIS and WHATWG URL parsers take `\` for `/`,
 * Tomcat and Spring drop `;params` from each segment, some stacks decode twice, Windows and macOS file systems
 * ignore case and trailing dots and spaces. A route's rules (auth, access, rate limits) must hold for every
 * spelling a backend may resolve to the same resource, so each class of spelling gets an action:
 * - `reject`: 400, whenever the class appears;
 * - `redirect`: 301 (GET/HEAD) or 308 to the path with the class resolved, so the client asks again in clear;
 * - `decode`: the class is resolved in the path that is routed and forwarded;
 * - `keep`: forwarded as sent, but the path is also routed as each kind of backend would read it, and the request
 *   is refused (400) when any reading would pick another route (so `/admin%2Fx` cannot slip past `/admin/`'s
 *   rules by a catch-all route, while `/files/a%2Fb` under one route is forwarded untouched).
 * Any reading with a `..` segment is refused (a backend that reads it so would climb out of the route).
 */
import { charCodeAt } from './strings.js';

/** Per class of spelling: what to do with it (the `paths` config; routing/schema.ts describes each). */
export interface PathsConfig {
  escaped_slashes: SpellingAction;
  double_encoding: SpellingAction;
  path_params: SpellingAction;
  control_chars: 'reject' | 'keep';
  case: 'keep' | 'ignore';
}
export type SpellingAction = 'reject' | 'redirect' | 'decode' | 'keep';

/** The classes present in a path (already in normal form: unreserved escapes decoded, others upper-case). */
export interface Spelling {
  escapedSlash: boolean;
  doubleEncoded: boolean;
  params: boolean;
  control: boolean;
}

/** The characters of a path that needs no second look (see isPlain), by code. */
const PLAIN_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyz0123456789-_~!&'()*+,=:@/") PLAIN_CHARS[c.charCodeAt(0)] = 1;

/**
 * A path that needs no second look: lower-case ASCII without escapes, `;`, `\`, `$` or dotted segment ends (a
 * `.` before a `/` or at the end). A loop over a table: half the time of the same test as a RegExp, per request.
 */
function isPlain(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = charCodeAt(path, i);
    if (c < 128 && PLAIN_CHARS[c] === 1) continue;
    if (c === 46 /* . */ && i + 1 < path.length && charCodeAt(path, i + 1) !== 47 /* / */) continue;
    return false;
  }
  return true;
}

export function spellingOf(path: string): Spelling | undefined {
  if (isPlain(path)) return undefined;
  return {
    escapedSlash: /%2F|%5C|\\/i.test(path),
    doubleEncoded: /%25[0-9A-F]{2}/i.test(path),
    params: path.includes(';'),
    control: /%[01][0-9A-F]|%7F/i.test(path),
  };
}

export class PathRefused extends Error {}

/** RFC 3986 5.2.4 without climbing: slashes merged, `.` removed; a `..` segment is refused. */
export function clean(path: string): string {
  let out = path.replace(/\/{2,}/g, '/');
  if (!out.includes('/.')) return out;
  const segs = out.split('/');
  const kept: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '..') throw new PathRefused('path traversal');
    if (s !== '.') kept.push(s);
    else if (i === segs.length - 1) kept.push('');
  }
  out = kept.join('/');
  return out;
}

/** Percent-decodes every escape (as most backends do), `\` read as `/`. Malformed encoding is refused. */
export function decodeAll(path: string): string {
  const p = path.replace(/\\/g, '/');
  if (!p.includes('%')) return p;
  try {
    return decodeURIComponent(p).replace(/\\/g, '/');
  } catch {
    throw new PathRefused('malformed percent-encoding');
  }
}

/** Tomcat/Spring/Jetty: `;params` dropped from each segment (`/admin;x/a` is `/admin/a`, `/..;/` is `/../`). */
export function stripParams(path: string): string {
  return path.replace(/;[^/]*/g, '');
}

const IGNORABLE = /[\u0000-\u001f\u007f\u00ad\u200b-\u200f\u2060-\u2064\ufeff]/g;

/**
 * What case-insensitive stacks and Windows names ignore: Unicode compatibility forms (NFKC: fullwidth letters,
 * `‥`), case (folded both ways, so `ı`, `ſ` and the Kelvin sign are `i`, `s`, `k` as Java's equalsIgnoreCase
 * reads them), control and invisible characters, NTFS stream suffixes (`::$DATA`), and trailing dots and spaces
 * of a segment. A segment left of dots and spaces only, two dots or more, is `..`: refused. Linear in the length.
 */
export function fold(path: string): string {
  const p = path.normalize('NFKC').replace(/\u0130/g, 'i').toUpperCase().toLowerCase().replace(IGNORABLE, '').replace(/\\/g, '/');
  const segs = p.split('/');
  for (let i = 0; i < segs.length; i++) {
    let seg = segs[i]!;
    const stream = seg.indexOf('::$');
    if (stream !== -1) seg = seg.slice(0, stream);
    let end = seg.length;
    let dots = 0;
    while (end > 0 && (seg.charCodeAt(end - 1) === 46 || seg.charCodeAt(end - 1) === 32)) {
      if (seg.charCodeAt(end - 1) === 46) dots++;
      end--;
    }
    if (end === 0 && dots >= 2) throw new PathRefused('path traversal');
    segs[i] = seg.slice(0, end);
  }
  return segs.join('/');
}

/** The path with one class resolved, for `decode` and `redirect` (other escapes kept as they are). */
export function resolveClass(path: string, cls: 'escaped_slashes' | 'double_encoding' | 'path_params'): string {
  if (cls === 'escaped_slashes') return clean(path.replace(/%2F|%5C|\\/gi, '/'));
  if (cls === 'path_params') return clean(stripParams(path));
  return path.replace(/%25([0-9A-F]{2})/gi, '%$1');
}

/**
 * The readings of a path besides the path itself, as each kind of backend resolves it: `plain` ones to route as
 * they are, `folded` ones (see fold) to route case-insensitively. Made for every class whatever its action, so a
 * stricter action never loses a check. A reading with a `..` segment, or malformed escapes at the first level,
 * is refused; a second decoding that fails is just not a reading (`%25AB` is a literal `%AB`).
 */
export function readingsOf(path: string, foldCase: boolean): { plain: string[]; folded: string[] } {
  const set = new Set<string>([path]);
  const decoded = clean(decodeAll(path));
  set.add(decoded);
  let twice: string | undefined;
  if (decoded.includes('%')) {
    try {
      twice = decodeAll(decoded);
    } catch {
      twice = undefined;
    }
    if (twice !== undefined) set.add(clean(twice));
  }
  // Backends that decode the whole target before splitting it: `%3F` and `%23` end the path there.
  for (const d of [decoded, twice]) {
    const cut = d === undefined ? -1 : d.search(/[?#]/);
    if (cut !== -1) set.add(clean(d!.slice(0, cut)));
  }
  // Parameters dropped before decoding (Tomcat), or after (`%3B` read as `;`).
  if ([...set].some((x) => x.includes(';'))) {
    set.add(clean(decodeAll(stripParams(path))));
    for (const x of [...set]) set.add(clean(stripParams(x)));
  }
  const folded = new Set<string>();
  if (foldCase) for (const x of set) folded.add(clean(fold(x)));
  set.delete(path);
  return { plain: [...set], folded: [...folded] };
}

/** Other readings of the path (normal form) that a deny rule must also see; none when they cannot be made
 * (malformed escapes, `..`: refused by the request rules' defaults and by routing). */
export function denyReadings(path: string): string[] {
  try {
    const r = readingsOf(path, true);
    return [...r.plain, ...r.folded];
  } catch {
    return [];
  }
}
