/** src/cache/ranges.ts over real sockets: an origin that serves stored bytes through planRange/rangeHead/rangeBody. */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { MAX_RANGES, newBoundary, planRange, rangeBody, rangeHead } from '../src/cache/ranges.js';
import { send, type Response } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';

const SIZE = 10_000;
const DATA = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 31 + 7) % 251));
const LM = 'Sat, 01 Jan 2022 00:00:00 GMT';
const TYPE = 'application/octet-stream';

interface Stored { status: number; body: Buffer; etag?: string; lastModified?: string }
const OBJECTS: Record<string, Stored> = {
  '/': { status: 200, body: DATA, etag: '"v1"', lastModified: LM },
  '/weak': { status: 200, body: DATA, etag: 'W/"v1"', lastModified: LM },
  '/empty': { status: 200, body: Buffer.alloc(0), etag: '"e"' },
  '/missing': { status: 404, body: DATA.subarray(0, 100) },
};

/** The store's ranged read: the slice, in 1000-byte chunks so parts really stream. */
function reader(body: Buffer): (r: { start: number; end: number }) => Readable {
  return (r) => {
    const slice = body.subarray(r.start, r.end + 1);
    const chunks: Buffer[] = [];
    for (let i = 0; i < slice.length; i += 1000) chunks.push(slice.subarray(i, i + 1000));
    return Readable.from(chunks, { objectMode: false });
  };
}

function serve(req: IncomingMessage, res: ServerResponse): void {
  const o = OBJECTS[req.url ?? '/'] ?? OBJECTS['/']!;
  const headers = ['content-type', TYPE, 'cache-control', 'max-age=60', 'content-length', String(o.body.length)];
  if (o.etag) headers.push('etag', o.etag);
  if (o.lastModified) headers.push('last-modified', o.lastModified);
  const plan = planRange(
    { method: req.method ?? 'GET', range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined },
    { size: o.body.length, status: o.status, etag: o.etag, lastModified: o.lastModified },
  );
  const boundary = newBoundary();
  const head = rangeHead(plan, headers, o.body.length, boundary);
  res.writeHead(plan.kind === 'full' ? o.status : head.status, head.headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  rangeBody(plan, reader(o.body), TYPE, o.body.length, boundary).pipe(res);
}

async function get(t: TestContext, headers: Record<string, string>, opts: { path?: string; method?: string } = {}): Promise<Response> {
  const origin = await startOrigin(t, serve);
  return send(origin.url + (opts.path ?? '/'), { headers, method: opts.method ?? 'GET' });
}

function assertFull(res: Response, status = 200): void {
  assert.equal(res.status, status);
  assert.equal(res.headers['content-range'], undefined);
  assert.equal(res.headers['content-length'], String(SIZE));
  assert.ok(res.body.equals(DATA));
}

function assertSingle(res: Response, start: number, end: number): void {
  assert.equal(res.status, 206);
  assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
  assert.equal(res.headers['content-length'], String(end - start + 1));
  assert.equal(res.headers['content-type'], TYPE);
  assert.ok(res.body.equals(DATA.subarray(start, end + 1)));
}

interface Part { headers: Record<string, string>; data: Buffer }

/** Parses a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1.1) strictly. */
function parseMultipart(res: Response): Part[] {
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(res.headers['content-type'] ?? '');
  assert.ok(m, `content-type ${res.headers['content-type']}`);
  const body = res.body;
  const delim = Buffer.from(`--${m[1]}`);
  const next = Buffer.from(`\r\n--${m[1]}`);
  assert.equal(body.indexOf(delim), 0, 'body starts with the first delimiter');
  const parts: Part[] = [];
  let pos = 0;
  for (let n = 0; n <= MAX_RANGES; n++) {
    const after = pos + delim.length;
    if (body.subarray(after, after + 2).toString() === '--') {
      assert.equal(body.subarray(after + 2).toString(), '\r\n', 'close delimiter ends the body');
      return parts;
    }
    const headEnd = body.indexOf('\r\n\r\n', after);
    const fields = body.subarray(after + 2, headEnd).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(fields.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const end = body.indexOf(next, headEnd + 4);
    parts.push({ headers, data: body.subarray(headEnd + 4, end) });
    pos = end + 2;
  }
  throw new Error('too many parts');
}

function assertParts(parts: Part[], ranges: [number, number][]): void {
  assert.equal(parts.length, ranges.length);
  ranges.forEach(([s, e], i) => {
    assert.equal(parts[i]!.headers['content-type'], TYPE);
    assert.equal(parts[i]!.headers['content-range'], `bytes ${s}-${e}/${SIZE}`);
    assert.ok(parts[i]!.data.equals(DATA.subarray(s, e + 1)), `part ${i} bytes`);
  });
}

test('RFC 9110 14.2: a single byte range gets 206 with Content-Range and the exact bytes', async (t) => {
  const res = await get(t, { range: 'bytes=0-99' });
  assertSingle(res, 0, 99);
  assert.equal(res.headers['accept-ranges'], 'bytes');
  assert.equal(res.headers.etag, '"v1"');
  assert.equal(res.headers['cache-control'], 'max-age=60');
});

test('RFC 9110 14.1.2: suffix range bytes=-500 is the last 500 bytes', async (t) => {
  assertSingle(await get(t, { range: 'bytes=-500' }), 9500, 9999);
});

test('RFC 9110 14.1.2: a suffix longer than the object is the whole object', async (t) => {
  assertSingle(await get(t, { range: 'bytes=-20000' }), 0, 9999);
});

test('RFC 9110 14.1.2: open-ended range bytes=9000- runs to the end', async (t) => {
  assertSingle(await get(t, { range: 'bytes=9000-' }), 9000, 9999);
});

test('RFC 9110 14.1.2: a last-byte-pos past the end is clamped to the length', async (t) => {
  assertSingle(await get(t, { range: 'bytes=9990-20000' }), 9990, 9999);
});

test('RFC 9110 14.1: the range unit is case-insensitive', async (t) => {
  assertSingle(await get(t, { range: 'Bytes=10-19' }), 10, 19);
});

test('RFC 9110 14.6: several ranges are sent as multipart/byteranges, byte for byte, with an exact Content-Length', async (t) => {
  const res = await get(t, { range: 'bytes=0-9,100-199,-10' });
  assert.equal(res.status, 206);
  assert.equal(res.headers['content-range'], undefined);
  assert.equal(Number(res.headers['content-length']), res.body.length);
  assertParts(parseMultipart(res), [[0, 9], [100, 199], [9990, 9999]]);
});

test('RFC 9110 14.6: parts keep the order the client asked for', async (t) => {
  const res = await get(t, { range: 'bytes=5000-5999, 0-0' });
  assertParts(parseMultipart(res), [[5000, 5999], [0, 0]]);
});

test('RFC 9110 14.2: overlapping and adjacent ranges are coalesced', async (t) => {
  assertSingle(await get(t, { range: 'bytes=0-99,50-149,150-199' }), 0, 199);
  const res = await get(t, { range: 'bytes=0-9,5-19,1000-1009,1010-1019' });
  assertParts(parseMultipart(res), [[0, 19], [1000, 1019]]);
});

test(`RFC 9110 14.2: up to ${MAX_RANGES} ranges are served as parts`, async (t) => {
  const specs = Array.from({ length: MAX_RANGES }, (_, i) => [i * 100, i * 100 + 9] as [number, number]);
  const res = await get(t, { range: 'bytes=' + specs.map(([s, e]) => `${s}-${e}`).join(',') });
  assert.equal(res.status, 206);
  assert.equal(Number(res.headers['content-length']), res.body.length);
  assertParts(parseMultipart(res), specs);
});

test('RFC 9110 14.2: too many ranges are ignored and the whole object is sent (CVE-2011-3192)', async (t) => {
  const specs = Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 100}-${i * 100 + 9}`);
  assertFull(await get(t, { range: 'bytes=' + specs.join(',') }));
});

test('RFC 9110 14.2: many small overlapping ranges are ignored (Apache Killer)', async (t) => {
  const specs = ['0-', ...Array.from({ length: 60 }, (_, i) => `5-${i}`)];
  assertFull(await get(t, { range: 'bytes=' + specs.join(',') }));
});

test('RFC 9110 13.1.5: If-Range with the strong ETag lets the range through', async (t) => {
  assertSingle(await get(t, { range: 'bytes=10-19', 'if-range': '"v1"' }), 10, 19);
});

test('RFC 9110 13.1.5: If-Range with another ETag sends the whole object', async (t) => {
  assertFull(await get(t, { range: 'bytes=10-19', 'if-range': '"v2"' }));
});

test('RFC 9110 13.1.5: a weak ETag never satisfies If-Range (strong comparison)', async (t) => {
  assertFull(await get(t, { range: 'bytes=10-19', 'if-range': 'W/"v1"' }));
  assertFull(await get(t, { range: 'bytes=10-19', 'if-range': '"v1"' }, { path: '/weak' }));
});

test('RFC 9110 13.1.5: If-Range with the exact Last-Modified date lets the range through', async (t) => {
  assertSingle(await get(t, { range: 'bytes=10-19', 'if-range': LM }), 10, 19);
});

test('RFC 9110 13.1.5: If-Range with another date sends the whole object', async (t) => {
  assertFull(await get(t, { range: 'bytes=10-19', 'if-range': 'Sun, 02 Jan 2022 00:00:00 GMT' }));
});

test('RFC 9110 13.1.5: If-Range without Range is ignored', async (t) => {
  assertFull(await get(t, { 'if-range': '"v2"' }));
});

test('RFC 9110 14.2: an invalid Range or an unknown unit is ignored (200, whole object)', async (t) => {
  for (const range of ['bytes=5-2', 'bytes=abc', 'bytes=0-1,x', 'items=0-9', 'bytes 0-9']) {
    const res = await get(t, { range });
    assertFull(res);
    assert.equal(res.headers['accept-ranges'], 'bytes', range);
  }
});

test('RFC 9110 15.5.17: an unsatisfiable range gets 416 with Content-Range bytes */10000', async (t) => {
  const res = await get(t, { range: 'bytes=20000-' });
  assert.equal(res.status, 416);
  assert.equal(res.headers['content-range'], 'bytes */10000');
  assert.equal(res.headers['content-length'], '0');
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.body.length, 0);
});

test('RFC 9110 14.1.1: a range set is satisfiable when any one range is', async (t) => {
  assertSingle(await get(t, { range: 'bytes=20000-30000,0-4' }), 0, 4);
});

test('RFC 9110 15.5.17: any range of a zero-length object is unsatisfiable', async (t) => {
  for (const range of ['bytes=0-', 'bytes=-5', 'bytes=0-0']) {
    const res = await get(t, { range }, { path: '/empty' });
    assert.equal(res.status, 416, range);
    assert.equal(res.headers['content-range'], 'bytes */0');
  }
});

test('RFC 9110 14.2: HEAD ignores Range and describes the whole object', async (t) => {
  const res = await get(t, { range: 'bytes=0-99' }, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-length'], String(SIZE));
  assert.equal(res.headers['accept-ranges'], 'bytes');
  assert.equal(res.headers['content-range'], undefined);
  assert.equal(res.body.length, 0);
});

test('RFC 9110 14.2: ranges apply only to 200 responses', async (t) => {
  const res = await get(t, { range: 'bytes=0-9' }, { path: '/missing' });
  assert.equal(res.status, 404);
  assert.equal(res.headers['content-range'], undefined);
  assert.equal(res.body.length, 100);
});

test('planRange: only GET has range handling', () => {
  const obj = { size: SIZE, status: 200, etag: '"v1"', lastModified: LM };
  for (const method of ['POST', 'PUT', 'HEAD']) {
    assert.deepEqual(planRange({ method, range: 'bytes=0-9', ifRange: undefined }, obj), { kind: 'full' });
  }
});

test('rangeBody: multipart reads one part after another, pulled by the consumer', async () => {
  const big = Buffer.alloc(400_000, 7);
  const opened: number[] = [];
  const read = (r: { start: number; end: number }): Readable => {
    opened.push(r.start);
    return reader(big)(r);
  };
  const plan = { kind: 'multi' as const, ranges: [{ start: 0, end: 199_999 }, { start: 300_000, end: 349_999 }] };
  const body = rangeBody(plan, read, undefined, big.length, 'b');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(opened, [], 'nothing is read before the consumer asks');
  let total = 0;
  await new Promise<void>((resolve) => body.once('data', (c: Buffer) => { total += c.length; body.pause(); resolve(); }));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(opened, [0], 'a paused consumer holds the reader inside the first part');
  assert.ok(body.readableLength < 40_000, `buffered ${body.readableLength} bytes`);
  for await (const chunk of body) total += (chunk as Buffer).length;
  assert.deepEqual(opened, [0, 300_000]);
  const head = rangeHead(plan, [], big.length, 'b');
  assert.equal(total, Number(head.headers[head.headers.indexOf('content-length') + 1]));
});

test('rangeBody: destroying the multipart stream destroys the part being read', async () => {
  const parts: Readable[] = [];
  const read = (r: { start: number; end: number }): Readable => {
    const s = reader(Buffer.alloc(100_000))(r);
    parts.push(s);
    return s;
  };
  const body = rangeBody({ kind: 'multi', ranges: [{ start: 0, end: 49_999 }, { start: 60_000, end: 99_999 }] }, read, TYPE, 100_000, 'b');
  await new Promise<void>((resolve) => body.once('data', () => resolve()));
  body.destroy();
  await new Promise((r) => setImmediate(r));
  assert.equal(parts.length, 1);
  assert.ok(parts[0]!.destroyed);
});

test('newBoundary: fresh, token characters, at most 70 long (RFC 2046 5.1.1)', () => {
  const a = newBoundary();
  assert.notEqual(a, newBoundary());
  assert.match(a, /^[A-Za-z0-9-]{1,70}$/);
});
