/**
 * `gatehouse run` with `workers:` 2 or more (or `auto` on a machine with several cores): the primary process. It
 * forks the workers (cluster/group.ts), which serve every listener; it holds the admin API for the group, whose
 * answers cover every worker (servers listed with the in-flight requests of all, changes made in all, the cache
 * purged in all); it counts rate limits for the group (without `state.redis`); and it handles the signals:
 * SIGHUP (and a change to the file) reloads every worker, SIGUSR2 (and `POST /api/restart`) replaces them one by
 * one, SIGTERM/SIGINT drains them and exits 0 (a second one exits at once).
 */
import type { Logger } from 'pino';
import type { GatehouseConfig } from '../schema.js';
import { startPrimary, type Primary } from '../workers.js';
import { errorText } from './run.js';
import { watchConfigFile } from './watch.js';

export interface PrimaryOptions {
  file: string;
  config: GatehouseConfig;
  log: Logger;
  /** Reads and validates the config file. */
  load(): Promise<GatehouseConfig>;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** `started`: called once the primary's signal handlers are in place. */
export async function runPrimary(opts: PrimaryOptions, started: () => void = () => undefined): Promise<number> {
  let primary: Primary;
  try {
    primary = await startPrimary(opts);
  } catch (err) {
    opts.log.fatal(`the workers could not start: ${errorText(err)}`);
    return 1;
  }
  handlePrimarySignals(primary, opts);
  started();
  return new Promise<number>(() => {}); // runs until a signal
}

function handlePrimarySignals(p: Primary, opts: PrimaryOptions): void {
  const { log, file } = opts;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, `${signal} again: exiting now, without waiting for in-flight requests`);
      p.group.kill();
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    stopping = true;
    watcher.close();
    const timeout = p.config().shutdown.timeout;
    log.info({ signal }, `${signal}: the workers finish their in-flight requests (up to ${timeout} ms; ${signal} again to exit now)`);
    // Past the workers' own drain, a worker still there is killed.
    p.stop(timeout + 2000).then(
      () => { log.info('gatehouse stopped'); process.exit(0); },
      (err: unknown) => { log.error(`stop failed: ${errorText(err)}`); process.exit(1); },
    );
  };
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const reload = (why: string): void => {
    if (stopping) return;
    log.info({ file: file, trigger: why }, 'reloading the config file in every worker');
    p.target.reload({ plan: false }).then(
      (r) => { log.info({ version: r.version }, 'config reloaded in every worker'); watcher.set(p.config().reload.watch); },
      (err: unknown) => log.error({ file: file }, `reload failed, keeping the running config:\n${errorText(err)}`),
    );
  };
  const watcher = watchConfigFile(file, log, () => reload('file changed'));
  watcher.set(p.config().reload.watch);
  process.on('SIGHUP', () => reload('SIGHUP'));
  process.on('SIGUSR2', () => {
    if (stopping) return;
    log.info('SIGUSR2: replacing the workers one by one');
    p.restart().then(
      (r) => log.info({ workers: r.workers }, 'rolling restart done: every worker replaced'),
      (err: unknown) => log.error(`rolling restart stopped, the workers in place keep serving: ${errorText(err)}`),
    );
  });
}
