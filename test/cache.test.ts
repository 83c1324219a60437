/** The shared cache (RFC 9111) over real sockets: what a client sees, and how many requests reach the origin. */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { send } from './helpers/client.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startProxy, type StartedProxy } from './helpers/proxy.js';

type Respond = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** An origin whose handler sees how many requests came before; a proxy with `cache: {}` on `/`. */
async function setup(t: TestContext, respond: Respond, cache: Record<string, unknown> = {}): Promise<{ origin: Origin; gh: StartedProxy; hits: () => number }> {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => respond(req, res, ++n));
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache, proxy: { upstream: 'app' } }],
  });
  return { origin, gh, hits: () => n };
}

const body = (text: string, headers: Record<string, string>): Respond => (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', ...headers });
  res.end(text);
};

test('RFC 9111 4.2.1: a response with max-age is served from the cache while fresh', async (t) => {
  const { gh, hits } = await setup(t, (_req, res, n) => body(`v${n}`, { 'cache-control': 'max-age=60' })(_req, res, n));
  const a = await send(`${gh.url}/a`);
  const b = await send(`${gh.url}/a`);
  assert.equal(a.text, 'v1');
  assert.equal(b.text, 'v1');
  assert.equal(a.headers['x-cache'], 'MISS');
  assert.equal(b.headers['x-cache'], 'HIT');
  assert.match(String(b.headers['cache-status']), /^Gatehouse; hit/);
  assert.equal(hits(), 1);
});

test('RFC 9111 3: no-store, private and Set-Cookie responses are not stored by a shared cache', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    const cc = req.url === '/ns' ? 'no-store' : req.url === '/p' ? 'private, max-age=60' : 'max-age=60';
    res.writeHead(200, { 'cache-control': cc, ...(req.url === '/c' ? { 'set-cookie': 'a=1' } : {}) });
    res.end(`v${n}`);
  });
  for (const p of ['/ns', '/p', '/c']) {
    await send(`${gh.url}${p}`);
    const again = await send(`${gh.url}${p}`);
    assert.equal(again.headers['x-cache'], 'MISS', p);
  }
  assert.equal(hits(), 6);
});

test('RFC 9111 3.5: a response to a request with Authorization is stored only when it says public or s-maxage', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    res.writeHead(200, { 'cache-control': req.url === '/pub' ? 'public, max-age=60' : 'max-age=60' });
    res.end(`v${n}`);
  });
  const auth = { authorization: 'Bearer x' };
  await send(`${gh.url}/plain`, { headers: auth });
  assert.equal((await send(`${gh.url}/plain`, { headers: auth })).headers['x-cache'], 'MISS');
  await send(`${gh.url}/pub`, { headers: auth });
  assert.equal((await send(`${gh.url}/pub`, { headers: auth })).headers['x-cache'], 'HIT');
  assert.equal(hits(), 3);
});

test('RFC 9111 4.2.3: Age counts the time in cache and the Age the origin sent', async (t) => {
  const { gh } = await setup(t, body('x', { 'cache-control': 'max-age=600', age: '100' }));
  await send(`${gh.url}/`);
  const b = await send(`${gh.url}/`);
  assert.ok(Number(b.headers.age) >= 100 && Number(b.headers.age) < 110, String(b.headers.age));
});

test('RFC 9111 4.3: a stale response with an ETag is revalidated; a 304 refreshes it', async (t) => {
  const { gh, origin } = await setup(t, (req, res, n) => {
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60', 'x-extra': `n${n}` });
      return res.end();
    }
    res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=0', 'content-type': 'text/plain' });
    res.end('body-one');
  });
  await send(`${gh.url}/r`);
  const b = await send(`${gh.url}/r`);
  assert.equal(b.status, 200);
  assert.equal(b.text, 'body-one');
  assert.equal(b.headers['x-cache'], 'REVALIDATED');
  assert.equal(b.headers['x-extra'], 'n2');
  const c = await send(`${gh.url}/r`);
  assert.equal(c.headers['x-cache'], 'HIT');
  assert.equal(c.text, 'body-one');
  assert.equal(origin.requests.length, 2);
});

test('RFC 9111 4.3.2: a client conditional request gets 304 from the cache', async (t) => {
  const { gh, hits } = await setup(t, body('data', { 'cache-control': 'max-age=60', etag: '"e1"' }));
  await send(`${gh.url}/c`);
  const r = await send(`${gh.url}/c`, { headers: { 'if-none-match': '"e1"' } });
  assert.equal(r.status, 304);
  assert.equal(r.headers.etag, '"e1"');
  assert.equal(r.body.length, 0);
  assert.equal(hits(), 1);
});

test('RFC 9111 4.1: Vary keeps a variant per request header value', async (t) => {
  const { gh, hits } = await setup(t, (req, res) => {
    res.writeHead(200, { vary: 'Accept-Language', 'cache-control': 'max-age=60' });
    res.end(`lang=${req.headers['accept-language']}`);
  });
  const en = await send(`${gh.url}/v`, { headers: { 'accept-language': 'en' } });
  const fr = await send(`${gh.url}/v`, { headers: { 'accept-language': 'fr' } });
  const en2 = await send(`${gh.url}/v`, { headers: { 'accept-language': 'en' } });
  assert.equal(en.text, 'lang=en');
  assert.equal(fr.text, 'lang=fr');
  assert.equal(en2.text, 'lang=en');
  assert.equal(en2.headers['x-cache'], 'HIT');
  assert.equal(hits(), 2);
});

test('RFC 9111 4.4: a successful POST invalidates the stored response for its URL', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`${req.method}${n}`);
  });
  await send(`${gh.url}/i`);
  assert.equal((await send(`${gh.url}/i`)).headers['x-cache'], 'HIT');
  await send(`${gh.url}/i`, { method: 'POST', body: 'x' });
  const after = await send(`${gh.url}/i`);
  assert.equal(after.headers['x-cache'], 'MISS');
  assert.equal(after.text, 'GET3');
  assert.equal(hits(), 3);
});

test('RFC 9111 5.2.1.7: only-if-cached on a miss is 504 and never reaches the origin', async (t) => {
  const { gh, hits } = await setup(t, body('x', { 'cache-control': 'max-age=60' }));
  const r = await send(`${gh.url}/o`, { headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(r.status, 504);
  assert.equal(hits(), 0);
});

test('RFC 9213: CDN-Cache-Control and Gatehouse-Cache-Control override Cache-Control; ours never reaches the client', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    const h: Record<string, string> = { 'cache-control': 'no-store' };
    if (req.url === '/cdn') h['cdn-cache-control'] = 'max-age=60';
    if (req.url === '/gh') h['gatehouse-cache-control'] = 'max-age=60';
    res.writeHead(200, h);
    res.end(`v${n}`);
  });
  for (const p of ['/cdn', '/gh']) {
    const a = await send(`${gh.url}${p}`);
    const b = await send(`${gh.url}${p}`);
    assert.equal(b.headers['x-cache'], 'HIT', p);
    assert.equal(a.headers['gatehouse-cache-control'], undefined);
    assert.equal(b.headers['gatehouse-cache-control'], undefined);
  }
  assert.equal(hits(), 2);
});

test('collapsing: 100 concurrent requests for a slow cold object make exactly one origin request', async (t) => {
  const { gh, hits } = await setup(t, (_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end('slow');
    }, 300);
  });
  const all = await Promise.all(Array.from({ length: 100 }, () => send(`${gh.url}/slow`)));
  assert.ok(all.every((r) => r.status === 200 && r.text === 'slow'));
  assert.equal(hits(), 1);
});

test('collapsing: an uncacheable response releases the waiters, who go upstream themselves', async (t) => {
  const { gh, hits } = await setup(t, (_req, res, n) => {
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'no-store' });
      res.end(`n${n}`);
    }, 100);
  });
  const all = await Promise.all(Array.from({ length: 5 }, () => send(`${gh.url}/u`)));
  assert.ok(all.every((r) => r.status === 200));
  assert.equal(hits(), 5);
});

test('RFC 5861 3: stale-while-revalidate serves the stale object and refreshes it in the background', async (t) => {
  const { gh, hits } = await setup(t, (_req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60' });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/s`);
  await new Promise((r) => setTimeout(r, 1100));
  const stale = await send(`${gh.url}/s`);
  assert.equal(stale.text, 'v1');
  assert.equal(stale.headers['x-cache'], 'STALE');
  // The refresh is in the background: poll (bounded) until the new object is stored.
  let fresh = await send(`${gh.url}/s`);
  for (let i = 0; i < 100 && fresh.headers['x-cache'] !== 'HIT'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    fresh = await send(`${gh.url}/s`);
  }
  assert.equal(fresh.text, 'v2');
  assert.equal(fresh.headers['x-cache'], 'HIT');
  assert.equal(hits(), 2);
});

test('RFC 5861 4: stale-if-error serves the stale object when the origin fails', async (t) => {
  const { gh } = await setup(t, (_req, res, n) => {
    if (n > 1) {
      res.writeHead(503);
      return res.end('down');
    }
    res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60' });
    res.end('good');
  });
  await send(`${gh.url}/e`);
  await new Promise((r) => setTimeout(r, 1100));
  const r = await send(`${gh.url}/e`);
  assert.equal(r.status, 200);
  assert.equal(r.text, 'good');
  assert.equal(r.headers['x-cache'], 'STALE');
});

test('a route without cache stores nothing', async (t) => {
  let n = 0;
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end(String(++n)); });
  const gh = await startProxy(t, { upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }] });
  await send(`${gh.url}/`);
  const b = await send(`${gh.url}/`);
  assert.equal(b.text, '2');
  assert.equal(b.headers['x-cache'], undefined);
});

test('RFC 9110 14.2: ranges of a cached object are served from the cache (206, multipart, 416)', async (t) => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
  const { gh, hits } = await setup(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain', etag: '"r1"' });
    res.end(data);
  });
  await send(`${gh.url}/m`);
  const one = await send(`${gh.url}/m`, { headers: { range: 'bytes=10-19' } });
  assert.equal(one.status, 206);
  assert.equal(one.headers['content-range'], 'bytes 10-19/1000');
  assert.deepEqual(one.body, data.subarray(10, 20));
  const multi = await send(`${gh.url}/m`, { headers: { range: 'bytes=0-1,-2' } });
  assert.equal(multi.status, 206);
  assert.match(String(multi.headers['content-type']), /^multipart\/byteranges; boundary=/);
  assert.ok(multi.text.includes('content-range: bytes 998-999/1000'));
  assert.equal(Number(multi.headers['content-length']), multi.body.length);
  const none = await send(`${gh.url}/m`, { headers: { range: 'bytes=5000-' } });
  assert.equal(none.status, 416);
  assert.equal(none.headers['content-range'], 'bytes */1000');
  const stale = await send(`${gh.url}/m`, { headers: { range: 'bytes=0-9', 'if-range': '"other"' } });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.length, 1000);
  assert.equal(hits(), 1);
});

test('cache: a range request for an object not cached is passed on and the whole object is fetched behind it', async (t) => {
  const data = Buffer.alloc(5000, 7);
  const { gh, hits } = await setup(t, (req, res) => {
    const r = /bytes=(\d+)-(\d+)/.exec(String(req.headers.range ?? ''));
    if (r) {
      res.writeHead(206, { 'content-range': `bytes ${r[1]}-${r[2]}/5000`, 'cache-control': 'max-age=60' });
      return res.end(data.subarray(Number(r[1]), Number(r[2]) + 1));
    }
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(data);
  });
  const part = await send(`${gh.url}/v`, { headers: { range: 'bytes=0-99' } });
  assert.equal(part.status, 206);
  assert.equal(part.body.length, 100);
  // The whole object arrives in the background: poll (bounded) until a range is a hit.
  let hit = await send(`${gh.url}/v`, { headers: { range: 'bytes=100-199' } });
  for (let i = 0; i < 100 && hit.headers['x-cache'] !== 'HIT'; i++) {
    await new Promise((res) => setTimeout(res, 20));
    hit = await send(`${gh.url}/v`, { headers: { range: 'bytes=100-199' } });
  }
  assert.equal(hit.headers['x-cache'], 'HIT');
  assert.equal(hit.status, 206);
  assert.equal(hit.headers['content-range'], 'bytes 100-199/5000');
  assert.deepEqual(hit.body, data.subarray(100, 200));
  assert.ok(hits() <= 3, String(hits()));
});

test('cache: objects on disk survive a restart; a reload that keeps the route settings keeps its objects', async (t) => {
  const { tempDir } = await import('./helpers/tmp.js');
  const dir = tempDir('cache');
  let n = 0;
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' });
    res.end(Buffer.alloc(2 * 1024 * 1024, ++n));
  });
  const config = {
    cache: { memory: '1MiB', disk: { path: dir, size: '64MiB' } },
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ name: 'media', match: { path: '/' }, cache: {}, proxy: { upstream: 'app' } }],
  };
  // The same Host each time: the proxy's port changes across the restart, and Host (with its port) is keyed.
  const host = { headers: { host: 'media.test' } };
  const first = await startProxy(t, config);
  await send(`${first.url}/big`, host);
  assert.equal((await send(`${first.url}/big`, host)).headers['x-cache'], 'HIT');
  await first.gh.reload({ ...config, access_log: { enabled: false }, overload: false, listeners: [{ name: 'public', address: '127.0.0.1:0' }], hide_headers: ['x-foo'] });
  assert.equal((await send(`${first.url}/big`, host)).headers['x-cache'], 'HIT');
  await first.gh.stop();
  const second = await startProxy(t, config);
  const again = await send(`${second.url}/big`, host);
  assert.equal(again.headers['x-cache'], 'HIT');
  assert.equal(again.body.length, 2 * 1024 * 1024);
  assert.equal(again.body[0], 1);
  assert.equal(n, 1);
});

test('RFC 9110 8.4: compress gzips or brotlis a compressible response for a client that accepts it; the compressed variant is cached', async (t) => {
  const { gunzipSync, brotliDecompressSync } = await import('node:zlib');
  const text = 'hello gatehouse '.repeat(500);
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': req.url === '/nc' ? 'no-store' : 'max-age=60', etag: '"t1"' });
    res.end(text);
  });
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: {}, compress: true, proxy: { upstream: 'app' } }],
  });
  const miss = await send(`${gh.url}/c`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(miss.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(miss.body).toString(), text);
  assert.match(String(miss.headers.vary), /accept-encoding/i);
  assert.equal(miss.headers.etag, 'W/"t1"');
  const plain = await send(`${gh.url}/c`);
  assert.equal(plain.headers['x-cache'], 'HIT');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.text, text);
  for (let i = 0; i < 2; i++) {
    const br = await send(`${gh.url}/c`, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(brotliDecompressSync(br.body).toString(), text);
    assert.equal(br.headers['x-cache'], 'HIT');
    if (i === 1) assert.equal(Number(br.headers['content-length']), br.body.length);
  }
  const ranged = await send(`${gh.url}/c`, { headers: { 'accept-encoding': 'gzip', range: 'bytes=0-4' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.text, 'hello');
  const uncached = await send(`${gh.url}/nc`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(gunzipSync(uncached.body).toString(), text);
  assert.equal(n, 2);
});

test('RFC 9110 14: with ranges.slice a seek fetches only the slice it needs; slices assemble the whole object', async (t) => {
  const size = 3 * 1024 * 1024 + 12345;
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7) & 0xff;
  const seen: string[] = [];
  const origin = await startOrigin(t, (req, res) => {
    seen.push(String(req.headers.range));
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    const h = { 'cache-control': 'max-age=60', 'content-type': 'video/mp4', etag: '"vid"' };
    if (!m) { res.writeHead(200, h); return res.end(data); }
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), size - 1);
    res.writeHead(206, { ...h, 'content-range': `bytes ${start}-${end}/${size}` });
    res.end(data.subarray(start, end + 1));
  });
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: { ranges: { slice: '1MiB' } }, proxy: { upstream: 'app' } }],
  });
  const seek = await send(`${gh.url}/v.mp4`, { headers: { range: 'bytes=2500000-2500099' } });
  assert.equal(seek.status, 206);
  assert.equal(seek.headers['content-range'], `bytes 2500000-2500099/${size}`);
  assert.deepEqual(seek.body, data.subarray(2500000, 2500100));
  assert.deepEqual(seen, ['bytes=0-1048575', 'bytes=2097152-3145727']);
  const whole = await send(`${gh.url}/v.mp4`);
  assert.equal(whole.status, 200);
  assert.equal(Number(whole.headers['content-length']), size);
  assert.ok(whole.body.equals(data));
  assert.deepEqual(seen.slice(2), ['bytes=1048576-2097151', 'bytes=3145728-4194303']);
  const again = await send(`${gh.url}/v.mp4`, { headers: { range: 'bytes=0-9' } });
  assert.equal(again.headers['x-cache'], 'HIT');
  assert.equal(seen.length, 4);
});

test('cache: with ranges.slice an origin that ignores Range is cached whole', async (t) => {
  let n = 0;
  const origin = await startOrigin(t, (_req, res) => {
    n++;
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end('whole body');
  });
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: { ranges: { slice: '1MiB' } }, proxy: { upstream: 'app' } }],
  });
  const a = await send(`${gh.url}/x`);
  assert.equal(a.text, 'whole body');
  const b = await send(`${gh.url}/x`);
  assert.equal(b.text, 'whole body');
  assert.equal(b.headers['x-cache'], 'HIT');
  assert.equal(n, 2);
});

test('cache: hits, ranges and compressed variants over HTTP/2 (h2c)', async (t) => {
  const { connect } = await import('node:http2');
  const { h2Request } = await import('./helpers/client.js');
  let n = 0;
  const origin = await startOrigin(t, (_req, res) => {
    n++;
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
    res.end('0123456789'.repeat(200));
  });
  const gh = await startProxy(t, {
    listeners: [{ name: 'h2', address: '127.0.0.1:0', h2c: true }],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache: {}, compress: true, proxy: { upstream: 'app' } }],
  });
  const s = connect(gh.url);
  t.after(() => s.close());
  const a = await h2Request(s, { ':path': '/h2' });
  const b = await h2Request(s, { ':path': '/h2' });
  assert.equal(a.headers['x-cache'], 'MISS');
  assert.equal(b.headers['x-cache'], 'HIT');
  assert.equal(b.text.length, 2000);
  const r = await h2Request(s, { ':path': '/h2', range: 'bytes=5-9' });
  assert.equal(r.headers[':status'], 206);
  assert.equal(r.text, '56789');
  const z = await h2Request(s, { ':path': '/h2', 'accept-encoding': 'gzip' });
  assert.equal(z.headers['content-encoding'], 'gzip');
  assert.equal(n, 1);
});

test('cache: a GET with a body is neither answered from the cache nor stored', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    let b = '';
    req.on('data', (c: Buffer) => { b += c.toString(); });
    req.on('end', () => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end(`n${n}:${b}`); });
  });
  await send(`${gh.url}/q`);
  const withBody = await send(`${gh.url}/q`, { body: '{"query":1}' });
  assert.equal(withBody.text, 'n2:{"query":1}');
  const again = await send(`${gh.url}/q`, { body: '{"query":2}' });
  assert.equal(again.text, 'n3:{"query":2}');
  assert.equal((await send(`${gh.url}/q`)).text, 'n1:');
  assert.equal(hits(), 3);
});

test('collapsing: the first client going away does not abort the fill the others wait on', async (t) => {
  const { request } = await import('node:http');
  const { gh, hits } = await setup(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '20' });
    res.write('0123456789');
    setTimeout(() => res.end('abcdefghij'), 400);
  });
  // The first client reads the head and leaves once a second one waits on the same object.
  let waiting: Promise<Awaited<ReturnType<typeof send>>> | undefined;
  await new Promise<void>((resolve) => {
    const req = request(`${gh.url}/f`, (res) => {
      res.once('data', () => {
        waiting = send(`${gh.url}/f`);
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
    });
    req.end();
  });
  const waiter = await waiting!;
  assert.equal(waiter.status, 200);
  assert.equal(waiter.text, '0123456789abcdefghij');
  assert.equal(hits(), 1);
});

test('cache: Surrogate-Key and Cache-Tag are not sent to clients, on a miss or a hit', async (t) => {
  const { gh } = await setup(t, body('x', { 'cache-control': 'max-age=60', 'surrogate-key': 'a b', 'cache-tag': 'c' }));
  for (let i = 0; i < 2; i++) {
    const r = await send(`${gh.url}/tags`);
    assert.equal(r.headers['x-cache'], i === 0 ? 'MISS' : 'HIT');
    assert.equal(r.headers['surrogate-key'], undefined);
    assert.equal(r.headers['cache-tag'], undefined);
  }
});

test('cache: a Host with a port the origin may echo is keyed apart (no poisoning through Host: name:port)', async (t) => {
  const { gh, hits } = await setup(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end(`<a href="http://${req.headers['x-forwarded-host']}/next">`);
  });
  const evil = await send(`${gh.url}/page`, { headers: { host: 'example.com:666' } });
  assert.match(evil.text, /example\.com:666/);
  const good = await send(`${gh.url}/page`, { headers: { host: 'example.com' } });
  assert.equal(good.text, '<a href="http://example.com/next">');
  assert.equal(hits(), 2);
});

test('RFC 9111 4.2.4: a disconnected cache serves stale (serve_stale_on_error, 60s by default), never under must-revalidate, not for a 500', async (t) => {
  let mode = 'ok';
  const { gh, origin } = await setup(t, (req, res) => {
    if (mode === '500') { res.writeHead(500); return res.end('app error'); }
    res.writeHead(200, { 'cache-control': req.url === '/mr' ? 'max-age=1, must-revalidate' : 'max-age=1' });
    res.end(`body ${req.url}`);
  });
  await send(`${gh.url}/d`);
  await send(`${gh.url}/mr`);
  await send(`${gh.url}/five`);
  await new Promise((r) => setTimeout(r, 1100));
  mode = '500';
  const five = await send(`${gh.url}/five`);
  assert.equal(five.status, 500);
  await origin.close();
  const down = await send(`${gh.url}/d`);
  assert.equal(down.status, 200);
  assert.equal(down.text, 'body /d');
  assert.equal(down.headers['x-cache'], 'STALE');
  const mr = await send(`${gh.url}/mr`);
  assert.equal(mr.status, 502);
});
