/**
 * Config reloads, counted where a config is applied: by the Gatehouse of a single process (a reload from SIGHUP,
 * the file watcher, `POST /api/reload` or the library's `reload()`), and by the primary of a group of workers,
 * which applies it in every worker (the workers count none). A file that fails to load is counted by whoever
 * read it (`failed`). The last reload is kept for the admin API (`GET /api/config` `last_reload`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReloadRecord } from '../core/figures.js';

export interface ReloadLog {
  /** Counts the reload `done` settles; `version()` is read once it has (the version then in force). */
  track(done: Promise<void>, version: () => number): Promise<void>;
  /** Counts a reload that failed before it could be applied (the file did not load). */
  failed(err: unknown): void;
  /** The last reload, undefined before the first. */
  last(): ReloadRecord | undefined;
}

/** Why a reload failed, as the admin API shows it: the error's message (config errors: one per line). */
function messageOf(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.length > 4000 ? `${m.slice(0, 4000)}…` : m;
}

/** Registers the reload metrics in `registry`; the start counts as the first successful load (version 1). */
export function reloadLog(registry: Registry): ReloadLog {
  const total = new Counter({
    name: 'gatehouse_config_reloads_total', help: 'Config reloads by result: success (applied), failure (the running config kept)',
    labelNames: ['result'] as const, registers: [registry],
  });
  total.inc({ result: 'success' }, 0);
  total.inc({ result: 'failure' }, 0);
  const lastSuccess = new Gauge({
    name: 'gatehouse_config_last_reload_success_timestamp_seconds', help: 'When a config was last applied (the start, or the last successful reload), unix seconds',
    registers: [registry], aggregator: 'max',
  });
  const successful = new Gauge({
    name: 'gatehouse_config_last_reload_successful', help: 'Whether the last reload was applied (1; also before any reload) or failed (0)',
    registers: [registry], aggregator: 'min',
  });
  const versionGauge = new Gauge({
    name: 'gatehouse_config_version', help: 'The version of the config in force: 1 at start, one more for each reload applied',
    registers: [registry], aggregator: 'max',
  });
  lastSuccess.set(Date.now() / 1000);
  successful.set(1);
  versionGauge.set(1);
  let version = 1;
  let last: ReloadRecord | undefined;
  const record = (ok: boolean, err?: unknown): void => {
    const now = Date.now();
    total.inc({ result: ok ? 'success' : 'failure' });
    successful.set(ok ? 1 : 0);
    if (ok) lastSuccess.set(now / 1000);
    versionGauge.set(version);
    last = { at: new Date(now).toISOString(), result: ok ? 'success' : 'failure', ...(ok ? {} : { error: messageOf(err) }), version };
  };
  return {
    track(done, current) {
      return done.then(
        () => { version = current(); record(true); },
        (err: unknown) => { version = current(); record(false, err); throw err; },
      );
    },
    failed: (err) => record(false, err),
    last: () => last,
  };
}
