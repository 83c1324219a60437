/**
 * The refresh loop every DNS provider shares: look up, report the servers when they change, wait the answer's
 * TTL (bounded by min_ttl and max_ttl), again. A failed lookup keeps the last good answer: it is logged, and
 * retried after a wait that doubles from min_ttl up to max_ttl (so a dead DNS server is not hammered).
 * Lifetime: process (a provider outlives config generations; `close()` stops it).
 */
import type { DiscoveredServer, DiscoveryLog } from './types.js';

/** One answer: the servers, and how long it may be kept, in seconds (the smallest TTL of its records). */
export interface Answer {
  servers: DiscoveredServer[];
  ttlS: number;
}

export interface PollOptions {
  /** What is looked up, for the log: `dns users.internal`. */
  what: string;
  minMs: number;
  maxMs: number;
  onServers(servers: DiscoveredServer[]): void;
  log: DiscoveryLog;
}

/** A stable key of a server list, to report it only when it changes. */
export function listKey(servers: readonly DiscoveredServer[]): string {
  return JSON.stringify(servers.map((s) => [s.url, s.weight, s.backup]));
}

/** The next wait after `failures` lookups in a row failed (1 → min_ttl, 2 → twice that, … up to max_ttl). */
function backoffMs(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(minMs, 1) * 2 ** Math.min(failures - 1, 30));
}

/** Runs `lookup` now and then at each answer's TTL until `close()`. */
export function poll(lookup: () => Promise<Answer>, opts: PollOptions): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let last: string | undefined;
  let failures = 0;
  const schedule = (ms: number): void => {
    if (closed) return;
    timer = setTimeout(run, ms);
    timer.unref();
  };
  const run = (): void => {
    lookup().then(
      (answer) => {
        if (closed) return;
        if (failures > 0) opts.log.info({ discovery: opts.what, failures }, 'discovery: lookup answers again');
        failures = 0;
        const key = listKey(answer.servers);
        if (key !== last) {
          last = key;
          opts.log.info({ discovery: opts.what, servers: answer.servers.map((s) => s.url), ttl: answer.ttlS }, 'discovery: servers found');
          opts.onServers(answer.servers);
        }
        schedule(Math.min(opts.maxMs, Math.max(opts.minMs, answer.ttlS * 1000)));
      },
      (err: unknown) => {
        if (closed) return;
        failures += 1;
        const retryMs = backoffMs(failures, opts.minMs, opts.maxMs);
        const code = (err as { code?: unknown }).code;
        opts.log.warn(
          { discovery: opts.what, code: typeof code === 'string' ? code : undefined, err, failures, retry_ms: retryMs, kept: last !== undefined },
          'discovery: lookup failed, the last good answer is kept',
        );
        schedule(retryMs);
      },
    );
  };
  run();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
