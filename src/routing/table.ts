/**
 * The route table, compiled once per config and listener. Choosing a route is a few Map lookups:
 * host (exact, then wildcard suffixes from the most specific, then routes without a host), and within a host,
 * exact path, then regex paths in config order, then the longest prefix (walked segment by segment).
 * Method and header conditions are checked on the candidates in config order.
 */
import type { DownstreamRequest } from '../core/downstream.js';
import type { MatchConfig, PathsConfig } from './schema.js';
import { fold, PathRefused, readingsOf, resolveClass, spellingOf, type Spelling } from '../core/spelling.js';
import { charCodeAt, slice } from '../core/strings.js';

type HeaderCheck = { name: string; kind: 'eq'; value: string } | { name: string; kind: 're'; re: RegExp } | { name: string; kind: 'present'; want: boolean };

export interface CompiledRoute<R> {
  readonly id: string;
  readonly index: number;
  readonly config: R;
  readonly pathRegex: RegExp | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headerChecks: readonly HeaderCheck[];
}

interface Bucket<R> {
  exact: Map<string, CompiledRoute<R>[]>;
  regex: CompiledRoute<R>[];
  prefix: Map<string, CompiledRoute<R>[]>;
  /** The longest prefix key: the prefix walk never looks up a longer slice (linear in the path, not quadratic). */
  longest: number;
  // Made by seal() once the routes are in, so that a path's other spelling (with or without its trailing slash) is looked up by the path itself, not a new string.
  /** The exact routes of a path's other spelling: `/a/` → the routes of `/a`, `/a` → those of `/a/`. */
  exactToggled: Map<string, CompiledRoute<R>[]>;
  /** Prefix keys ending in `/` by the key without it: `/admin` → the routes of `/admin/`. */
  slashless: Map<string, CompiledRoute<R>[]>;
}

export interface RouteInput<R> { id: string; index: number; match: MatchConfig; config: R }

/**
 * What a request gets instead of its route: a redirect (`location`, a path; the query is the request's), or a
 * refusal (`refuse`, why: 400). `path` with `config`: the route, for the path with a class of spelling decoded.
 */
export interface Detour<R> {
  readonly config: R | undefined;
  readonly id?: string;
  readonly index?: number;
  readonly path?: string;
  readonly location?: string;
  readonly refuse?: string;
}
export type RouteMatch<R> = CompiledRoute<R> | Detour<R>;

/** A prefix route ending in `/` asked for without it (`/admin` for `/admin/`): nginx answers 301 to `/admin/`. */
interface SlashRedirect<R> { readonly config: undefined; readonly slashOf: CompiledRoute<R> }
type Found<R> = CompiledRoute<R> | SlashRedirect<R>;
const isSlash = <R>(f: Found<R>): f is SlashRedirect<R> => 'slashOf' in f;
/** The route a lookup led to (a slash redirect leads to its route), -1 for none: what readings must agree on. */
const routeIndex = <R>(f: Found<R> | undefined): number => (f === undefined ? -1 : isSlash(f) ? f.slashOf.index : f.index);

export interface RouteTableOptions {
  /** How path spellings are treated (see spelling.ts); default: every class `keep`, control characters refused. */
  paths?: PathsConfig | undefined;
  /** Match paths ignoring case (the table that reads paths as case-insensitive backends do). */
  caseInsensitive?: boolean;
}

const DEFAULT_PATHS: PathsConfig = { escaped_slashes: 'keep', double_encoding: 'keep', path_params: 'keep', control_chars: 'reject', case: 'keep' };
const CLASSES = [['escapedSlash', 'escaped_slashes'], ['doubleEncoded', 'double_encoding'], ['params', 'path_params']] as const;

const asList = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T]);

function newBucket<R>(): Bucket<R> {
  return { exact: new Map(), regex: [], prefix: new Map(), longest: 0, exactToggled: new Map(), slashless: new Map() };
}

/** Fills a bucket's lookup tables from its routes (see Bucket). */
function seal<R>(b: Bucket<R>): void {
  for (const [k, list] of b.exact) {
    b.exactToggled.set(`${k}/`, list);
    if (k.endsWith('/') && !k.endsWith('//')) b.exactToggled.set(k.slice(0, -1), list);
  }
  for (const [k, list] of b.prefix) if (k.endsWith('/')) b.slashless.set(k.slice(0, -1), list);
}

function push<K, V>(map: Map<K, V[]>, key: K, v: V): void {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}

function compileRoute<R>(r: RouteInput<R>, ci: boolean): CompiledRoute<R> {
  const methods = asList(r.match.method);
  const headerChecks: HeaderCheck[] = Object.entries(r.match.headers ?? {}).map(([name, m]) => {
    const n = name.toLowerCase();
    if (typeof m === 'string') return { name: n, kind: 'eq', value: m };
    if (m.regex !== undefined) return { name: n, kind: 're', re: new RegExp(m.regex) };
    return { name: n, kind: 'present', want: m.present !== false };
  });
  return {
    id: r.id, index: r.index, config: r.config,
    pathRegex: r.match.path_regex !== undefined ? new RegExp(r.match.path_regex, ci ? 'i' : '') : undefined,
    // GET implies HEAD (RFC 9110 9.3.2: the same resource; backends answer HEAD with their GET handler).
    methods: methods.length ? new Set(methods.map((m) => m.toUpperCase()).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))) : undefined,
    headerChecks,
  };
}

/** Why a route's non-path conditions fail, or undefined when they hold. */
export function conditionMismatch<R>(route: CompiledRoute<R>, method: string, req: DownstreamRequest): string | undefined {
  if (route.methods && !route.methods.has(method)) return `method ${method} is not ${[...route.methods].join('|')}`;
  for (const h of route.headerChecks) {
    const v = req.header(h.name);
    if (h.kind === 'eq' && v !== h.value) return `header ${h.name} is ${v === undefined ? 'absent' : JSON.stringify(v)}, not ${JSON.stringify(h.value)}`;
    if (h.kind === 're' && (v === undefined || !h.re.test(v))) return `header ${h.name} ${v === undefined ? 'is absent' : `${JSON.stringify(v)} does not match /${h.re.source}/`}`;
    if (h.kind === 'present' && (v !== undefined) !== h.want) return `header ${h.name} is ${v === undefined ? 'absent' : 'present'}`;
  }
  return undefined;
}

function firstPassing<R>(list: CompiledRoute<R>[] | undefined, method: string, req: DownstreamRequest): CompiledRoute<R> | undefined {
  if (!list) return undefined;
  for (const r of list) {
    if (r.methods === undefined && r.headerChecks.length === 0) return r;
    if (conditionMismatch(r, method, req) === undefined) return r;
  }
  return undefined;
}

export class RouteTable<R> {
  readonly routes: CompiledRoute<R>[];
  private readonly exactHosts = new Map<string, Bucket<R>>();
  /** Keyed by the suffix with its leading dot: `*.example.com` → `.example.com`. */
  private readonly wildcardHosts = new Map<string, Bucket<R>>();
  private readonly anyHost = newBucket<R>();
  private readonly hasWildcards: boolean;
  private readonly paths: PathsConfig;
  /** The same routes read case-insensitively, for the `case` check; undefined when it is off. */
  private readonly folded: RouteTable<R> | undefined;
  /** Some route key is not in folded form (`/Admin/`) or a regex names capitals: plain paths are checked too. */
  private readonly foldPlain: boolean;

  constructor(inputs: readonly RouteInput<R>[], opts: RouteTableOptions = {}) {
    this.routes = [];
    this.paths = opts.paths ?? DEFAULT_PATHS;
    const ci = opts.caseInsensitive === true;
    this.folded = ci || this.paths.case !== 'keep' ? undefined : new RouteTable(inputs, { paths: this.paths, caseInsensitive: true });
    const key = (k: string): string => (ci ? foldKey(k) : k);
    this.foldPlain = this.folded !== undefined && inputs.some(({ match: m }) => {
      const k = m.path_exact ?? m.path;
      return (k !== undefined && foldKey(k) !== k) || (m.path_regex !== undefined && /[A-Z]/.test(m.path_regex));
    });
    for (const input of inputs) {
      const route = compileRoute(input, ci);
      this.routes.push(route);
      const hosts = asList(input.match.host).map((h) => h.toLowerCase());
      const buckets = hosts.length === 0 ? [this.anyHost] : hosts.map((h) => this.bucketFor(h));
      for (const b of buckets) {
        const m = input.match;
        if (m.path_exact !== undefined) push(b.exact, key(m.path_exact), route);
        else if (m.path_regex !== undefined) b.regex.push(route);
        else {
          const k = key(m.path ?? '/');
          push(b.prefix, k, route);
          b.longest = Math.max(b.longest, k.length);
        }
      }
    }
    this.hasWildcards = this.wildcardHosts.size > 0;
    for (const b of [this.anyHost, ...this.exactHosts.values(), ...this.wildcardHosts.values()]) seal(b);
  }

  private bucketFor(host: string): Bucket<R> {
    const wild = host.startsWith('*.');
    const map = wild ? this.wildcardHosts : this.exactHosts;
    const key = wild ? host.slice(1) : host;
    let b = map.get(key);
    if (!b) map.set(key, (b = newBucket()));
    return b;
  }

  /**
   * The route for a request (its path in normal form), a detour (redirect or refusal), or undefined (404).
   * Each class of spelling in the path gets its action (spelling.ts); with `keep`, every reading of the path
   * must lead to the same route.
   */
  match(host: string, path: string, method: string, req: DownstreamRequest): RouteMatch<R> | undefined {
    const s = spellingOf(path);
    if (s === undefined) {
      const found = this.lookup(host, path, method, req);
      // A plain path is its own folded form: only a route key with capitals can read it otherwise.
      if (this.foldPlain && routeIndex(this.folded!.lookup(host, path, method, req)) !== routeIndex(found)) {
        return { config: undefined, refuse: `ambiguous path: read case-insensitively it would take another route` };
      }
      return this.settle(found, path);
    }
    try {
      return this.spelt(host, path, s, method, req);
    } catch (err) {
      if (err instanceof PathRefused) return { config: undefined, refuse: err.message };
      throw err;
    }
  }

  private spelt(host: string, path: string, s: Spelling, method: string, req: DownstreamRequest): RouteMatch<R> | undefined {
    const cfg = this.paths;
    if (s.control && cfg.control_chars === 'reject') throw new PathRefused('control character in the path');
    let p = path;
    let redirect = false;
    for (const [flag, cls] of CLASSES) {
      if (!s[flag]) continue;
      const action = cfg[cls];
      if (action === 'reject') throw new PathRefused(`${cls.replace('_', ' ')} in the path`);
      if (action === 'keep') continue;
      p = resolveClass(p, cls);
      if (action === 'redirect') redirect = true;
    }
    // A Location starting `/\` is `//host` to a browser: never redirect to one.
    if (redirect) {
      if (p.includes('\\')) throw new PathRefused('backslash in a redirect target');
      return { config: undefined, location: p };
    }
    const found = this.lookup(host, p, method, req);
    const want = routeIndex(found);
    const { plain, folded } = readingsOf(p, this.folded !== undefined);
    for (const reading of plain) {
      if (routeIndex(this.lookup(host, reading, method, req)) !== want) throw new PathRefused(`ambiguous path: read as ${reading} it would take another route`);
    }
    for (const reading of folded) {
      if (routeIndex(this.folded!.lookup(host, reading, method, req)) !== want) throw new PathRefused(`ambiguous path: read as ${reading} it would take another route`);
    }
    const m = this.settle(found, p);
    return p === path || m === undefined || !('pathRegex' in m) ? m : { config: m.config, id: m.id, index: m.index, path: p };
  }

  private settle(found: Found<R> | undefined, path: string): RouteMatch<R> | undefined {
    if (found === undefined || !isSlash(found)) return found;
    return { config: undefined, id: found.slashOf.id, index: found.slashOf.index, location: `${path}/` };
  }

  /** The route for a path as it is, without looking at its spelling. */
  lookup(host: string, path: string, method: string, req: DownstreamRequest): Found<R> | undefined {
    const exact = this.exactHosts.get(host);
    if (exact) {
      const r = matchBucket(exact, path, method, req);
      if (r) return r;
    }
    if (this.hasWildcards) {
      for (let i = host.indexOf('.'); i !== -1; i = host.indexOf('.', i + 1)) {
        const b = this.wildcardHosts.get(host.slice(i));
        const r = b && matchBucket(b, path, method, req);
        if (r) return r;
      }
    }
    return matchBucket(this.anyHost, path, method, req);
  }
}

/** A route key in the case-insensitive table: folded as request paths are (a key that cannot be, lower-cased). */
function foldKey(k: string): string {
  try {
    return fold(k);
  } catch {
    return k.toLowerCase();
  }
}

export function matchBucket<R>(b: Bucket<R>, path: string, method: string, req: DownstreamRequest): Found<R> | undefined {
  if (b.exact.size) {
    const r = firstPassing(b.exact.get(path), method, req);
    if (r) return r;
  }
  for (const r of b.regex) {
    if (r.pathRegex!.test(path) && (r.methods === undefined && r.headerChecks.length === 0 || conditionMismatch(r, method, req) === undefined)) return r;
  }
  let r = b.prefix.size ? firstPassing(b.prefix.get(path), method, req) : undefined;
  if (r) return r;
  // With or without a trailing slash: Express and Spring (before 6) serve `/admin/` from their `/admin` handler,
  // so an exact route's rules hold for both spellings (a prefix route for the very path comes first).
  if (b.exact.size && path.length > 1) {
    r = firstPassing(b.exactToggled.get(path), method, req);
    if (r) return r;
  }
  if (b.prefix.size === 0) return undefined;
  // Walk the path's prefixes from the longest: `/a/b/c`, `/a/b/`, `/a/b`, `/a/`, `/a`, `/`.
  if (charCodeAt(path, path.length - 1) !== 47) {
    r = firstPassing(b.slashless.get(path), method, req);
    if (r) return { config: undefined, slashOf: r };
  }
  return walkPrefixes(b, path, method, req);
}

function walkPrefixes<R>(b: Bucket<R>, path: string, method: string, req: DownstreamRequest): Found<R> | undefined {
  let r: CompiledRoute<R> | undefined;
  for (let i = Math.min(path.length - 1, b.longest); i >= 0; i--) {
    if (charCodeAt(path, i) !== 47) continue;
    if (i + 1 !== path.length) {
      r = firstPassing(b.prefix.get(slice(path, 0, i + 1)), method, req);
      if (r) return r;
    }
    if (i > 0) {
      r = firstPassing(b.prefix.get(slice(path, 0, i)), method, req);
      if (r) return r;
    }
  }
  return undefined;
}
