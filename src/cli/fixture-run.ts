/**
 * Runs one fixture of `gatehouse test` through `explain` (the proxy's own route tables and filters, offline)
 * and compares what it finds with what the fixture expects, field by field.
 */
import { createExplainer, type Explanation } from '../explain.js';
import type { GatehouseConfig } from '../schema.js';
import type { Expect, Fixture } from './fixtures.js';

type RateLimitOutcome = 'none' | 'not_reached' | { limited: boolean; remaining?: number };

/** What the last request of a fixture got, in the fixture's terms. */
export interface Actual {
  route: string | null;
  action: 'proxy' | 'respond' | 'redirect' | 'refuse';
  upstream?: string;
  path?: string;
  status?: number;
  code?: string;
  headers: Record<string, string>;
  upstream_headers: Record<string, string>;
  access: 'allow' | 'deny';
  auth: 'none' | 'pass' | 'required' | 'denied' | 'not_checked' | 'not_reached';
  rate_limit: RateLimitOutcome;
}

/** One expectation that does not hold: the field (`status`, `headers.x-frame-options`), both values. */
export interface Mismatch {
  field: string;
  expected: unknown;
  /** undefined: nothing (no status on a proxied request, a header absent). */
  actual: unknown;
  /** Why the actual value is what it is, when that is not obvious. */
  note?: string;
}

export interface FixtureResult {
  name: string;
  ok: boolean;
  mismatches: Mismatch[];
  actual: Actual;
  /** How many requests were sent (repeat). */
  sent: number;
}

/** Header pairs as a map by lower-case name; repeated fields joined with ", " (RFC 9110 5.3). */
function headerMap(list: readonly [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, v] of list) {
    const k = n.toLowerCase();
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  }
  return out;
}

function actionOf(e: Explanation): Actual['action'] {
  const a = e.answer;
  if (a.status === undefined) return 'proxy';
  if (a.code !== undefined) return 'refuse';
  if (a.status >= 300 && a.status < 400 && a.headers.some(([n]) => n.toLowerCase() === 'location')) return 'redirect';
  return 'respond';
}

function authOf(e: Explanation, route: GatehouseConfig['routes'][number] | undefined): Actual['auth'] {
  const a = route?.auth;
  if (!a || (!a.basic && !a.jwt && !a.forward_auth)) return 'none';
  const d = e.checks.find((c) => c.plugin === 'auth');
  if (!d) return 'not_reached';
  if (d.outcome.startsWith('not checked')) return 'not_checked';
  if (d.stops) return d.status === 401 ? 'required' : 'denied';
  return 'pass';
}

function rateLimitOf(e: Explanation, route: GatehouseConfig['routes'][number] | undefined, headers: Record<string, string>): RateLimitOutcome {
  if (!route?.rate_limit) return 'none';
  const d = e.checks.find((c) => c.plugin === 'rate_limit');
  if (!d) return 'not_reached';
  // draft-ietf-httpapi-ratelimit-headers: RateLimit: "default";r=REMAINING;t=RESET
  const r = /(?:^|;)\s*r=(\d+)/.exec(headers.ratelimit ?? '');
  return { limited: d.stops, ...(r ? { remaining: Number(r[1]) } : {}) };
}

function actualOf(e: Explanation, config: GatehouseConfig): Actual {
  const route = config.routes.find((r, i) => (r.name ?? `routes[${i}]`) === e.chosen);
  const headers = headerMap(e.answer.headers);
  const decisions = [...e.before, ...e.checks];
  return {
    route: e.chosen ?? null,
    action: actionOf(e),
    ...(e.upstream ? { upstream: e.upstream.name } : {}),
    ...(e.upstreamPath !== undefined ? { path: e.upstreamPath } : {}),
    ...(e.answer.status !== undefined ? { status: e.answer.status } : {}),
    ...(e.answer.code !== undefined ? { code: e.answer.code } : {}),
    headers,
    upstream_headers: headerMap(e.headers ?? []),
    access: decisions.some((d) => d.plugin === 'access' && d.stops) ? 'deny' : 'allow',
    auth: authOf(e, route),
    rate_limit: rateLimitOf(e, route, headers),
  };
}

function headerMismatches(field: string, want: Record<string, string | null>, got: Record<string, string>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const [name, value] of Object.entries(want)) {
    const actual = got[name.toLowerCase()];
    if (value === null ? actual !== undefined : actual !== value) out.push({ field: `${field}.${name.toLowerCase()}`, expected: value, actual });
  }
  return out;
}

function rateMismatches(want: NonNullable<Expect['rate_limit']>, got: RateLimitOutcome): Mismatch[] {
  if (typeof want === 'string' || typeof got === 'string') {
    if (want === got) return [];
    const note = got === 'none' ? 'the route has no rate limit' : got === 'not_reached' ? 'the request was answered before the rate limit' : undefined;
    return [{ field: 'rate_limit', expected: want, actual: got, ...(note ? { note } : {}) }];
  }
  const out: Mismatch[] = [];
  if (want.limited !== got.limited) out.push({ field: 'rate_limit.limited', expected: want.limited, actual: got.limited });
  if (want.remaining !== undefined && want.remaining !== got.remaining) out.push({ field: 'rate_limit.remaining', expected: want.remaining, actual: got.remaining });
  return out;
}

const SCALARS = ['route', 'action', 'upstream', 'path', 'status', 'code', 'access', 'auth'] as const;

/** Every expectation of `want` that `got` does not meet, in the order of the fields above. */
export function compare(want: Expect, got: Actual): Mismatch[] {
  const out: Mismatch[] = [];
  for (const field of SCALARS) {
    const expected = want[field];
    if (expected === undefined || expected === got[field]) continue;
    const m: Mismatch = { field, expected, actual: got[field] };
    if ((field === 'status' || field === 'code') && got.action === 'proxy') m.note = `the request goes upstream${got.upstream ? ` to ${got.upstream}` : ''}: its status is the upstream's`;
    else if ((field === 'upstream' || field === 'path') && got.action !== 'proxy') m.note = `the request is not proxied (${got.action}${got.status ? ` ${got.status}` : ''}${got.code ? ` ${got.code}` : ''})`;
    out.push(m);
  }
  if (want.headers) out.push(...headerMismatches('headers', want.headers, got.headers));
  if (want.upstream_headers) out.push(...headerMismatches('upstream_headers', want.upstream_headers, got.upstream_headers));
  if (want.rate_limit !== undefined) out.push(...rateMismatches(want.rate_limit, got.rate_limit));
  return out;
}

/**
 * Sends the fixture's request `repeat` times on a clock of its own (starting at 0, `every` ms apart), with
 * rate limits counted from zero, and checks the last answer.
 */
export async function runFixture(config: GatehouseConfig, fixture: Fixture, opts: { baseDir: string }): Promise<FixtureResult> {
  let now = 0;
  const explainer = await createExplainer(config, { baseDir: opts.baseDir, clock: () => now });
  const { request } = fixture;
  const input = {
    method: request.method, url: request.url, headers: Object.entries(request.headers), clientIp: request.client,
    ...(request.listener !== undefined ? { listener: request.listener } : {}),
  };
  try {
    let last: Explanation | undefined;
    for (let i = 0; i < fixture.repeat; i++) {
      if (i > 0) now += fixture.every;
      last = await explainer.explain(input);
    }
    const actual = actualOf(last!, config);
    const mismatches = compare(fixture.expect, actual);
    return { name: fixture.name, ok: mismatches.length === 0, mismatches, actual, sent: fixture.repeat };
  } finally {
    await explainer.close();
  }
}
