/**
 * `npm run bench:access-log`: the access log alone, in a tight loop (#16): accessLine() for a typical proxied
 * request, and accessLine() + the access log's write (time cached per ms, the line writer's 8 KiB batches to a
 * file in a temp dir), in ns per line. BENCH_LINES lines per measurement (default 300000), best of 5.
 * What the same work costs in situ (with the proxy's caches and allocations around it) is `bench:per-request`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessLine, createAccessLog, lineMemo } from '../src/observe/access-log.js';
import type { RequestCtx } from '../src/core/context.js';

const LINES = Number(process.env.BENCH_LINES ?? 300_000);

function fakeCtx(i: number): RequestCtx {
  return {
    start: performance.now() - 0.4, requestId: `8f0c2d4e-1b3a-4c5d-9e6f-${String(100000000000 + i)}`, clientIp: '127.0.0.1',
    req: { method: 'GET' }, res: { statusCode: 200 }, status: 200, host: '127.0.0.1', path: '/hello',
    bytesIn: 0, bytesOut: 12, route: { id: 'routes[1]' }, upstreamName: 'app', peer: { authority: '127.0.0.1:8081' },
    upstreamMs: 0.312, attempts: undefined,
  } as unknown as RequestCtx;
}

function best(label: string, f: (ctxs: RequestCtx[]) => void, ctxs: RequestCtx[]): void {
  let min = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    f(ctxs);
    min = Math.min(min, performance.now() - t);
  }
  process.stdout.write(`${label.padEnd(44)} ${((min * 1e6) / ctxs.length).toFixed(0)} ns/line\n`);
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-access-log-'));
try {
  const ctxs = Array.from({ length: LINES }, (_, i) => fakeCtx(i));
  let sink = 0;
  const memo = lineMemo();
  best('accessLine() (time string given)', (cs) => { for (const c of cs) sink += accessLine(c, undefined, performance.now(), '2026-11-29T15:00:00.000Z', undefined, memo).length; }, ctxs);
  const log = createAccessLog(join(dir, 'access.log'));
  best('access log write() to a file (8 KiB batches)', (cs) => { for (const c of cs) log.write(c, undefined); }, ctxs);
  await log.close();
  if (sink === 0) process.stdout.write('\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
