/**
 * The fixture file of `gatehouse test` (docs/cli.md, "gatehouse test"): requests with the outcomes expected of
 * a config, checked offline. Read and validated as configs are (config/load.ts): every problem at once, with
 * file, line, column and key path; then the names it uses (routes, upstreams, listeners) are checked against
 * the config, placed the same way.
 */
import { isIP } from 'node:net';
import { METHODS } from 'node:http';
import { z } from 'zod';
import { closest, ConfigError } from '../config/errors.js';
import { loadConfigFile, placeIssues } from '../config/load.js';
import { duration, headerName, headerValue } from '../config/units.js';
import type { PlacedMessage } from '../config/issues.js';
import type { GatehouseConfig } from '../schema.js';

const requestSchema = z.strictObject({
  method: z.string().refine((m) => METHODS.includes(m), { error: (iss) => `expected a method node:http knows, in upper case (GET, POST, …), got ${JSON.stringify(iss.input)}` })
    .default('GET').describe('The method; GET by default'),
  url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { error: (iss) => `expected an absolute http:// or https:// URL, got ${JSON.stringify(iss.input)}` })
    .describe('The URL: its host is the Host header (unless headers has one); https:// is a request over TLS'),
  headers: z.record(headerName, headerValue).default({}).describe('Request headers'),
  client: z.string().refine((ip) => isIP(ip) !== 0, { error: (iss) => `expected an IPv4 or IPv6 address, got ${JSON.stringify(iss.input)}` }).default('127.0.0.1')
    .describe('The client address IP rules and rate limits see; 127.0.0.1 by default'),
  listener: z.string().optional().describe('The listener the request arrives on; the first by default'),
});

const rateLimitExpect = z.union([
  z.literal('none').describe('The route has no rate limit'),
  z.strictObject({
    limited: z.boolean().describe('true: the last request is refused (429)'),
    remaining: z.number().int().nonnegative().optional().describe('Requests left after it (the RateLimit header\'s r=)'),
  }),
]);

const expectSchema = z.strictObject({
  route: z.string().nullable().optional().describe('The route matched (its name, or routes[INDEX]); null: no route'),
  action: z.enum(['proxy', 'respond', 'redirect', 'refuse']).optional()
    .describe('proxy (goes upstream), respond, redirect (a 3xx with Location) or refuse (an error reply: 4xx/5xx GH_…)'),
  upstream: z.string().optional().describe('The upstream the request goes to'),
  path: z.string().optional().describe('The path and query sent upstream, after rewrites'),
  status: z.number().int().min(100).max(599).optional()
    .describe('The status the proxy answers with itself (respond, redirect, refusal); a proxied request has none'),
  code: z.string().optional().describe('The error code of a refusal (GH_RATE_LIMITED, GH_ACCESS_DENIED, …)'),
  headers: z.record(headerName, headerValue.nullable()).optional()
    .describe('Response headers the proxy sets (respond headers, headers.response, Location, RateLimit, HSTS); null: absent'),
  upstream_headers: z.record(headerName, headerValue.nullable()).optional()
    .describe('Headers sent upstream (after headers.request and auth); null: absent'),
  access: z.enum(['allow', 'deny']).optional().describe('deny: an IP rule (access, global or the route\'s) refuses it (403)'),
  auth: z.enum(['none', 'pass', 'required', 'denied', 'not_checked', 'not_reached']).optional()
    .describe('none: no auth on the route; pass; required: 401; denied: another refusal; not_checked: forward auth or a JWKS URL (not called offline); not_reached: refused before auth'),
  rate_limit: rateLimitExpect.optional().describe('The rate limit\'s decision on the last request'),
}).describe('What is expected; every key is optional, and only those given are checked');

const fixtureSchema = z.strictObject({
  name: z.string().min(1).describe('What the fixture checks; printed with ✓ or ✗'),
  request: requestSchema,
  repeat: z.number().int().min(1).max(10_000).default(1).describe('Sends the request this many times; the expectations apply to the last'),
  every: duration.default(0).describe('Time between repeats on the fixture\'s clock (rate limits); 0 by default: all at once'),
  expect: expectSchema,
});

export const fixtureFileSchema = z.strictObject({
  tests: z.array(fixtureSchema).min(1).describe('The fixtures, run in order; each starts with empty rate-limit counts'),
}).superRefine((f, ctx) => {
  const seen = new Map<string, number>();
  f.tests.forEach((t, i) => {
    if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['tests', i, 'name'], message: `name given twice (also tests[${seen.get(t.name)}])` });
    seen.set(t.name, i);
  });
});

export type FixtureFile = z.output<typeof fixtureFileSchema>;
export type Fixture = FixtureFile['tests'][number];
export type Expect = Fixture['expect'];

function unknownName(path: (string | number)[], what: string, name: string, known: string[]): PlacedMessage {
  const near = closest(name, known);
  return { path, message: `no ${what} named "${name}" in the config${near ? ` (did you mean "${near}"?)` : known.length ? ` (it has ${known.join(', ')})` : ''}` };
}

/** The names a fixture uses that the config lacks: each at its line and column. */
function namesProblems(file: FixtureFile, config: GatehouseConfig): PlacedMessage[] {
  const routes = config.routes.map((r, i) => r.name ?? `routes[${i}]`);
  const upstreams = Object.keys(config.upstreams);
  const listeners = config.listeners.map((l) => l.name);
  const out: PlacedMessage[] = [];
  file.tests.forEach((t, i) => {
    const at = (...p: string[]): (string | number)[] => ['tests', i, ...p];
    if (t.request.listener !== undefined && !listeners.includes(t.request.listener)) out.push(unknownName(at('request', 'listener'), 'listener', t.request.listener, listeners));
    const e = t.expect;
    if (typeof e.route === 'string' && !routes.includes(e.route)) out.push(unknownName(at('expect', 'route'), 'route', e.route, routes));
    if (e.upstream !== undefined && !upstreams.includes(e.upstream)) out.push(unknownName(at('expect', 'upstream'), 'upstream', e.upstream, upstreams));
  });
  return out;
}

/**
 * Reads and validates a fixture file against `config`. Throws a ConfigError listing every problem (file, line,
 * column, key path), as a config file's are.
 */
export async function loadFixtures(path: string, config: GatehouseConfig): Promise<FixtureFile> {
  let file: FixtureFile;
  try {
    file = await loadConfigFile(fixtureFileSchema, path);
  } catch (err) {
    // The loader speaks of configs; this file is a fixture file.
    if (err instanceof ConfigError) throw new ConfigError(err.issues.map((i) => ({ ...i, message: i.message.replace(/^cannot read config:/, 'cannot read fixtures:') })));
    throw err;
  }
  const problems = namesProblems(file, config);
  if (problems.length) throw new ConfigError(placeIssues(file, problems));
  return file;
}

/** Where a fixture is in its file: `FILE:LINE`. */
export function fixtureAt(file: FixtureFile, index: number): { file?: string; line?: number } {
  const [issue] = placeIssues(file, [{ path: ['tests', index], message: '' }]);
  return { ...(issue?.file ? { file: issue.file } : {}), ...(issue?.line !== undefined ? { line: issue.line } : {}) };
}
