/** src/cache/compress.ts over real sockets: an origin that compresses through shouldCompress/compressedHead/compressor. */
import assert from 'node:assert/strict';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test, type TestContext } from 'node:test';
import { brotliDecompressSync, constants, gunzipSync, gzipSync } from 'node:zlib';
import {
  chooseEncoding, compressedHead, compressor, DEFAULT_COMPRESSIBLE, isCompressible, normalAcceptEncoding, shouldCompress,
} from '../src/cache/compress.js';
import { send, type Response } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';

const TEXT = Buffer.from(Array.from({ length: 600 }, (_, i) => `line ${i}: Gatehouse compresses what it may.\n`).join(''));
const HTML = 'text/html; charset=utf-8';
const POLICY = { types: DEFAULT_COMPRESSIBLE, minLength: 256 };

interface Resource { status?: number; headers: string[]; body?: Buffer }
const RESOURCES: Record<string, Resource> = {
  '/text': { headers: ['content-type', HTML, 'etag', '"abc"', 'accept-ranges', 'bytes'] },
  '/vary': { headers: ['content-type', HTML, 'vary', 'Origin'] },
  '/vary-ae': { headers: ['content-type', HTML, 'vary', 'Accept-Encoding, Origin'] },
  '/vary-star': { headers: ['content-type', HTML, 'vary', '*'] },
  '/weak': { headers: ['content-type', HTML, 'etag', 'W/"abc"'] },
  '/small': { headers: ['content-type', 'text/plain'], body: TEXT.subarray(0, 100) },
  '/encoded': { headers: ['content-type', HTML, 'content-encoding', 'gzip'], body: gzipSync(TEXT) },
  '/no-transform': { headers: ['content-type', HTML, 'cache-control', 'public, No-Transform, max-age=60'] },
  '/png': { headers: ['content-type', 'image/png'] },
  '/sse': { headers: ['content-type', 'text/event-stream'] },
  '/partial': { status: 206, headers: ['content-type', HTML, 'content-range', `bytes 0-${TEXT.length - 1}/${TEXT.length * 2}`] },
};

function serve(req: IncomingMessage, res: ServerResponse): void {
  const r = RESOURCES[req.url ?? ''] ?? RESOURCES['/text']!;
  const body = r.body ?? TEXT;
  const head = { status: r.status ?? 200, headers: [...r.headers, 'content-length', String(body.length)] };
  const ae = req.headers['accept-encoding'];
  const enc = shouldCompress(head, POLICY) ? chooseEncoding(ae, ['br', 'gzip']) : undefined;
  if (enc === undefined) {
    res.writeHead(head.status, head.headers);
    res.end(body);
    return;
  }
  res.writeHead(head.status, compressedHead(head.headers, enc));
  const chunks = Array.from({ length: Math.ceil(body.length / 4096) }, (_, i) => body.subarray(i * 4096, (i + 1) * 4096));
  pipeline(Readable.from(chunks), compressor(enc, { sizeHint: body.length }), res).catch(() => res.destroy());
}

async function get(t: TestContext, path: string, acceptEncoding?: string): Promise<Response> {
  const origin = await startOrigin(t, serve);
  return send(origin.url + path, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } });
}

function assertUntouched(res: Response, body: Buffer = TEXT): void {
  assert.equal(res.headers['content-length'], String(body.length));
  assert.ok(res.body.equals(body));
}

test('RFC 9110 8.4.1.3: gzip round-trips (zlib gunzip equals the original)', async (t) => {
  const res = await get(t, '/text', 'gzip');
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.equal(res.headers['content-length'], undefined);
  assert.ok(res.body.length < TEXT.length / 4, `compressed to ${res.body.length}`);
  assert.ok(gunzipSync(res.body).equals(TEXT));
});

test('RFC 9110 12.5.3: br is preferred over gzip at equal q and round-trips', async (t) => {
  const res = await get(t, '/text', 'gzip, deflate, br');
  assert.equal(res.headers['content-encoding'], 'br');
  assert.ok(brotliDecompressSync(res.body).equals(TEXT));
});

test('RFC 9110 12.5.3: a higher q wins over our preference', async (t) => {
  const res = await get(t, '/text', 'br;q=0.3, gzip;q=0.9');
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.ok(gunzipSync(res.body).equals(TEXT));
});

test('RFC 9110 12.5.3: q=0 refuses a coding', async (t) => {
  assert.equal((await get(t, '/text', 'br;q=0, gzip')).headers['content-encoding'], 'gzip');
  assertUntouched(await get(t, '/text', 'br;q=0, gzip;q=0'));
  assertUntouched(await get(t, '/text', '*;q=0'));
});

test('RFC 9110 12.5.3: identity only, an empty value or no Accept-Encoding gets the body as is', async (t) => {
  for (const ae of ['identity', '', 'zstd', undefined]) {
    const res = await get(t, '/text', ae);
    assert.equal(res.headers['content-encoding'], undefined, String(ae));
    assertUntouched(res);
  }
});

test('RFC 9110 7.7, RFC 9111 5.2.2.6: Cache-Control no-transform is never compressed', async (t) => {
  assertUntouched(await get(t, '/no-transform', 'gzip, br'));
});

test('compress: a body below minLength is sent as is', async (t) => {
  const res = await get(t, '/small', 'gzip, br');
  assert.equal(res.headers['content-encoding'], undefined);
  assertUntouched(res, TEXT.subarray(0, 100));
});

test('RFC 9110 8.4: an origin-encoded body is passed through untouched', async (t) => {
  const res = await get(t, '/encoded', 'br, gzip');
  assert.equal(res.headers['content-encoding'], 'gzip');
  assertUntouched(res, RESOURCES['/encoded']!.body);
});

test('compress: media types outside the list are sent as is; text/event-stream never is compressed', async (t) => {
  assertUntouched(await get(t, '/png', 'gzip'));
  assertUntouched(await get(t, '/sse', 'gzip'));
});

test('RFC 9110 14.4: a 206 (Content-Range) is never compressed', async (t) => {
  const res = await get(t, '/partial', 'gzip');
  assert.equal(res.status, 206);
  assertUntouched(res);
});

test('RFC 9110 12.5.5: Vary gains accept-encoding once, and * is left alone', async (t) => {
  assert.equal((await get(t, '/text', 'gzip')).headers.vary, 'accept-encoding');
  assert.equal((await get(t, '/vary', 'gzip')).headers.vary, 'Origin, accept-encoding');
  assert.equal((await get(t, '/vary-ae', 'gzip')).headers.vary, 'Accept-Encoding, Origin');
  assert.equal((await get(t, '/vary-star', 'gzip')).headers.vary, '*');
});

test('RFC 9110 8.8.1: a strong ETag is made weak on the compressed variant; a weak one stays', async (t) => {
  const res = await get(t, '/text', 'gzip');
  assert.equal(res.headers.etag, 'W/"abc"');
  assert.equal(res.headers['accept-ranges'], undefined);
  assert.equal((await get(t, '/weak', 'br')).headers.etag, 'W/"abc"');
  assert.equal((await get(t, '/text')).headers.etag, '"abc"');
});

test('compressor: each chunk is flushed, so a streamed body is readable before it ends', async (t) => {
  for (const enc of ['gzip', 'br'] as const) {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    const origin = await startOrigin(t, (_req, res) => {
      res.writeHead(200, compressedHead(['content-type', 'application/x-ndjson'], enc));
      const z = compressor(enc);
      z.pipe(res);
      z.write('{"event":1}\n');
      void released.then(() => z.end('{"event":2}\n'));
    });
    const first = await new Promise<Buffer>((resolve, reject) => {
      const req = request(origin.url, { headers: { 'accept-encoding': enc } }, (res) => {
        res.once('data', (c: Buffer) => { resolve(c); release(); res.resume(); });
      });
      req.setTimeout(5000, () => req.destroy(new Error('no flushed chunk')));
      req.on('error', reject);
      req.end();
    });
    const text = enc === 'gzip'
      ? gunzipSync(first, { finishFlush: constants.Z_SYNC_FLUSH })
      : brotliDecompressSync(first, { finishFlush: constants.BROTLI_OPERATION_FLUSH });
    assert.equal(text.toString(), '{"event":1}\n', enc);
  }
});

test('compressor: quality, level and size hint are honoured and output stays valid', async () => {
  const out = async (z: NodeJS.ReadWriteStream): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    z.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise((r) => z.on('end', r));
    z.end(TEXT);
    await done;
    return Buffer.concat(chunks);
  };
  const fast = await out(compressor('gzip', { gzipLevel: 1 }));
  const best = await out(compressor('gzip', { gzipLevel: 9 }));
  assert.ok(gunzipSync(fast).equals(TEXT) && gunzipSync(best).equals(TEXT));
  // RFC 1952 2.3.1: XFL is 4 for the fastest level, 2 for the best one (zlib sets it from the level).
  assert.equal(fast[8], 4);
  assert.equal(best[8], 2);
  const br = await out(compressor('br', { brotliQuality: 11, sizeHint: TEXT.length }));
  assert.ok(brotliDecompressSync(br).equals(TEXT));
});

test('RFC 9110 12.5.3: chooseEncoding and the cache bucket normalAcceptEncoding', () => {
  const cases: [string | undefined, string][] = [
    ['gzip, deflate, br', 'br'], ['gzip', 'gzip'], ['GZIP', 'gzip'], ['br;q=0, gzip', 'gzip'], ['*', 'br'],
    ['*;q=0', ''], ['br;q=0, *', 'gzip'], ['identity', ''], ['', ''], [undefined, ''], ['gzip;q=0.5, identity', ''],
    ['deflate', ''], ['br;q=0.1, gzip;q=0.2', 'gzip'],
  ];
  for (const [ae, bucket] of cases) {
    assert.equal(normalAcceptEncoding(ae), bucket, String(ae));
    assert.equal(chooseEncoding(ae, ['br', 'gzip']) ?? '', bucket, String(ae));
  }
  assert.equal(chooseEncoding('br, gzip', ['gzip']), 'gzip');
  assert.equal(chooseEncoding('br', ['gzip']), undefined);
});

test('RFC 9110 8.3.1: isCompressible ignores parameters and case, and knows wildcards and suffixes', () => {
  const yes = ['text/html; charset=UTF-8', 'TEXT/CSS', 'application/json', 'application/ld+json', 'application/rss+xml',
    'image/svg+xml', 'application/javascript; charset=utf-8', 'application/wasm', 'font/ttf', 'application/x-ndjson'];
  const no = ['image/png', 'font/woff2', 'application/octet-stream', 'application/zip', 'video/mp4', 'text/event-stream',
    'text/event-stream; charset=utf-8', '', undefined];
  for (const ct of yes) assert.equal(isCompressible(ct, DEFAULT_COMPRESSIBLE), true, ct);
  for (const ct of no) assert.equal(isCompressible(ct, DEFAULT_COMPRESSIBLE), false, String(ct));
  assert.equal(isCompressible('application/vnd.api+json', ['application/*+json']), true);
  assert.equal(isCompressible('application/json', ['application/*+json']), false);
  assert.equal(isCompressible('text/plain', ['application/json']), false);
});

test('shouldCompress: statuses without a transformable body, and Content-Length below minLength', () => {
  const headers = ['content-type', 'text/plain'];
  for (const status of [101, 204, 206, 304]) assert.equal(shouldCompress({ status, headers }, POLICY), false, String(status));
  for (const status of [200, 404, 500]) assert.equal(shouldCompress({ status, headers }, POLICY), true, String(status));
  assert.equal(shouldCompress({ status: 200, headers: [...headers, 'content-length', '255'] }, POLICY), false);
  assert.equal(shouldCompress({ status: 200, headers: [...headers, 'content-length', '256'] }, POLICY), true);
  assert.equal(shouldCompress({ status: 200, headers: [...headers, 'content-encoding', 'identity'] }, POLICY), true);
});

test('compressedHead: sets the coding, drops length and ranges, keeps the rest', () => {
  const out = compressedHead(['content-type', 'text/plain', 'content-length', '9', 'accept-ranges', 'bytes', 'x-a', '1'], 'br');
  assert.deepEqual(out, ['content-type', 'text/plain', 'x-a', '1', 'content-encoding', 'br', 'vary', 'accept-encoding']);
});
