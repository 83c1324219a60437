/** How an upstream picks a server: algorithm, hash key, sticky cookie. */
import { z } from 'zod';
import { duration } from '../config/units.js';

export const balanceSchema = z
  .enum(['round_robin', 'least_request', 'random', 'p2c', 'hash'])
  .default('round_robin')
  .describe('round_robin (smooth weighted), least_request (fewest in flight), random (weighted), p2c (two random choices by in-flight × latency), hash (consistent, see `hash`)');

export const hashSchema = z
  .strictObject({
    key: z
      .string()
      .regex(/^(client_ip|path|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/, 'client_ip, path, header:NAME or cookie:NAME')
      .default('client_ip')
      .describe('What to hash: client_ip, path, header:NAME or cookie:NAME'),
  })
  .describe('Consistent hashing (balance: hash): a key always goes to the same server while it is up');

export const stickySchema = z
  .strictObject({
    cookie: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/).describe('Cookie name that pins a client to a server'),
    max_age: duration.optional().describe('Cookie lifetime; a session cookie by default'),
    secret: z.string().min(16).meta({ writeOnly: true }).optional().describe('HMAC key signing the cookie; set it so several instances accept each other\'s cookies (random per process otherwise)'),
  })
  .describe('Sticky sessions: a signed cookie pins a client to a server; if that server is down, another is picked and the cookie renewed');

export const mirrorSchema = z
  .strictObject({
    upstream: z.string().min(1).describe('Upstream that receives the copies'),
    percent: z.number().min(0).max(100).default(100).describe('Share of requests copied'),
  })
  .describe('Traffic mirroring: copy requests to a second upstream, fire and forget; its answers are discarded');

export type BalanceConfig = z.output<typeof balanceSchema>;
export type HashConfig = z.output<typeof hashSchema>;
export type StickyConfig = z.output<typeof stickySchema>;
export type MirrorConfig = z.output<typeof mirrorSchema>;
