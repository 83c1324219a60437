/** Protection: request limits, IP rules, authentication, rate limits, connection caps. */
import { isCidr } from '../core/addresses.js';
import { z } from 'zod';
import { duration, headerName, size } from '../config/units.js';

export const cidr = z.string().refine(isCidr, 'an IP address or CIDR block, e.g. 10.0.0.0/8 or fd00::/8');

export const accessSchema = z
  .strictObject({
    allow: z.array(cidr).optional().describe('Only these addresses (IP or CIDR) may pass; others get 403'),
    deny: z.array(cidr).optional().describe('These addresses get 403 (checked before allow)'),
  })
  .describe('IP rules on the client address (the socket peer, or X-Forwarded-For from trusted_proxies)');

/** Limits a route may tighten or loosen. */
export const routeLimitsSchema = z
  .strictObject({
    body_size: size.optional().describe('Largest request body (413); enforced while streaming, chunked bodies too'),
    url_size: size.optional().describe('Longest request target (414)'),
    header_count: z.number().int().positive().optional().describe('Most request header fields (431)'),
  })
  .describe('Per-route limits; unset keys use the global `limits`');

export const limitsSchema = z
  .strictObject({
    header_size: size.prefault('16KiB').describe('Request line plus headers (431); node:http enforces it while parsing'),
    url_size: size.prefault('8KiB').describe('Longest request target (414)'),
    header_count: z.number().int().positive().default(100).describe('Most request header fields (431)'),
    body_size: size.prefault('10MiB').describe('Largest request body (413), enforced while streaming so a backend never receives more'),
    header_timeout: duration.prefault('10s').describe('Time to receive the request head (slowloris); past it the connection is closed'),
    body_timeout: duration.prefault('10s').describe('Longest pause while receiving a request body; past it 408 and the upstream request is aborted'),
    keepalive_timeout: duration.prefault('5s').describe('Close an idle client connection after this long; an HTTP/2 connection with open streams that stays silent this long gets a PING, and is closed if no answer comes within as long again'),
    max_requests_per_connection: z.number().int().min(0).default(1000).describe('Requests served on one connection before it is closed (0: unlimited)'),
    connections_per_client: z.number().int().min(0).default(1024).describe('Open connections from one client address (0: unlimited); more are closed at once'),
    connections: z.number().int().min(0).default(16384).describe('Open client connections in total (0: unlimited); more are closed at once'),
    request_buffer: size.prefault('64KiB').describe('Request bodies up to this size are read whole before an upstream connection is taken (slow senders cannot pin one)'),
    response_buffer: size.prefault('64KiB').describe('Response bytes held for a slow reader before the upstream is paused, so small responses release their upstream connection at once'),
  })
  .prefault({})
  .describe('Request limits and slow-client defences (docs/security.md)');

const SCRYPT_RE = /^\$scrypt\$ln=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;

export const basicAuthSchema = z
  .strictObject({
    users: z
      .record(z.string().regex(/^[^:]+$/, 'a user name without ":"'), z.string().regex(SCRYPT_RE, 'a password hash from `gatehouse hash-password` (plain-text passwords are refused)').meta({ writeOnly: true }))
      .describe('User name → password hash printed by `gatehouse hash-password`'),
    realm: z.string().regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/, 'printable ASCII without " or \\').default('gatehouse').describe('Realm shown by browsers'),
    pass_authorization: z.boolean().default(false).describe('Forward the Authorization header upstream (dropped by default)'),
  })
  .describe('HTTP Basic authentication (RFC 7617) against hashed passwords');

export const authSchema = z
  .strictObject({
    basic: basicAuthSchema.optional(),
    get jwt() { return jwtSchema.optional(); },
    get forward_auth() { return forwardAuthSchema.optional(); },
  })
  .describe('Authentication; a request without valid credentials gets 401 with WWW-Authenticate');

const RATE_RE = /^(\d+(?:\.\d+)?)\/(s|m|h)$/;
export const rateLimitSchema = z
  .strictObject({
    key: z
      .string()
      .regex(/^(client_ip|route|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|jwt:[\w.-]+)$/, 'client_ip, route, header:NAME or jwt:CLAIM')
      .default('client_ip')
      .describe('What to count by: client_ip, route (all clients together), header:NAME or jwt:CLAIM (a verified claim of auth.jwt); by client address when the header or claim is absent'),
    rate: z
      .string()
      .regex(RATE_RE, 'a rate such as 10/s, 600/m or 1000/h')
      .transform((s) => {
        const m = RATE_RE.exec(s)!;
        return { perSecond: Number(m[1]) / ({ s: 1, m: 60, h: 3600 }[m[2]!] ?? 1), text: s, count: Number(m[1]), windowS: { s: 1, m: 60, h: 3600 }[m[2]!]! };
      })
      .describe('Sustained rate per key: 10/s, 600/m, 1000/h'),
    burst: z.number().int().positive().optional().describe('Requests allowed at once above the sustained rate (default: one second\'s worth, at least 1)'),
    max_keys: z.number().int().positive().default(100_000).describe('Most keys tracked at once; the least recently seen are forgotten first'),
  })
  .describe('Rate limit (GCRA): past it 429 with Retry-After and RateLimit-Policy / RateLimit headers');

export type AccessConfig = z.output<typeof accessSchema>;
export type LimitsConfig = z.output<typeof limitsSchema>;
export type RouteLimitsConfig = z.output<typeof routeLimitsSchema>;
export type BasicAuthConfig = z.output<typeof basicAuthSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;

const ruleSchema = z.strictObject({
  method: z.array(z.string()).optional().describe('Methods the rule applies to'),
  path: z.string().optional().describe('Regular expression on the decoded path'),
  query: z.string().optional().describe('Regular expression on the raw query string'),
  headers: z.record(z.string(), z.string()).optional().describe('Header name → regular expression on its value'),
  user_agent: z.string().optional().describe('Regular expression on User-Agent'),
});

export const requestRulesSchema = z
  .strictObject({
    defaults: z.boolean().default(true).describe('The built-in rules: path traversal after decoding, NUL bytes, malformed percent-encoding (400)'),
    max_cookie_size: size.prefault('8KiB').describe('Largest Cookie header (400 past it)'),
    deny: z.array(ruleSchema).default([]).describe('A request matching every condition of one of these rules gets 403'),
    allow: z.array(ruleSchema).optional().describe('If given, only requests matching one of these rules pass (others get 403)'),
  })
  .describe('Request rules: refuse requests by method, path, query, headers or user agent');

export const overloadSchema = z
  .strictObject({
    event_loop_delay: duration.prefault('100ms').describe('Shed new requests (503) while the event loop lags more than this (p99 of each 250 ms sample) for the whole `window`'),
    window: duration.prefault('2s').describe('How long a threshold must be passed in every sample before shedding starts: sustained overload only, not one slow tick or GC pause (0: one sample)'),
    heap_used_percent: z.number().min(1).max(100).default(90).describe('Shed new requests while the heap is fuller than this share of its limit'),
  })
  .describe('Load shedding: when the proxy itself is overloaded, new requests get 503 before they cost work; accepted ones finish');

export const concurrencySchema = z
  .strictObject({
    max: z.number().int().positive().describe('Requests of this route in flight at once'),
    queue: z.number().int().min(0).default(0).describe('Requests that may wait for a slot'),
    queue_timeout: duration.prefault('1s').describe('Longest wait in the queue; then 503'),
  })
  .describe('Concurrency limit for a route: past `max` in flight and a full queue, 503 with Retry-After');

export type RequestRulesConfig = z.output<typeof requestRulesSchema>;
export type OverloadConfig = z.output<typeof overloadSchema>;
export type ConcurrencyConfig = z.output<typeof concurrencySchema>;

export const jwtSchema = z
  .strictObject({
    secret: z.string().min(32).meta({ writeOnly: true }).optional().describe('Shared secret for HS256/384/512 (at least 32 characters)'),
    public_key: z.string().optional().describe('PEM public key (SPKI) for RS*, PS*, ES* or EdDSA; inline or a file path relative to the config'),
    jwks_url: z.string().url().optional().describe('JWKS URL; keys are fetched and cached (refetched on an unknown key id)'),
    algorithms: z.array(z.string()).optional().describe('Accepted algorithms (default: those the key allows)'),
    issuer: z.union([z.string(), z.array(z.string())]).optional().describe('Required `iss`'),
    audience: z.union([z.string(), z.array(z.string())]).optional().describe('Required `aud`'),
    required_claims: z.array(z.string()).default([]).describe('Claims that must be present'),
    clock_tolerance: duration.prefault('30s').describe('Leeway for exp and nbf'),
    forward_claims: z.record(z.string(), headerName).default({}).describe('Claim → request header sent upstream, e.g. { sub: X-User-Id }'),
    cookie: z.string().optional().describe('Read the token from this cookie when there is no Authorization: Bearer header'),
  })
  .describe('JWT bearer tokens (jose): signature, issuer, audience, expiry, not-before and required claims checked');

export const forwardAuthSchema = z
  .strictObject({
    url: z.string().url().describe('The auth service; it gets the request\'s method and headers (no body) plus X-Forwarded-Method/-Uri/-Host/-Proto/-For'),
    copy_headers: z.array(headerName).default([]).describe('Headers of a 2xx answer copied onto the request sent upstream'),
    timeout: duration.prefault('5s').describe('Longest wait for the auth service; past it 503'),
  })
  .describe('Forward auth (Traefik ForwardAuth, nginx auth_request): 2xx lets the request through; any other answer goes back to the client');

export type JwtConfig = z.output<typeof jwtSchema>;
export type ForwardAuthConfig = z.output<typeof forwardAuthSchema>;
