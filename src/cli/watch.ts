/**
 * Watches the config file for `gatehouse run` (`reload.watch`, on by default): a change reloads it 300 ms after
 * the last event, as SIGHUP does. The directory is watched, not the file, so an editor that saves by writing a
 * new file and renaming it over the old one (vim, many IDEs, `kubectl` ConfigMap symlink swaps) keeps working:
 * a watch on the file itself would follow the old inode and fall silent after the first save.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';

export const WATCH_DEBOUNCE_MS = 300;

export interface ConfigWatcher {
  /** Turns the watch on or off (the config in force says which, after each reload). */
  set(on: boolean): void;
  close(): void;
}

/** Calls `onChange` once the config file has stopped changing for WATCH_DEBOUNCE_MS. */
export function watchConfigFile(file: string, log: Logger, onChange: () => void): ConfigWatcher {
  const path = resolve(file);
  const dir = dirname(path);
  const name = basename(path);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onChange, WATCH_DEBOUNCE_MS);
    timer.unref();
  };
  const open = (): void => {
    try {
      // A null filename (some platforms) may be our file: reload, as a reload of an unchanged file is harmless.
      watcher = watch(dir, { persistent: false }, (_event, f) => { if (f === null || f === name) fire(); });
      watcher.on('error', (err) => {
        log.warn({ file, err: err.message }, 'watching the config file failed: SIGHUP still reloads it');
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'cannot watch the config file: SIGHUP still reloads it');
    }
  };
  const self: ConfigWatcher = {
    set(on) {
      if (on && !watcher) open();
      if (!on && watcher) self.close();
    },
    close() {
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
  return self;
}
