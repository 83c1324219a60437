/**
 * Watches the config file for `gatehouse run` (`reload.watch`, on by default): a change reloads it 300 ms after
 * the last event, as SIGHUP does. The file itself is watched (inotify), not its directory, so that other files
 * written there (an access log beside the config) do not wake the process at every write (the directory
 * watch before it also missed a ConfigMap's `..data` swap, which names no file of ours). Such a watch follows the file, not the path, so
 * the path's identity is also polled once a second (one stat): when the path names another file — an
 * editor's save by rename, a symlink pointed elsewhere (`ln -sfn`, a Kubernetes ConfigMap's `..data` swap), a
 * file deleted and made again later — the config is reloaded and the new file watched.
 */
import { statSync, unwatchFile, watch, watchFile, type FSWatcher, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';

export const WATCH_DEBOUNCE_MS = 300;
/** How often the path's identity (device and inode of the file it names) is polled. */
const POLL_MS = 1000;

export interface ConfigWatcher {
  /** Turns the watch on or off (the config in force says which, after each reload). */
  set(on: boolean): void;
  close(): void;
}

/** Calls `onChange` once the config file has stopped changing for WATCH_DEBOUNCE_MS. */
export function watchConfigFile(file: string, log: Logger, onChange: () => void): ConfigWatcher {
  const path = resolve(file);
  let watcher: FSWatcher | undefined;
  /** The file the watch is on: its device and inode. */
  let dev = -1;
  let ino = -1;
  let polling = false;
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onChange, WATCH_DEBOUNCE_MS);
    timer.unref();
  };
  const unwatch = (): void => {
    watcher?.close();
    watcher = undefined;
  };
  /** Watches the file the path names now; none when it names none (the poll sees it come back). */
  const rewatch = (): void => {
    unwatch();
    try {
      const st = statSync(path);
      watcher = watch(path, { persistent: false }, (event) => {
        fire();
        // Replaced or removed: this watch follows the old file. The path's next one, if it has one yet.
        if (event === 'rename') rewatch();
      });
      watcher.on('error', (err) => {
        log.warn({ file, err: err.message }, 'watching the config file failed: it is polled once a second, SIGHUP reloads it');
        unwatch();
      });
      dev = st.dev;
      ino = st.ino;
    } catch {
      unwatch();
      dev = ino = -1;
    }
  };
  const onPoll = (now: Stats): void => {
    // Content changes are the watch's to report; here, another file (or none) under the path, or a lost watch.
    if (now.ino === ino && now.dev === dev && watcher !== undefined) return;
    // Gone, as the watch already said (a stat that fails reads as zeros).
    if (now.ino === 0 && now.dev === 0 && ino === -1) return;
    fire();
    rewatch();
  };
  const self: ConfigWatcher = {
    set(on) {
      if (on && !polling) {
        polling = true;
        rewatch();
        watchFile(path, { persistent: false, interval: POLL_MS }, onPoll);
      }
      if (!on && polling) self.close();
    },
    close() {
      clearTimeout(timer);
      unwatch();
      if (polling) unwatchFile(path, onPoll);
      polling = false;
    },
  };
  return self;
}
