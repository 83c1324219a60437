// TEMPORARY: replaced by the tiered store (feat/cache-store).
import { Readable } from 'node:stream';
import type { CacheStore, ObjectMeta, StoredObject } from './store.js';

interface Obj extends StoredObject { chunks: Buffer[] }

export function simpleStore(maxBytes: number): CacheStore {
  const map = new Map<string, Obj>();
  let bytes = 0;
  const del = (k: string): boolean => { const o = map.get(k); if (!o) return false; bytes -= o.size; map.delete(k); return true; };
  return {
    get(k) { const o = map.get(k); if (o) { map.delete(k); map.set(k, o); } return o; },
    peek: (k) => map.get(k),
    create(key, meta, hint) {
      if (hint > maxBytes) return undefined;
      const chunks: Buffer[] = []; let size = 0; let dead = false;
      return {
        write(c) { if (!dead) { chunks.push(c); size += c.length; } return true; },
        onDrain(cb) { cb(); },
        async end() {
          if (dead || size > maxBytes) return undefined;
          dead = true; del(key);
          while (bytes + size > maxBytes && map.size) del(map.keys().next().value!);
          const o: Obj = { key, meta, size, tier: 'memory', chunks };
          map.set(key, o); bytes += size; return o;
        },
        abort() { dead = true; },
      };
    },
    update(key, meta: ObjectMeta) { const o = map.get(key); if (!o) return undefined; const n = { ...o, meta }; map.set(key, n); return n; },
    delete: del,
    entries: () => map.values(),
    read(obj, range) {
      const buf = Buffer.concat((obj as Obj).chunks);
      return Readable.from(range ? [buf.subarray(range.start, range.end + 1)] : [buf]);
    },
    stats: () => ({ memory: { bytes, maxBytes, objects: map.size }, disk: undefined }),
    close: async () => { map.clear(); },
  };
}
