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
  /** Characters some backends fold: upper case, non-ASCII, trailing dots/spaces in a segment. */
  foldable: boolean;
}

/** A path that needs no second look: lower-case ASCII without escapes, `;`, `\` or dotted segment ends. */
const PLAIN = /^(?:[a-z0-9\-_~!$&'()*+,=:@/]|\.(?!\/|$))*$/;

export function spellingOf(path: string): Spelling | undefined {
  if (PLAIN.test(path)) return undefined;
  return {
    escapedSlash: /%2F|%5C|\\/i.test(path),
    doubleEncoded: /%25[0-9A-F]{2}/i.test(path),
    params: path.includes(';'),
    control: /%[01][0-9A-F]|%7F/i.test(path),
    foldable: /[A-Z\u0080-\uffff]|%[89A-F][0-9A-F]|[. ](?:\/|$)|%20(?:\/|$)/i.test(path),
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

/** What case-insensitive stacks and Windows names ignore: Unicode compatibility forms, case, control
 * characters, trailing dots and spaces of a segment. */
export function fold(path: string): string {
  return path.normalize('NFKC').toLowerCase().replace(/[\u0000-\u001f\u007f]/g, '').replace(/\\/g, '/').replace(/[. ]+(?=\/|$)/g, '');
}

/** The path with one class resolved, for `decode` and `redirect` (other escapes kept as they are). */
export function resolveClass(path: string, cls: 'escaped_slashes' | 'double_encoding' | 'path_params'): string {
  if (cls === 'escaped_slashes') return clean(path.replace(/%2F|%5C|\\/gi, '/'));
  if (cls === 'path_params') return clean(stripParams(path));
  return path.replace(/%25([0-9A-F]{2})/gi, '%$1');
}

/** The readings of a path to route besides the path itself: [path, routed case-insensitively]. */
export function readingsOf(path: string, s: Spelling, cfg: PathsConfig): [string, boolean][] {
  const out: [string, boolean][] = [];
  const add = (p: string): void => {
    if (p !== path && !out.some(([q, ci]) => !ci && q === p)) out.push([p, false]);
  };
  const decoded = clean(decodeAll(path));
  add(decoded);
  // Backends that decode the whole target before splitting it: `%3F` and `%23` end the path there.
  const cut = decoded.search(/[?#]/);
  if (cut !== -1) add(clean(decoded.slice(0, cut)));
  if (s.doubleEncoded && cfg.double_encoding === 'keep') add(clean(decodeAll(decoded)));
  // Parameters dropped before decoding (Tomcat) or after (`%3B` read as `;`).
  if ((s.params || decoded.includes(';')) && cfg.path_params === 'keep') {
    add(clean(stripParams(path)));
    add(clean(stripParams(decoded)));
  }
  if (s.foldable || s.control || s.escapedSlash) {
    if (cfg.case === 'keep') {
      for (const p of [path, ...out.map(([q]) => q)]) {
        const f = clean(fold(p));
        if (!out.some(([q, ci]) => ci && q === f)) out.push([f, true]);
      }
    }
  }
  return out;
}

/** Other readings of an already decoded path that a deny rule must also see (malformed ones left out). */
export function denyReadings(decoded: string): string[] {
  const out = new Set<string>();
  const tryAdd = (f: () => string): void => {
    try {
      out.add(f());
    } catch {
      // A reading that cannot be made (a `..`, bad escapes) is refused elsewhere.
    }
  };
  tryAdd(() => clean(decoded.replace(/\\/g, '/')));
  tryAdd(() => clean(stripParams(decoded)));
  tryAdd(() => clean(decodeAll(decoded)));
  tryAdd(() => clean(fold(stripParams(decoded))));
  out.delete(decoded);
  return [...out];
}
