/**
 * Watches the config file for `gatehouse run` (`reload.watch`, on by default): a change reloads it 300 ms after
 * the last event, as SIGHUP does. The file itself is watched, not its directory, so that other files written
 * there (an access log beside the config) do not wake the process: a directory watch cost 3-4% of the CPU per
 * proxied request with the access log next to the config (#16). An editor that saves by writing a new file and
 * renaming it over the old one (vim, many IDEs), or a `kubectl` ConfigMap symlink swap, leaves the watch on
 * the old file: that ends in a 'rename' event, after which the path is watched anew (retried while it is
 * missing, between a delete and the create that follows).
 */
import { watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';

export const WATCH_DEBOUNCE_MS = 300;
/** While the file is missing, the watch is tried again this often, this many times (5 s), then given up. */
const RETRY_MS = 100;
const RETRIES = 50;

export interface ConfigWatcher {
  /** Turns the watch on or off (the config in force says which, after each reload). */
  set(on: boolean): void;
  close(): void;
}

/** Calls `onChange` once the config file has stopped changing for WATCH_DEBOUNCE_MS. */
export function watchConfigFile(file: string, log: Logger, onChange: () => void): ConfigWatcher {
  const path = resolve(file);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let on = false;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onChange, WATCH_DEBOUNCE_MS);
    timer.unref();
  };
  const stop = (): void => {
    clearTimeout(retry);
    retry = undefined;
    watcher?.close();
    watcher = undefined;
  };
  const open = (tries: number): void => {
    retry = undefined;
    if (!on || watcher) return;
    try {
      watcher = watch(path, { persistent: false }, (event) => {
        fire();
        // The file was replaced or removed: this watch follows the old one. Watch the path again.
        if (event === 'rename') {
          stop();
          open(RETRIES);
        }
      });
      watcher.on('error', (err) => {
        log.warn({ file, err: err.message }, 'watching the config file failed: SIGHUP still reloads it');
        stop();
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && tries > 0) {
        retry = setTimeout(() => open(tries - 1), RETRY_MS);
        retry.unref();
        return;
      }
      log.warn({ file, err: (err as Error).message }, 'cannot watch the config file: SIGHUP still reloads it');
    }
  };
  const self: ConfigWatcher = {
    set(wanted) {
      on = wanted;
      if (on && !watcher && !retry) open(0);
      if (!on) self.close();
    },
    close() {
      on = false;
      clearTimeout(timer);
      stop();
    },
  };
  return self;
}
