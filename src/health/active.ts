/**
 * Active health checks: every server is probed on its own jittered timer (HTTP request or TCP connect).
 * `fall` consecutive failures take a server down, `rise` consecutive passes bring it back.
 */
import { connect } from 'node:net';
import { Client } from 'undici';
import type { Peer } from '../core/services.js';
import type { ActiveHealthConfig } from './schema.js';

export type CheckResult = { ok: true } | { ok: false; reason: string };

function statusRange(spec: string): [number, number] {
  const [a, b] = spec.split('-').map(Number);
  return [a!, b ?? a!];
}

/** One probe of one server. */
export function createProbe(peer: Peer, cfg: ActiveHealthConfig, tlsOptions: Record<string, unknown> = {}): { run(): Promise<CheckResult>; close(): Promise<void> } {
  // tcp:// servers (layer 4 upstreams) speak no HTTP: their check is always a connect.
  if (cfg.type === 'tcp' || peer.url.startsWith('tcp:')) {
    const u = new URL(peer.origin);
    return {
      run: () => new Promise<CheckResult>((resolve) => {
        const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) });
        const done = (r: CheckResult): void => { sock.destroy(); clearTimeout(timer); resolve(r); };
        const timer = setTimeout(() => done({ ok: false, reason: 'timeout' }), cfg.timeout);
        sock.once('connect', () => done({ ok: true }));
        sock.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: err.code ?? 'error' }));
      }),
      close: async () => {},
    };
  }
  const [lo, hi] = statusRange(cfg.expect_status);
  const bodyRe = cfg.expect_body !== undefined ? new RegExp(cfg.expect_body) : undefined;
  // A client of its own, so a hung server does not hold a connection of the traffic pool.
  // HTTP/2 when the upstream speaks it (`allowH2`): by ALPN over TLS, with prior knowledge (h2c) otherwise.
  const h2 = tlsOptions.allowH2 === true || peer.h2 === true;
  const connectOptions = { timeout: cfg.timeout, ...(peer.origin.startsWith('https:') ? tlsOptions : h2 ? { useH2c: true } : {}) };
  const client = new Client(peer.origin, { connect: connectOptions, ...(h2 ? { allowH2: true } : {}), headersTimeout: cfg.timeout, bodyTimeout: cfg.timeout, pipelining: 1 });
  return {
    async run() {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), cfg.timeout);
      try {
        const res = await client.request({
          path: cfg.path, method: cfg.method, signal: ac.signal,
          headers: { host: cfg.host ?? peer.authority, 'user-agent': 'gatehouse-health-check' },
        });
        const body = bodyRe ? await res.body.text() : (await res.body.dump(), '');
        if (res.statusCode < lo || res.statusCode > hi) return { ok: false, reason: `status ${res.statusCode}` };
        if (bodyRe && !bodyRe.test(body)) return { ok: false, reason: 'body does not match' };
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: ac.signal.aborted ? 'timeout' : ((err as { code?: string }).code ?? 'error') };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => client.destroy().catch(() => undefined),
  };
}
