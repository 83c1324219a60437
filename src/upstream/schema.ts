/** Upstream pools: servers, timeouts, keep-alive, and the route's `proxy` action. */
import { z } from 'zod';
import { duration } from '../config/units.js';

const serverUrl = z
  .string()
  .regex(/^http:\/\/[^/?#\s]+\/?$/, 'an http:// URL with a host and port and no path, e.g. http://127.0.0.1:9001');

export const serverSchema = z.union([
  serverUrl.describe('The server URL'),
  z.strictObject({
    url: serverUrl.describe('The server URL, e.g. http://10.0.0.5:8080'),
    weight: z.number().int().min(1).max(1000).default(1).describe('Relative share of requests'),
  }),
]);

export const timeoutsSchema = z
  .strictObject({
    connect: duration.prefault('5s').describe('Time to open a connection to a server; past it the next server is tried, then 504'),
    response_headers: duration.prefault('60s').describe('Time from sending the request to the complete response head; past it 504'),
    idle: duration.prefault('60s').describe('Longest pause between two reads of the response body; past it the response is cut'),
  })
  .prefault({});

export const upstreamSchema = z
  .strictObject({
    servers: z.array(serverSchema).min(1).describe('Servers: a URL string or { url, weight }'),
    host: z.string().optional().describe('Host header sent upstream; by default the client\'s Host is passed through'),
    retries: z.number().int().min(0).max(10).default(2).describe('Extra attempts on another server after a connection failure'),
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

export const proxySchema = z
  .strictObject({
    upstream: z.string().min(1).describe('Name of the upstream (a key of `upstreams`)'),
  })
  .describe('Forward the request to an upstream');

export type ServerConfig = z.output<typeof serverSchema>;
export type UpstreamConfig = z.output<typeof upstreamSchema>;
export type ProxyConfig = z.output<typeof proxySchema>;
