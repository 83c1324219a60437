/**
 * The route table, compiled once per config and listener. Choosing a route is a few Map lookups:
 * host (exact, then wildcard suffixes from the most specific, then routes without a host), and within a host,
 * exact path, then regex paths in config order, then the longest prefix (walked segment by segment).
 * Method and header conditions are checked on the candidates in config order.
 */
import type { IncomingMessage } from 'node:http';
import type { MatchConfig } from './schema.js';

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
}

export interface RouteInput<R> { id: string; index: number; match: MatchConfig; config: R }

const asList = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T]);

function newBucket<R>(): Bucket<R> {
  return { exact: new Map(), regex: [], prefix: new Map() };
}

function push<K, V>(map: Map<K, V[]>, key: K, v: V): void {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}

function compileRoute<R>(r: RouteInput<R>): CompiledRoute<R> {
  const methods = asList(r.match.method);
  const headerChecks: HeaderCheck[] = Object.entries(r.match.headers ?? {}).map(([name, m]) => {
    const n = name.toLowerCase();
    if (typeof m === 'string') return { name: n, kind: 'eq', value: m };
    if (m.regex !== undefined) return { name: n, kind: 're', re: new RegExp(m.regex) };
    return { name: n, kind: 'present', want: m.present !== false };
  });
  return {
    id: r.id, index: r.index, config: r.config,
    pathRegex: r.match.path_regex !== undefined ? new RegExp(r.match.path_regex) : undefined,
    methods: methods.length ? new Set(methods.map((m) => m.toUpperCase())) : undefined,
    headerChecks,
  };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Why a route's non-path conditions fail, or undefined when they hold. */
export function conditionMismatch<R>(route: CompiledRoute<R>, method: string, req: IncomingMessage): string | undefined {
  if (route.methods && !route.methods.has(method)) return `method ${method} is not ${[...route.methods].join('|')}`;
  for (const h of route.headerChecks) {
    const v = headerValue(req, h.name);
    if (h.kind === 'eq' && v !== h.value) return `header ${h.name} is ${v === undefined ? 'absent' : JSON.stringify(v)}, not ${JSON.stringify(h.value)}`;
    if (h.kind === 're' && (v === undefined || !h.re.test(v))) return `header ${h.name} ${v === undefined ? 'is absent' : `${JSON.stringify(v)} does not match /${h.re.source}/`}`;
    if (h.kind === 'present' && (v !== undefined) !== h.want) return `header ${h.name} is ${v === undefined ? 'absent' : 'present'}`;
  }
  return undefined;
}

function firstPassing<R>(list: CompiledRoute<R>[] | undefined, method: string, req: IncomingMessage): CompiledRoute<R> | undefined {
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

  constructor(inputs: readonly RouteInput<R>[]) {
    this.routes = [];
    for (const input of inputs) {
      const route = compileRoute(input);
      this.routes.push(route);
      const hosts = asList(input.match.host).map((h) => h.toLowerCase());
      const buckets = hosts.length === 0 ? [this.anyHost] : hosts.map((h) => this.bucketFor(h));
      for (const b of buckets) {
        const m = input.match;
        if (m.path_exact !== undefined) push(b.exact, m.path_exact, route);
        else if (m.path_regex !== undefined) b.regex.push(route);
        else push(b.prefix, m.path ?? '/', route);
      }
    }
    this.hasWildcards = this.wildcardHosts.size > 0;
  }

  private bucketFor(host: string): Bucket<R> {
    const wild = host.startsWith('*.');
    const map = wild ? this.wildcardHosts : this.exactHosts;
    const key = wild ? host.slice(1) : host;
    let b = map.get(key);
    if (!b) map.set(key, (b = newBucket()));
    return b;
  }

  /** The route for a request, or undefined (404). */
  match(host: string, path: string, method: string, req: IncomingMessage): CompiledRoute<R> | undefined {
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

export function matchBucket<R>(b: Bucket<R>, path: string, method: string, req: IncomingMessage): CompiledRoute<R> | undefined {
  if (b.exact.size) {
    const r = firstPassing(b.exact.get(path), method, req);
    if (r) return r;
  }
  for (const r of b.regex) {
    if (r.pathRegex!.test(path) && (r.methods === undefined && r.headerChecks.length === 0 || conditionMismatch(r, method, req) === undefined)) return r;
  }
  if (b.prefix.size === 0) return undefined;
  // Walk the path's prefixes from the longest: `/a/b/c`, `/a/b/`, `/a/b`, `/a/`, `/a`, `/`.
  let r = firstPassing(b.prefix.get(path), method, req);
  if (r) return r;
  for (let i = path.length - 1; i >= 0; i--) {
    if (path.charCodeAt(i) !== 47) continue;
    if (i + 1 !== path.length) {
      r = firstPassing(b.prefix.get(path.slice(0, i + 1)), method, req);
      if (r) return r;
    }
    if (i > 0) {
      r = firstPassing(b.prefix.get(path.slice(0, i)), method, req);
      if (r) return r;
    }
  }
  return undefined;
}
