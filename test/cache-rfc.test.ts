/**
 * RFC 9111 conformance details of the shared cache found with the http-tests/cache-tests suite: how dates and
 * Age are parsed, and what a proxy relays besides the final response (interim responses, unknown methods).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { send } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy, type StartedProxy } from './helpers/proxy.js';

type Respond = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** An origin counting its requests behind a proxy with `cache: {}` on `/`. */
async function setup(t: TestContext, respond: Respond, cache: Record<string, unknown> = {}): Promise<{ gh: StartedProxy; hits: () => number }> {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => respond(req, res, ++n));
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, cache, proxy: { upstream: 'app' } }],
  });
  return { gh, hits: () => n };
}

/** Sends `path` twice; the origin answers with `headers` (name → value or lines). */
async function twice(t: TestContext, headers: Record<string, string | string[]>): Promise<{ second: string | undefined; hits: number }> {
  const { gh, hits } = await setup(t, (_req, res, n) => {
    res.writeHead(200, { date: new Date().toUTCString(), ...headers });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/x`);
  const again = await send(`${gh.url}/x`);
  return { second: again.headers['x-cache'] as string | undefined, hits: hits() };
}

const inAYear = new Date(Date.now() + 365 * 86400_000);

test('RFC 9111 5.3: an Expires that is not an HTTP-date (RFC 9110 5.6.7) means already expired', async (t) => {
  const d = inAYear.toUTCString(); // e.g. "Mon, 29 Nov 2027 08:00:00 GMT"
  const [, day, date, time] = /^(\w+), (\d+ \w+ \d+) (\S+) GMT$/.exec(d)!;
  const invalid = [
    d.replace('GMT', 'UTC'), // another time zone
    `${day} ${date} ${time} GMT`, // no comma
    `${day}, ${date.replace(/ /g, '  ')} ${time} GMT`, // several spaces
    `${day}, ${date.replace(/ /g, '-')} ${time} GMT`, // dashes in a four-digit-year date
    `${day}, ${date} 2:01:18 GMT`, // one-digit hour
    `${day}, ${date} ${time.replace(/:/g, '.')} GMT`, // periods in the time
  ];
  for (const expires of invalid) {
    const r = await twice(t, { expires });
    assert.equal(r.second, 'MISS', expires);
  }
  // Two Expires lines are not one date either.
  assert.equal((await twice(t, { expires: [d, d] })).second, 'MISS');
});

test('RFC 9110 5.6.7: the three HTTP-date formats make Expires fresh (rfc850 two-digit years read as the nearest past or next 50)', async (t) => {
  const y = inAYear;
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const mon = y.toUTCString().slice(8, 11);
  const dd = String(y.getUTCDate()).padStart(2, '0');
  const hms = y.toUTCString().slice(17, 25);
  const rfc850 = `${days[y.getUTCDay()]}, ${dd}-${mon}-${String(y.getUTCFullYear() % 100).padStart(2, '0')} ${hms} GMT`;
  const asctime = `${days[y.getUTCDay()]!.slice(0, 3)} ${mon} ${String(y.getUTCDate()).padStart(2, ' ')} ${hms} ${y.getUTCFullYear()}`;
  for (const expires of [y.toUTCString(), y.toUTCString().toUpperCase(), rfc850, asctime]) {
    const r = await twice(t, { expires });
    assert.equal(r.second, 'HIT', expires);
    assert.equal(r.hits, 1, expires);
  }
});

test('RFC 9111 5.1: of a list-based Age the first member counts; an invalid Age is ignored', async (t) => {
  // "Age: 7200, 0" is 7200 s old: past its max-age of an hour, so not reused.
  assert.equal((await twice(t, { 'cache-control': 'max-age=3600', age: '7200, 0' })).second, 'MISS');
  assert.equal((await twice(t, { 'cache-control': 'max-age=3600', age: ['7200', '0'] })).second, 'MISS');
  assert.equal((await twice(t, { 'cache-control': 'max-age=3600', age: '0, 7200' })).second, 'HIT');
  assert.equal((await twice(t, { 'cache-control': 'max-age=3600', age: 'old' })).second, 'HIT');
});

test('RFC 9111 4.2.3 / 5.1: a stored response is served with Age = the origin Age + its time in the cache', async (t) => {
  const { gh } = await setup(t, (_req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', age: '30', date: new Date().toUTCString() });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/a`);
  const deadline = Date.now() + 5000;
  let age = 0;
  while (age < 31 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    age = Number((await send(`${gh.url}/a`)).headers.age);
  }
  assert.ok(age >= 31, `Age ${age}`);
});

test('RFC 9111 5.2 / 4.2.1: a Cache-Control directive with whitespace around "=" is invalid, so max-age makes it stale', async (t) => {
  for (const cc of ['max-age = 3600', 'max-age =3600', 'max-age= 3600']) {
    assert.equal((await twice(t, { 'cache-control': cc })).second, 'MISS', cc);
  }
  // Empty list elements are skipped (RFC 9110 5.6.1), and the directives after an invalid one still count.
  assert.equal((await twice(t, { 'cache-control': ', , max-age=3600,' })).second, 'HIT');
  assert.equal((await twice(t, { 'cache-control': 'foo = 1, max-age=3600' })).second, 'HIT');
  assert.equal((await twice(t, { 'cache-control': 'max-age = 1, private' })).second, 'MISS');
});

test('RFC 9111 5.2.1.2: an invalid max-stale argument allows no staleness (only a bare max-stale allows any)', async (t) => {
  const { gh, hits } = await setup(t, (_req, res, n) => {
    // No Date: the age is the time in the cache, not rounded to whole seconds.
    res.sendDate = false;
    res.writeHead(200, { 'cache-control': 'max-age=1' });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/a`);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal((await send(`${gh.url}/a`, { headers: { 'cache-control': 'max-stale = 100' } })).headers['x-cache'], 'MISS');
  assert.equal((await send(`${gh.url}/a`)).headers['x-cache'], 'HIT');
  assert.equal(hits(), 2);
});

test('RFC 9111 4.1: Accept-Language is normalised for Vary by letter case and whitespace, not by order', async (t) => {
  const { gh, hits } = await setup(t, (_req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', vary: 'Accept-Language' });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/a`, { headers: { 'accept-language': 'en, de' } });
  assert.equal((await send(`${gh.url}/a`, { headers: { 'accept-language': ' eN ,   De' } })).headers['x-cache'], 'HIT');
  // Origins break ties between equal weights by order (e.g. the negotiator library): another variant.
  assert.equal((await send(`${gh.url}/a`, { headers: { 'accept-language': 'de, en' } })).headers['x-cache'], 'MISS');
  assert.equal(hits(), 2);
});

test('RFC 9110 13.1.3: an If-Modified-Since that is not an HTTP-date is ignored on a hit', async (t) => {
  const lm = new Date(Date.now() - 86400_000).toUTCString();
  const { gh } = await setup(t, (_req, res, n) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'last-modified': lm });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/a`);
  const valid = await send(`${gh.url}/a`, { headers: { 'if-modified-since': new Date().toUTCString() } });
  assert.equal(valid.status, 304);
  const bad = await send(`${gh.url}/a`, { headers: { 'if-modified-since': new Date().toUTCString().replace('GMT', 'UTC') } });
  assert.equal(bad.status, 200);
});

test('RFC 9110 15.2: 102 and 103 interim responses are relayed with their fields, and the final response is stored', async (t) => {
  const { gh, hits } = await setup(t, (req, res, n) => {
    if (req.url === '/102') res.writeProcessing();
    else res.writeEarlyHints({ link: '</s.css>; rel=preload; as=style', 'x-my-header': 'test' });
    res.writeHead(200, { 'cache-control': 'max-age=600' });
    res.end(`v${n}`);
  });
  const p = await send(`${gh.url}/102`);
  assert.deepEqual(p.informational.map((i) => i.status), [102]);
  const e = await send(`${gh.url}/103`);
  assert.equal(e.informational[0]?.status, 103);
  assert.equal(e.informational[0]?.headers.link, '</s.css>; rel=preload; as=style');
  assert.equal(e.informational[0]?.headers['x-my-header'], 'test');
  assert.equal((await send(`${gh.url}/103`)).headers['x-cache'], 'HIT');
  assert.equal(hits(), 2);
});

test('RFC 9111 4.4: any unsafe method, even one the proxy does not know (M-SEARCH), is forwarded and invalidates the URL', async (t) => {
  const seen: string[] = [];
  const { gh, hits } = await setup(t, (req, res, n) => {
    seen.push(req.method!);
    res.writeHead(200, { 'cache-control': 'max-age=600', 'x-unknown-field': 'kept' });
    res.end(`v${n}`);
  });
  await send(`${gh.url}/a`);
  assert.equal((await send(`${gh.url}/a`)).headers['x-cache'], 'HIT');
  const search = await send(`${gh.url}/a`, { method: 'M-SEARCH' });
  assert.equal(search.status, 200);
  assert.equal(search.headers['x-unknown-field'], 'kept');
  const after = await send(`${gh.url}/a`);
  assert.equal(after.headers['x-cache'], 'MISS');
  assert.deepEqual(seen, ['GET', 'M-SEARCH', 'GET']);
  assert.equal(hits(), 3);
});

test('RFC 9111 4.2.4 / 5.2.2.4: serve_stale_on_error never serves a no-cache or must-revalidate response stale', async (t) => {
  const { gh } = await setup(t, (req, res, n) => {
    if (n > 3) {
      res.writeHead(503);
      return res.end('down');
    }
    const cc = req.url === '/nc' ? 'max-age=1, no-cache' : req.url === '/mr' ? 'max-age=1, must-revalidate' : 'max-age=1';
    res.writeHead(200, { 'cache-control': cc });
    res.end('good');
  }, { serve_stale_on_error: '60s' });
  for (const p of ['/nc', '/mr', '/plain']) await send(`${gh.url}${p}`);
  await new Promise((r) => setTimeout(r, 1100));
  for (const p of ['/nc', '/mr']) {
    const r = await send(`${gh.url}${p}`);
    assert.equal(r.status, 503, p);
    assert.equal(r.text, 'down', p);
  }
  const plain = await send(`${gh.url}/plain`);
  assert.equal(plain.text, 'good');
  assert.equal(plain.headers['x-cache'], 'STALE');
});
