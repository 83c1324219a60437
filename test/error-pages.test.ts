/** The proxy's own error replies: HTML for browsers, JSON otherwise (RFC 9110 12.5.1), and a route's own pages. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { createGatehouse } from '../src/index.js';
import { prefersHtml } from '../src/server/accept.js';
import { send } from './helpers/client.js';
import { runCli } from './helpers/cli.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/tmp.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

test('RFC 9110 12.5.1: Accept prefers HTML when text/html weighs more than application/json', () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false], ['', false], ['*/*', false], ['application/json', false],
    [BROWSER, true], ['text/html', true], ['TEXT/HTML', true], ['text/*', true],
    ['application/json, text/html', false], // equal weights: JSON, the API default
    ['application/json;q=0.5, text/html', true],
    ['text/html;q=0.5, application/json', false],
    ['text/html;q=0, */*', false], // q=0: not acceptable
    ['text/*;q=0.1, text/html;q=0.9, application/*;q=0.5', true], // the most specific range gives the weight
    ['text/html;q=0.2, */*;q=1', false], // */* gives JSON 1, text/html names itself at 0.2
    ['text/html;q=abc', false], // an invalid weight drops the range
    ['text/html;q=1.5', false],
    ['text/html;level="a,b";q=0.9, application/json;q=0.1', true], // a comma inside quotes does not split
  ];
  for (const [accept, html] of cases) assert.equal(prefersHtml(accept), html, String(accept));
});

test('error replies: a browser gets an HTML page (status, reason, code, request id), curl and API clients JSON; never backend details', async (t) => {
  const { url } = await startProxy(t, {
    upstreams: { app: { servers: ['http://127.0.0.1:1'], retries: 0 } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  const html = await send(`${url}/x`, { headers: { accept: BROWSER, 'x-request-id': 'trace-42' } });
  assert.equal(html.status, 502);
  assert.equal(html.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(html.headers['cache-control'], 'no-store');
  assert.equal(html.headers.vary, 'accept');
  assert.equal(Number(html.headers['content-length']), html.body.length);
  assert.match(html.text, /^<!DOCTYPE html>/);
  assert.match(html.text, /<title>502 Bad Gateway<\/title>/);
  assert.match(html.text, /<h1>502 Bad Gateway<\/h1>/);
  assert.match(html.text, /GH_UPSTREAM_CONNECT/);
  assert.match(html.text, /trace-42/);
  assert.doesNotMatch(html.text, /127\.0\.0\.1|ECONNREFUSED|:1\b/);

  for (const accept of [undefined, '*/*', 'application/json']) {
    const r = await send(`${url}/x`, { headers: accept ? { accept, 'x-request-id': 'trace-43' } : { 'x-request-id': 'trace-43' } });
    assert.equal(r.status, 502);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers.vary, 'accept');
    assert.equal(r.text, '{"status":502,"code":"GH_UPSTREAM_CONNECT","requestId":"trace-43"}\n');
  }
  const head = await send(`${url}/x`, { method: 'HEAD', headers: { accept: BROWSER } });
  assert.equal(head.status, 502);
  assert.equal(head.body.length, 0);
});

test('error replies: 404 and CONNECT 405 are HTML for a browser too', async (t) => {
  const { url, port } = await startProxy(t, { routes: [{ match: { path: '/only/' }, respond: { body: 'x' } }] });
  const notFound = await send(`${url}/nope`, { headers: { accept: BROWSER } });
  assert.equal(notFound.status, 404);
  assert.match(notFound.text, /<h1>404 Not Found<\/h1>/);
  const raw = await new Promise<string>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.on('data', (c) => { out += c.toString(); });
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
    sock.write(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nAccept: ${BROWSER}\r\n\r\n`);
  });
  assert.match(raw, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
  assert.match(raw, /content-type: text\/html; charset=utf-8\r\n/);
  assert.match(raw, /<h1>405 Method Not Allowed<\/h1>/);
  const length = Number(/content-length: (\d+)/.exec(raw)![1]);
  assert.equal(Buffer.byteLength(raw.slice(raw.indexOf('\r\n\r\n') + 4)), length);
});

test('routes[].error_pages: a route\'s own pages by status or class, placeholders filled, headers kept; other routes keep the default', async (t) => {
  const dir = tempDir('pages');
  writeFileSync(join(dir, '50x.html'), '<h1>Back soon</h1><p>{status} {reason} · {code} · {request_id}</p>\n');
  const origin = await startOrigin(t, (_q, res) => res.end('fine'));
  const { url } = await startProxy(t, {
    upstreams: { down: { servers: ['http://127.0.0.1:1'], retries: 0 }, up: { servers: [origin.url] } },
    routes: [
      { match: { path: '/site/' }, proxy: { upstream: 'down' }, error_pages: { '5xx': { file: join(dir, '50x.html') } } },
      {
        match: { path: '/api/' }, proxy: { upstream: 'up' }, rate_limit: { rate: '1/m', burst: 1 },
        error_pages: { 429: { body: '{"error":"slow down","id":"{request_id}"}', content_type: 'application/json' } },
      },
      { match: { path: '/big/' }, respond: { body: 'big' }, error_pages: { '4xx': { body: 'other 4xx' }, 429: { body: 'unused' } } },
      { match: { path: '/' }, proxy: { upstream: 'down' } },
    ],
  });
  const site = await send(`${url}/site/x`, { headers: { 'x-request-id': 'r-1' } });
  assert.equal(site.status, 502);
  assert.equal(site.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(site.headers['cache-control'], 'no-store');
  assert.equal(site.text, '<h1>Back soon</h1><p>502 Bad Gateway · GH_UPSTREAM_CONNECT · r-1</p>\n');

  assert.equal((await send(`${url}/api/x`)).text, 'fine');
  const limited = await send(`${url}/api/x`, { headers: { 'x-request-id': 'r-2', accept: BROWSER } });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['content-type'], 'application/json');
  assert.ok(limited.headers['retry-after'], 'Retry-After is kept');
  assert.ok(limited.headers['ratelimit-policy'], 'RateLimit-Policy is kept');
  assert.equal(limited.text, '{"error":"slow down","id":"r-2"}');
  const tooLong = await send(`${url}/big/${'a'.repeat(9000)}`);
  assert.equal(tooLong.status, 414);
  assert.equal(tooLong.text, 'other 4xx', 'the class page, when the status has none of its own');

  const plain = await send(`${url}/other`, { headers: { 'x-request-id': 'r-3' } });
  assert.equal(plain.text, '{"status":502,"code":"GH_UPSTREAM_CONNECT","requestId":"r-3"}\n');
});

test('routes[].error_pages: a file is relative to the config file; a missing one fails the start naming the key; bad keys are config errors', async (t) => {
  const dir = tempDir('pages');
  writeFileSync(join(dir, 'oops.html'), 'oops {status}');
  const withPage = (file: string) => createGatehouse({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], access_log: { enabled: false }, overload: false,
    upstreams: { app: { servers: ['http://127.0.0.1:1'], retries: 0 } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' }, error_pages: { 502: { file } } }],
  }, { logger: pino({ level: 'silent' }), configPath: join(dir, 'gatehouse.yaml') });
  const gh = withPage('oops.html');
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  assert.equal((await send(gh.url())).text, 'oops 502');
  await assert.rejects(withPage('missing.html').start(), new RegExp(`routes\\[0\\]\\.error_pages\\.502\\.file: cannot read ${join(dir, 'missing.html')}: file not found`));
  const bad = (pages: unknown): void => {
    createGatehouse({
      listeners: [{ name: 'public', address: '127.0.0.1:0' }],
      routes: [{ match: { path: '/' }, respond: { body: 'x' }, error_pages: pages as never }],
    });
  };
  assert.throws(() => bad({ 302: { body: 'x' } }), /a status from 400 to 599, or 4xx or 5xx/);
  assert.throws(() => bad({ 502: { body: 'x', file: 'y' } }), /an error page takes one of file or body/);
  assert.throws(() => bad({ 502: {} }), /an error page takes one of file or body/);
});

test('routes[].error_pages: validate reports a missing page file at its key, with line and column, as run does', async () => {
  const dir = tempDir('pages');
  writeFileSync(join(dir, '50x.html'), 'down');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `listeners: [{ name: public, address: "127.0.0.1:0" }]
routes:
  - match: { path: / }
    respond: { body: x }
    error_pages:
      5xx: { file: 50x.html }
      404: { file: missing.html }
`);
  const v = await runCli(['validate', file]);
  assert.equal(v.code, 1);
  assert.match(v.stderr, new RegExp(`cannot read ${join(dir, 'missing.html')}: file not found at routes\\[0\\]\\.error_pages\\["?404"?\\]\\.file \\(line 7, col \\d+\\)`));
  assert.doesNotMatch(v.stderr, /50x\.html/);
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /missing\.html: file not found/);
});
