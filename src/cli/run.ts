/**
 * The process around a running Gatehouse (`gatehouse run`, `gatehouse proxy`): everything it says after it
 * starts goes through the process log; SIGHUP and a change to the config file (watch.ts) reload; SIGTERM/SIGINT drain and exit 0 as soon as the proxy
 * has stopped. A second SIGTERM/SIGINT during the drain exits at once with 128 + the signal number (143,
 * 130), as a shell reports a process killed by it.
 */
import { setFlagsFromString } from 'node:v8';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { Gatehouse } from '../gatehouse.js';
import type { GatehouseConfig } from '../schema.js';
import { watchConfigFile } from './watch.js';

export interface ProcessOptions {
  log: Logger;
  /** Reads the config again on SIGHUP; undefined when there is nothing to reload (`proxy`). */
  reload?: (() => Promise<GatehouseConfig>) | undefined;
  /** The config file, for the messages. */
  file?: string | undefined;
  /** A worker of a group: its primary handles SIGHUP and SIGUSR2 (cli/primary.ts); the worker ignores them. */
  worker?: boolean;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** What a failure says: every config error (and their count, as `validate` prints them), or the message. */
export function errorText(err: unknown): string {
  if (err instanceof ConfigError) return `${err.message}${err.issues.length > 1 ? `\n${err.issues.length} errors in config` : ''}`;
  return (err as Error).message ?? String(err);
}

/**
 * Call before the proxy starts. undici parses upstream responses with llhttp compiled to WebAssembly; after
 * the first upstream connection V8 recompiles it with its optimizing compiler on a background thread, and a
 * process cannot exit before that thread's task ends: a stopped proxy lingered 100-250 ms here, 1.5-1.9 s on
 * a loaded machine. Kept on the baseline compiler (Liftoff) it exits at once, and requests per second
 * through the proxy were no lower in an interleaved comparison (autocannon, 4 rounds each). For the command
 * only, before the first connection compiles the module: the library leaves V8's flags alone.
 */
export function prepareProcess(): void {
  setFlagsFromString('--liftoff-only');
}

/** Signals, warnings and uncaught exceptions of a started proxy, through its process log. */
export function handleProcessEvents(gh: Gatehouse, opts: ProcessOptions): void {
  const { log } = opts;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, `${signal} again: exiting now, without waiting for in-flight requests`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    stopping = true;
    log.info({ signal }, `${signal}: finishing in-flight requests (up to ${gh.config.shutdown.timeout} ms; ${signal} again to exit now)`);
    gh.stop().then(() => process.exit(0), (err: unknown) => {
      log.error(`stop failed: ${errorText(err)}`);
      process.exit(1);
    });
  };
  // A bug in one request must not take every other one down: log it and keep serving.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.removeAllListeners('warning');
  process.on('warning', (w) => log.warn({ warning: w.name }, w.message));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (opts.worker) {
    for (const s of ['SIGHUP', 'SIGUSR2'] as const) process.on(s, () => log.debug({ signal: s }, `${s} ignored by a worker: send it to the primary process`));
    return;
  }
  process.on('SIGUSR2', () => log.warn('SIGUSR2: this proxy is one process (workers: 1), there are no workers to replace'));
  const reloadFile = serialReload(gh, opts);
  process.on('SIGHUP', () => {
    if (!opts.reload) {
      log.warn('SIGHUP: there is no config file to reload (gatehouse proxy)');
      return;
    }
    reloadFile('SIGHUP');
  });
}

/**
 * Reloads the config file (SIGHUP, or a change the watcher saw), one reload at a time: a request during one
 * runs once more after it, so the file's last state is the one applied. Watches the file while the config in
 * force says `reload.watch`.
 */
function serialReload(gh: Gatehouse, opts: ProcessOptions): (why: string) => void {
  const { log, reload, file } = opts;
  if (!reload) return () => {};
  let running = false, again = false;
  const watcher = file ? watchConfigFile(file, log, () => run('file changed')) : undefined;
  watcher?.set(gh.config.reload.watch);
  function run(why: string): void {
    if (running) { again = true; return; }
    running = true;
    log.info({ file, trigger: why }, 'reloading the config file');
    // A file that does not load is counted here; gh.reload counts the rest (metrics).
    reload!().then((c) => gh.reload(c), (err: unknown) => { gh.metrics.reloads?.failed(err); throw err; }).then(
      () => { log.level = gh.config.log.level; },
      (err: unknown) => log.error({ file }, `reload failed, keeping the running config:\n${errorText(err)}`),
    ).finally(() => {
      running = false;
      watcher?.set(gh.config.reload.watch);
      if (again) { again = false; run(why); }
    });
  }
  return run;
}
