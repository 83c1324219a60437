import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tempDir } from './helpers/tmp.js';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createLineWriter } from '../src/observe/line-writer.js';
import { accessLine, lineMemo } from '../src/observe/access-log.js';
import type { RequestCtx } from '../src/core/context.js';

function lines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const extra = i % 97 === 0 ? 'é€😀'.repeat(i % 50) : 'x'.repeat(i % 300);
    out.push(`{"n":${i},"v":"${extra}"}\n`);
  }
  out.splice(5000, 0, `{"big":"${'y'.repeat(100_000)}"}\n`); // larger than a whole buffer
  return out;
}

test('access log writer: every line reaches the file intact, in order (multi-byte and oversized lines too)', async () => {
  const file = join(tempDir('lw'), 'sub/dir/access.log');
  const w = createLineWriter({ path: file });
  const all = lines(20_000);
  for (const l of all) w.write(l);
  await w.close();
  assert.equal(readFileSync(file, 'utf8'), all.join(''));
});

test('access log writer: stdout (asynchronous) keeps every line and order', async () => {
  const mod = pathToFileURL(join(import.meta.dirname, '../dist/observe/line-writer.js')).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { createLineWriter } from ${JSON.stringify(mod)};
    const w = createLineWriter({ path: undefined });
    for (let i = 0; i < 50000; i++) w.write('line ' + i + ' ' + 'z'.repeat(i % 200) + '\\n');
    await w.close();
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => { out += c; });
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  const got = out.split('\n');
  assert.equal(got.length, 50001);
  for (let i = 0; i < 50000; i += 997) assert.equal(got[i], `line ${i} ${'z'.repeat(i % 200)}`);
  const want = Array.from({ length: 50000 }, (_, i) => `line ${i} ${'z'.repeat(i % 200)}\n`).join('');
  assert.ok(out === want, 'every byte, in order');
});

test('access log line: host and path escaped only when JSON needs it (quote, backslash, controls, lone surrogates)', () => {
  const raw = (host: string, path: string): string => accessLine({
    start: 0, requestId: 'r-1', clientIp: '127.0.0.1', req: { method: 'GET' }, res: { statusCode: 404 }, status: 0, host, path,
    bytesIn: 0, bytesOut: 3, upstreamMs: -1,
  } as unknown as RequestCtx, undefined, 1.5, '2026-01-01T00:00:00.000Z');
  for (const path of ['/plain', '/q"uote', '/back\\slash', '/ctl\u0001\n\u001f', '/lone\ud800x', '/pair😀', '/é€', '']) {
    assert.equal(JSON.parse(raw('a.test', path)).path, path, JSON.stringify(path));
  }
  assert.match(raw('a.test', '/lone\udc00'), /"path":"\/lone\\udc00"/, 'a lone surrogate goes out escaped (the line stays valid UTF-8)');
  assert.match(raw('a.test', '/plain'), /"host":"a.test","path":"\/plain"/);
  const got = JSON.parse(raw('h"st', '/x')) as Record<string, unknown>;
  assert.equal(got.host, 'h"st');
  assert.equal(got.status, 404, 'the response status when no phase set one');
  assert.equal(got.duration_ms, 1.5);
});

test('access log line: one memo across lines (as one access log keeps it) never carries a field over', () => {
  const memo = lineMemo();
  const base = { host: 'a.test', route: 'r1', upstream: 'app', server: '10.0.0.1:80', client: '::1', method: 'GET', path: '/', status: 200, bytesIn: 0, bytesOut: 0, time: 't1' };
  const cases = [
    base,
    { ...base, server: '10.0.0.2:80' },
    { ...base, host: 'b"test', server: '10.0.0.2:80' },
    { ...base, host: 'b"test', route: 'r2', upstream: undefined, server: undefined },
    { ...base, host: '', route: undefined, upstream: undefined, server: undefined },
    { ...base, client: '10.1.1.1' },
    { ...base, method: 'POST', time: 't2' },
    { ...base, path: '/x"y' },
    { ...base, path: '' },
    { ...base, status: 0 },
    { ...base, status: 404, bytesIn: 7 },
    { ...base, bytesOut: 12 },
    base,
  ];
  for (const c of [...cases, ...cases.reverse()]) {
    const line = JSON.parse(accessLine({
      start: 0, requestId: 'r', clientIp: c.client, req: { method: c.method }, res: { statusCode: 503 }, status: c.status, host: c.host, path: c.path,
      bytesIn: c.bytesIn, bytesOut: c.bytesOut, upstreamMs: -1, route: c.route === undefined ? undefined : { id: c.route }, upstreamName: c.upstream,
      peer: c.server === undefined ? undefined : { authority: c.server },
    } as unknown as RequestCtx, undefined, 1, c.time, undefined, memo)) as Record<string, unknown>;
    assert.deepEqual(
      [line.time, line.client, line.method, line.host, line.path, line.status, line.bytes_in, line.bytes_out, line.route, line.upstream, line.server],
      [c.time, c.client, c.method, c.host, c.path, c.status || 503, c.bytesIn, c.bytesOut, c.route, c.upstream, c.server],
    );
  }
});
