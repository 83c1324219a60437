/**
 * A stored object served compressed (the route's `compress`). The compressed variant is cached beside the
 * identity object, under the identity's key plus the coding; it is tied to the identity's stamp (its request
 * and response times), so a refill or a revalidation of the identity makes it compress again once. Ranges are
 * always served from the identity object (serve.ts never compresses a Range request).
 */
import { PassThrough, type Readable } from 'node:stream';
import type { RequestCtx } from '../core/context.js';
import type { ResponseHead } from '../core/plugin.js';
import { encoder, planEncoding, type CompressSettings } from './encode.js';
import type { CacheEngine } from './engine.js';
import type { StoredObject } from './store.js';

function stampOf(obj: StoredObject): string {
  return `${obj.meta.requestTime}:${obj.meta.responseTime}:${obj.size}`;
}

/** Rewrites `head` for the client's coding and returns the compressed body, or undefined (identity). */
export function encodedBody(ctx: RequestCtx, s: CompressSettings, head: ResponseHead, obj: StoredObject, engine: CacheEngine): Readable | undefined {
  const accept = ctx.req.header('accept-encoding');
  const enc = planEncoding(s, accept, head);
  if (!enc || ctx.req.method === 'HEAD') return undefined;
  const store = engine.store;
  const key = `${obj.key}\n#${enc}`;
  const stamp = stampOf(obj);
  const stored = store.get(key);
  if (stored && (stored.meta.extra as { stamp?: string } | undefined)?.stamp === stamp) {
    head.headers.push('content-length', String(stored.size));
    return store.read(stored);
  }
  const z = encoder(s, enc, obj.size);
  const writer = store.create(key, { ...obj.meta, extra: { ...obj.meta.extra, of: obj.key, stamp } }, -1);
  const out = new PassThrough();
  z.on('data', (c: Buffer) => {
    if (writer && !writer.write(c)) { /* the store catches up; memory is bounded by the object's size */ }
    if (!out.write(c)) z.pause();
  });
  out.on('drain', () => z.resume());
  z.once('end', () => {
    out.end();
    if (writer) void writer.end().then((v) => { if (v) engine.add(v); });
  });
  z.once('error', (err) => {
    writer?.abort();
    out.destroy(err);
  });
  out.once('close', () => {
    // A client that leaves early leaves a partial variant: dropped.
    if (!out.writableFinished) {
      writer?.abort();
      z.destroy();
    }
  });
  const src = store.read(obj);
  src.pipe(z);
  src.once('error', (err) => z.destroy(err));
  return out;
}
