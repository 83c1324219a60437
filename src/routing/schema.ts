/** Route matching, rewriting and the built-in terminal handlers (respond, redirect). */
import { z } from 'zod';
import { headerName, headerValue } from '../config/units.js';

const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

export const headerMatchSchema = z.union([
  z.string().describe('The header value must equal this string exactly'),
  z.strictObject({
    regex: z.string().optional().describe('The header value must match this regular expression'),
    present: z.boolean().optional().describe('true: the header must be present; false: it must be absent'),
  }),
]);

/** A host pattern: requests are matched on the Host without its port, so a pattern with one never matches. */
const hostPattern = z.string().min(1).superRefine((h, ctx) => {
  const port = /^(\[[^\]]*\]|[^:[\]]*):(\d*)$/.exec(h);
  if (port) {
    ctx.addIssue({ code: 'custom', message: `host "${h}" has a port and would never match: hosts are matched without the port (write "${port[1]}"; match.listener selects by listener)` });
  } else if (h.includes(':') && !h.startsWith('[')) {
    ctx.addIssue({ code: 'custom', message: `host "${h}" would never match: an IPv6 address is written in brackets, as in the Host header ("[${h}]")` });
  }
});

export const matchSchema = z
  .strictObject({
    host: oneOrMany(hostPattern)
      .optional()
      .describe('Host name(s) to match, exact (`api.example.com`) or wildcard (`*.example.com`); case-insensitive, port ignored'),
    path: z
      .string()
      .startsWith('/')
      .optional()
      .describe('Path prefix, matched by whole segments: `/api/` matches `/api/x`; `/old` matches `/old` and `/old/x` but not `/older`'),
    path_exact: z.string().startsWith('/').optional().describe('The path must equal this exactly'),
    path_regex: z.string().optional().describe('The path must match this regular expression; its captures can be used by `rewrite.regex`'),
    method: oneOrMany(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP method token'))
      .optional()
      .describe('HTTP method(s) to match, e.g. GET or [GET, HEAD]'),
    headers: z
      .record(z.string(), headerMatchSchema)
      .optional()
      .describe('Request headers to match: name → exact value, or { regex } or { present }'),
    listener: oneOrMany(z.string())
      .optional()
      .describe('Only for requests that arrive on these listeners (by name); by default a route serves every listener'),
  })
  .prefault({})
  .describe('What the route matches; every condition given must hold. Omitted: matches everything');

export const rewriteSchema = z
  .strictObject({
    strip_prefix: z.string().startsWith('/').optional().describe('Remove this prefix from the path before forwarding (`/api/users` → `/users`)'),
    add_prefix: z.string().startsWith('/').optional().describe('Put this prefix before the path (applied after strip_prefix)'),
    replace_prefix: z
      .strictObject({ from: z.string().startsWith('/').describe('Prefix to replace'), to: z.string().startsWith('/').describe('What replaces it') })
      .optional()
      .describe('Replace a leading `from` with `to`'),
    regex: z
      .strictObject({
        pattern: z.string().describe('Regular expression applied to the path'),
        replacement: z.string().describe('Replacement; `$1`, `$2`… insert captures'),
      })
      .optional()
      .describe('Rewrite the path with a regular expression and captures'),
  })
  .describe('Path rewriting before the request is forwarded; the query string is kept');

const headerOps = z
  .strictObject({
    set: z.record(headerName, headerValue).optional().describe('Set these headers, replacing any existing value'),
    add: z.record(headerName, headerValue).optional().describe('Append these headers, keeping existing values'),
    remove: z.array(headerName).optional().describe('Remove these headers'),
  });

export const headersSchema = z
  .strictObject({
    request: headerOps.optional().describe('Changes to the request sent upstream'),
    response: headerOps.optional().describe('Changes to the response sent to the client'),
  })
  .describe('Request and response header changes');

export const respondSchema = z
  .strictObject({
    status: z.number().int().min(200).max(599).default(200).describe('Status code'),
    body: z.string().default('').describe('Response body'),
    headers: z.record(headerName, headerValue).optional().describe('Response headers; Content-Type defaults to text/plain; charset=utf-8'),
  })
  .describe('Answer directly, without an upstream');

export const redirectSchema = z
  .strictObject({
    to: headerValue.min(1).describe('Target: a path (`/new`) or an absolute URL'),
    status: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).default(302).describe('Redirect status'),
    keep_query: z.boolean().default(false).describe('Append the request query string to the target'),
  })
  .describe('Answer with a redirect');

const spellingAction = (what: string) => z.enum(['reject', 'redirect', 'decode', 'keep']).default('keep').describe(
  `${what}: reject (400), redirect (301/308 to the path with them resolved), decode (resolved in the path routed and forwarded), `
  + 'or keep (forwarded as sent; refused with 400 when a backend reading them the other way would be served by another route)',
);

export const pathsSchema = z
  .strictObject({
    escaped_slashes: spellingAction('Encoded slashes and backslashes (`%2F`, `%5C`) and raw backslashes, which many backends read as `/`'),
    double_encoding: spellingAction('Escapes of escapes (`%252F`), which backends that decode twice read as `%2F`, then `/`'),
    path_params: spellingAction('Path parameters (`/admin;x/`), which Tomcat, Spring and Jetty drop from each segment'),
    control_chars: z.enum(['reject', 'keep']).default('reject')
      .describe('Encoded control characters (`%00`-`%1F`, `%7F`): reject (400), or keep (forwarded; checked as `case` reads them, stripped)'),
    case: z.enum(['keep', 'ignore']).default('keep').describe(
      'Case, Unicode compatibility forms and trailing dots/spaces of a segment, which case-insensitive backends (Windows, macOS) ignore: '
      + 'keep (forwarded as sent; refused with 400 when the path read that way would take another route) or ignore (no such check: '
      + 'only for backends known to be case-sensitive)',
    ),
  })
  .prefault({})
  .describe('How each class of path spelling is treated, so that no spelling reaches a resource past its route\'s rules (docs/routing.md)');

export type PathsConfig = z.output<typeof pathsSchema>;
export type MatchConfig = z.output<typeof matchSchema>;
export type RewriteConfig = z.output<typeof rewriteSchema>;
export type HeadersConfig = z.output<typeof headersSchema>;
export type HeaderOpsConfig = z.output<typeof headerOps>;
export type RespondConfig = z.output<typeof respondSchema>;
export type RedirectConfig = z.output<typeof redirectSchema>;
