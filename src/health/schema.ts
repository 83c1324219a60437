/** Active health checks and passive outlier detection. */
import { z } from 'zod';
import { duration } from '../config/units.js';

export const activeHealthSchema = z
  .strictObject({
    type: z.enum(['http', 'tcp']).default('http').describe('http: a request that must answer with an expected status; tcp: a connection that must open'),
    path: z.string().startsWith('/').default('/').describe('Path requested by an http check'),
    method: z.string().default('GET').describe('Method of an http check'),
    host: z.string().optional().describe('Host header of an http check (the server address by default)'),
    expect_status: z
      .string()
      .regex(/^\d{3}(-\d{3})?$/, 'a status or a range such as 200-399')
      .default('200-399')
      .describe('Status or range that counts as healthy'),
    expect_body: z.string().optional().describe('A regular expression the body must match'),
    interval: duration.prefault('5s').describe('Time between checks of one server (jittered ±10% so proxies do not probe in lockstep)'),
    timeout: duration.prefault('2s').describe('A check that takes longer fails'),
    rise: z.number().int().min(1).default(2).describe('Consecutive passes that bring a down server back'),
    fall: z.number().int().min(1).default(2).describe('Consecutive failures that take a server down'),
  })
  .describe('Active checks: probe every server on a timer');

export const passiveHealthSchema = z
  .strictObject({
    failures: z.number().int().min(1).default(5).describe('Consecutive failures (connect errors, timeouts, 5xx) that eject a server'),
    ejection: duration.prefault('30s').describe('First ejection time; it doubles on each repeat ejection (up to 10×)'),
    max_ejected_percent: z.number().min(0).max(100).default(50).describe('At most this share of the servers is ejected at once'),
  })
  .describe('Passive checks (outlier detection): eject a server that keeps failing real requests');

export const healthSchema = z
  .strictObject({
    active: activeHealthSchema.optional(),
    passive: passiveHealthSchema.optional(),
  })
  .describe('Health checking; without it every server is always considered up');

export type ActiveHealthConfig = z.output<typeof activeHealthSchema>;
export type PassiveHealthConfig = z.output<typeof passiveHealthSchema>;
export type HealthConfig = z.output<typeof healthSchema>;
