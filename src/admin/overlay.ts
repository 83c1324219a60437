/**
 * The admin API's overlay (docs/operations.md, "API changes survive restarts"): process lifetime. Every change
 * made through the API (a server added, with its TTL as an absolute expiry; drained; enabled; removed) is kept
 * in a JSON state file, and applied again on top of the file's config at start and after every reload, so a
 * restart or a reload does not silently undo it.
 * - An API-added server comes back (one whose TTL has run out by then is dropped).
 * - A drained server is drained again; enabling it through the API forgets the drain.
 * - A server removed through the API that another source (the file) still names is removed again, until it is
 *   added again through the API.
 * Writes are atomic (a temporary file, then a rename) and serialised: changes made while one is written are
 * written together next. A corrupt state file is logged, kept (copied to `FILE.corrupt`) and ignored.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { AdminRegistry, ServerInfo, UpstreamRegistry } from '../core/services.js';

/** The most entries (added, drained and removed servers) kept per upstream; the oldest go first. */
export const OVERLAY_MAX_ENTRIES = 1000;

interface Added { url: string; weight?: number; expires_at?: number }
interface UpstreamState { added: Record<string, Added>; drained: string[]; removed: string[] }
interface State { version: 1; upstreams: Record<string, UpstreamState> }

/** What one application of the overlay did, per kind: `upstream/host:port`. */
export interface OverlaySummary { added: string[]; drained: string[]; removed: string[]; expired: string[] }

export interface Overlay {
  readonly file: string;
  /** The registry as the admin API should see it: every change it makes is recorded. */
  record(registry: AdminRegistry): AdminRegistry;
  /** Applies the overlay to the registry (after the file's config was applied); logs what it did. */
  apply(registry: UpstreamRegistry, when: 'start' | 'reload'): OverlaySummary;
  /** Waits for pending writes. */
  flush(): Promise<void>;
}

interface OverlayLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function parseState(text: string): State {
  const v: unknown = JSON.parse(text);
  if (!isObj(v) || v.version !== 1 || !isObj(v.upstreams)) throw new Error('not a Gatehouse overlay (expected {"version": 1, "upstreams": {…}})');
  for (const [name, u] of Object.entries(v.upstreams)) {
    if (!isObj(u) || !isObj(u.added) || !strings(u.drained) || !strings(u.removed)) throw new Error(`upstream "${name}": expected {added, drained, removed}`);
    for (const [id, a] of Object.entries(u.added)) {
      if (!isObj(a) || typeof a.url !== 'string' || (a.weight !== undefined && typeof a.weight !== 'number') || (a.expires_at !== undefined && typeof a.expires_at !== 'number')) {
        throw new Error(`upstream "${name}", server "${id}": expected {url, weight?, expires_at?}`);
      }
    }
  }
  return v as unknown as State;
}

/** Reads the state file: empty when it does not exist; a corrupt one is logged, copied aside and ignored. */
function readState(file: string, log: OverlayLog): State {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ overlay: file, err }, `API overlay ${file} cannot be read: ignored`);
    return { version: 1, upstreams: {} };
  }
  try {
    return parseState(text);
  } catch (err) {
    let kept = '';
    try { copyFileSync(file, `${file}.corrupt`); kept = ` (a copy is kept as ${file}.corrupt)`; } catch { /* the original stays until the next write */ }
    log.error({ overlay: file, err: (err as Error).message }, `API overlay ${file} is corrupt and was ignored${kept}: ${(err as Error).message}`);
    return { version: 1, upstreams: {} };
  }
}

/**
 * `readOnly`: applies the file and never writes it (a worker process: its primary records the changes).
 */
export function createOverlay(file: string, log: OverlayLog, opts: { readOnly?: boolean } = {}): Overlay {
  const state = readState(file, log);
  let writing: Promise<void> | undefined;
  let dirty = false;

  const of = (name: string): UpstreamState => (state.upstreams[name] ??= { added: {}, drained: [], removed: [] });
  const without = (list: string[], id: string): string[] => list.filter((x) => x !== id);

  /** Keeps an upstream's entries within OVERLAY_MAX_ENTRIES, dropping the oldest. */
  function bound(name: string, u: UpstreamState): void {
    let over = Object.keys(u.added).length + u.drained.length + u.removed.length - OVERLAY_MAX_ENTRIES;
    if (over <= 0) return;
    log.warn({ overlay: file, upstream: name }, `API overlay: upstream "${name}" has over ${OVERLAY_MAX_ENTRIES} entries; the oldest are forgotten`);
    for (const id of Object.keys(u.added)) { if (over-- <= 0) break; delete u.added[id]; }
    while (over-- > 0 && u.removed.length) u.removed.shift();
    while (over-- > 0 && u.drained.length) u.drained.shift();
  }

  function save(): void {
    if (opts.readOnly) return;
    dirty = true;
    if (writing) return;
    writing = (async () => {
      while (dirty) {
        dirty = false;
        const tmp = `${file}.${process.pid}.tmp`;
        try {
          await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
          await rename(tmp, file);
        } catch (err) {
          log.error({ overlay: file, err }, `API overlay ${file} cannot be written: API changes will not survive a restart`);
        }
      }
      writing = undefined;
    })();
  }

  function onAdded(name: string, s: ServerInfo, weight: number | undefined): void {
    const u = of(name);
    // A renewal without a weight keeps the one given before.
    const w = weight ?? u.added[s.id]?.weight;
    delete u.added[s.id];
    u.added[s.id] = { url: s.url, ...(w !== undefined ? { weight: w } : {}), ...(s.expires_at !== undefined ? { expires_at: s.expires_at } : {}) };
    u.removed = without(u.removed, s.id);
    bound(name, u);
    save();
  }

  function onRemoved(name: string, id: string, others: boolean): void {
    const u = of(name);
    delete u.added[id];
    u.drained = without(u.drained, id);
    u.removed = without(u.removed, id);
    if (others) u.removed.push(id);
    bound(name, u);
    save();
  }

  function onDrain(name: string, id: string, drained: boolean): void {
    const u = of(name);
    u.drained = without(u.drained, id);
    if (drained) u.drained.push(id);
    bound(name, u);
    save();
  }

  function applyUpstream(registry: UpstreamRegistry, name: string, u: UpstreamState, out: OverlaySummary, now: number): boolean {
    let changed = false;
    const has = (id: string): ServerInfo | undefined => registry.get(name)?.servers.find((s) => s.id === id && !s.draining);
    for (const [id, a] of Object.entries(u.added)) {
      if (a.expires_at !== undefined && a.expires_at <= now) { delete u.added[id]; out.expired.push(`${name}/${id}`); changed = true; continue; }
      if (has(id)?.sources.includes('api')) continue;
      registry.addServer(name, { url: a.url, source: 'api', ...(a.weight !== undefined ? { weight: a.weight } : {}), ...(a.expires_at !== undefined ? { ttl: a.expires_at - now } : {}) });
      out.added.push(`${name}/${id}`);
    }
    for (const id of u.removed) {
      if (!has(id)) continue;
      void registry.removeServer(name, id);
      out.removed.push(`${name}/${id}`);
    }
    for (const id of u.drained) {
      if (!has(id)) continue;
      registry.drainServer(name, id);
      out.drained.push(`${name}/${id}`);
    }
    return changed;
  }

  return {
    file,
    record(registry) {
      return {
        get: (name) => registry.get(name),
        async addServer(name, spec) {
          const s = await registry.addServer(name, spec);
          if (spec.source === 'api') onAdded(name, s, spec.weight);
          return s;
        },
        async drainServer(name, id) {
          const s = await registry.drainServer(name, id);
          onDrain(name, id, true);
          return s;
        },
        async enableServer(name, id) {
          const s = await registry.enableServer(name, id);
          onDrain(name, id, false);
          return s;
        },
        async removeServer(name, id) {
          const before = (await registry.get(name))?.servers.find((s) => s.id === id);
          await registry.removeServer(name, id);
          onRemoved(name, id, before !== undefined && before.sources.some((x) => x !== 'api'));
        },
      };
    },
    apply(registry, when) {
      const out: OverlaySummary = { added: [], drained: [], removed: [], expired: [] };
      const now = Date.now();
      let changed = false;
      for (const [name, u] of Object.entries(state.upstreams)) {
        // An upstream the config no longer has: its entries are forgotten.
        if (!registry.get(name)) { delete state.upstreams[name]; changed = true; continue; }
        try {
          changed = applyUpstream(registry, name, u, out, now) || changed;
        } catch (err) {
          log.error({ overlay: file, upstream: name, err: (err as Error).message }, `API overlay: upstream "${name}" could not be applied: ${(err as Error).message}`);
        }
      }
      if (changed) save();
      const n = out.added.length + out.drained.length + out.removed.length + out.expired.length;
      if (when === 'start' || n > 0) {
        const what = n ? `${out.added.length} added, ${out.drained.length} drained, ${out.removed.length} removed, ${out.expired.length} expired` : 'nothing to apply';
        log.info({ overlay: file, ...out }, `API overlay ${file} applied: ${what}`);
      }
      return out;
    },
    async flush() {
      while (writing) await writing;
    },
  };
}
