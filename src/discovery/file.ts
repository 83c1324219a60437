/**
 * The file provider: a JSON list of servers that another program publishes, read at start and again after
 * each change (debounced). A file that cannot be read or parsed keeps the last good list (logged).
 * The directory is watched, not the file, so a file replaced by rename (the safe way to publish) is seen.
 * Lifetime: process.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { listKey } from './poll.js';
import type { DiscoveredServer, DiscoveryLog } from './types.js';

const url = z.string().regex(/^(?:https?|h2c?):\/\/[^/?#\s]+\/?$/, 'an http://, https://, h2c:// or h2:// URL with a host and port and no path');

/** The file's contents: a list of URLs or { url, weight, backup } objects. */
export const serversFileSchema = z.array(
  z.union([
    url,
    z.strictObject({
      url,
      weight: z.number().int().min(1).max(1000).default(1),
      backup: z.boolean().default(false),
    }),
  ]),
);

/** Parses the text of a servers file; throws with the first problem's place. */
export function parseServersFile(text: string): DiscoveredServer[] {
  const parsed = serversFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.message} at [${issue.path.join('].[')}]`);
  }
  return parsed.data.map((s) => (typeof s === 'string' ? { url: s.replace(/\/$/, ''), weight: 1, backup: false } : { ...s, url: s.url.replace(/\/$/, '') }));
}

export interface FileProviderOptions {
  debounceMs: number;
  onServers(servers: DiscoveredServer[]): void;
  log: DiscoveryLog;
}

/** Watches `file` (an absolute path) and reports its list at start and whenever it changes. */
export function fileProvider(file: string, opts: FileProviderOptions): { close(): void } {
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const load = async (): Promise<void> => {
    try {
      const servers = parseServersFile(await readFile(file, 'utf8'));
      const key = listKey(servers);
      if (closed || key === last) return;
      last = key;
      opts.log.info({ discovery: `file ${file}`, servers: servers.map((s) => s.url) }, 'discovery: servers found');
      opts.onServers(servers);
    } catch (err) {
      if (!closed) opts.log.warn({ discovery: `file ${file}`, err, kept: last !== undefined }, 'discovery: servers file unreadable, the last good list is kept');
    }
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => void load(), opts.debounceMs);
      timer.unref();
    });
    watcher.on('error', (err) => opts.log.warn({ discovery: `file ${file}`, err }, 'discovery: watching the servers file failed'));
  } catch (err) {
    opts.log.warn({ discovery: `file ${file}`, err }, 'discovery: cannot watch the servers file; it is read once');
  }
  void load();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
