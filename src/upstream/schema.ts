/** Upstream pools: servers, timeouts, keep-alive, and the route's `proxy` action. */
import { z } from 'zod';
import { duration, size, headerValue } from '../config/units.js';

const serverUrl = z
  .string()
  .regex(/^(?:https?|h2c?|tcp):\/\/[^/?#\s]+\/?$/, 'an http:// or https:// URL (h2c:// or h2:// for HTTP/2; tcp:// for tcp and tls_passthrough listeners) with a host and port and no path, e.g. http://127.0.0.1:9001');

export const serverSchema = z.union([
  serverUrl.describe('The server URL; h2c:// is HTTP/2 in cleartext (prior knowledge, as gRPC servers speak it), h2:// HTTP/2 over TLS'),
  z.strictObject({
    url: serverUrl.describe('The server URL, e.g. http://10.0.0.5:8080; h2c:// is HTTP/2 in cleartext (prior knowledge), h2:// HTTP/2 over TLS'),
    weight: z.number().int().min(1).max(1000).default(1).describe('Relative share of requests'),
    backup: z.boolean().default(false).describe('Used only when every primary server is down'),
    max_connections: z.number().int().positive().optional().describe('Most connections to this server; further requests wait (see max_pending)'),
    slow_start: duration.optional().describe('After recovering, ramp this server\'s share up linearly over this long (overrides the upstream\'s)'),
  }),
]);

export const timeoutsSchema = z
  .strictObject({
    connect: duration.prefault('5s').describe('Time to open a connection to a server; past it the next server is tried, then 504'),
    response_headers: duration.prefault('60s').describe('Time from sending the request to the complete response head; past it 504'),
    idle: duration.prefault('60s').describe('Longest pause between two reads of the response body; past it the response is cut'),
  })
  .prefault({});

export const upstreamBaseSchema = z
  .strictObject({
    servers: z.array(serverSchema).min(1).describe('Servers: a URL string or { url, weight }'),
    host: headerValue.optional().describe('Host header sent upstream; by default the client\'s Host is passed through'),
    tls: z
      .strictObject({
        ca: z.string().optional().describe('PEM CA bundle that signs the servers\' certificates (relative to the config file); the system CAs by default'),
        server_name: z.string().optional().describe('SNI and the name checked in the server certificate (the URL host by default)'),
        cert: z.string().optional().describe('Client certificate (PEM file) for mTLS to the servers'),
        key: z.string().optional().describe('Key of the client certificate (PEM file)'),
        insecure_skip_verify: z.boolean().default(false).describe('Do not verify the servers\' certificates. Only for tests: a warning is logged at start'),
      })
      .optional()
      .describe('TLS to https:// servers: verification is on by default'),
    h2: z.boolean().default(false).describe('Speak HTTP/2 to the servers: by ALPN to https:// ones, with prior knowledge (h2c) to http:// ones, as gRPC servers expect; health probes too'),
    retries: z.number().int().min(0).max(10).default(2).describe('Extra attempts, each on another server, after a failure that is safe to retry (docs/balancing.md)'),
    retry_on_status: z
      .array(z.number().int().min(500).max(599))
      .default([500, 502, 503, 504])
      .describe('Response statuses after which an idempotent request is tried on another server'),
    retry_budget: z
      .strictObject({
        percent: z.number().min(0).max(100).default(20).describe('Retries may add at most this share of requests'),
        window: duration.prefault('10s').describe('Over this sliding window'),
        min_retries: z.number().int().min(0).default(10).describe('Retries always allowed per window, so a quiet upstream can still fail over'),
      })
      .prefault({})
      .describe('Stops retry storms: extra attempts at most `percent` of requests over `window`'),
    retry_buffer: size.prefault('64KiB').describe('Request bodies up to this size are buffered so a retry can replay them; larger ones stream and are not replayed'),
    slow_start: duration.optional().describe('After recovering, a server\'s share ramps up linearly over this long'),
    max_requests: z.number().int().positive().optional().describe('Circuit breaker: most requests in flight to this upstream; past it 503 at once'),
    max_pending: z.number().int().min(0).optional().describe('Circuit breaker: most requests waiting for a connection (servers at max_connections); past it 503 at once'),
    timeouts: timeoutsSchema.describe('Upstream timeouts'),
    keepalive: z
      .strictObject({
        idle_timeout: duration.prefault('4s').describe('Close an idle upstream connection after this long'),
        max_connections: z.number().int().positive().optional().describe('Most connections per server; unlimited by default'),
      })
      .prefault({})
      .describe('Upstream connection reuse'),
  })
  .describe('A named pool of servers');

export const websocketSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      idle_timeout: duration.prefault('60s').describe('Close a WebSocket after this long without a byte either way (Close 1001 to both sides), as nginx\'s 60 s; 0s: never'),
      max_lifetime: duration.optional().describe('Close a WebSocket (Close 1001) this long after it opened, whatever its traffic'),
    }),
  ])
  .prefault({})
  .describe('WebSocket upgrades on this route (on by default): true/false, or { idle_timeout, max_lifetime }');

export const proxySchema = z
  .strictObject({
    upstream: z.string().min(1).describe('Name of the upstream (a key of `upstreams`)'),
    retry_with_idempotency_key: z
      .boolean()
      .default(false)
      .describe('Treat a POST or PATCH that carries an Idempotency-Key header as idempotent for retries'),
    websocket: websocketSchema,
  })
  .describe('Forward the request to an upstream');

export type ServerConfig = z.output<typeof serverSchema>;
export type UpstreamBaseConfig = z.output<typeof upstreamBaseSchema>;
export type WebSocketConfig = z.output<typeof websocketSchema>;
export type ProxyConfig = z.output<typeof proxySchema>;
