/**
 * The parser boundary under fuzz (#16), on both engines through the whole proxy: pipelined bursts split into
 * random chunks at random times, and mutated requests. Nothing hangs (every connection ends, answered), every
 * answer comes in order, no connection is left open, memory stays bounded. Seeded: a failure replays.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

function prng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s % n; };
}

/**
 * Writes `data` in random pieces, at random moments (then half-closes with `halfClose`: node:http drops what it
 * has not answered when a client does); resolves with all it read until the server closed.
 */
function trickle(port: number, data: string, rand: (n: number) => number, halfClose = false, ms = 5000): Promise<{ text: string; hung: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { sock.destroy(); resolve({ text: Buffer.concat(chunks).toString('latin1'), hung: true }); }, ms);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => { clearTimeout(timer); resolve({ text: Buffer.concat(chunks).toString('latin1'), hung: false }); });
    let at = 0;
    const step = (): void => {
      if (sock.destroyed) return;
      if (at >= data.length) return void (halfClose && sock.end());
      const n = 1 + rand(rand(2) === 0 ? 8 : 200);
      sock.write(data.slice(at, at + n));
      at += n;
      if (rand(3) === 0) setTimeout(step, rand(3)); else step();
    };
    sock.once('connect', step);
  });
}

const H = 'Host: fuzz.test\r\n';
function request(id: number, kind: number, last: boolean): string {
  const close = last ? 'Connection: close\r\n' : '';
  if (kind === 0) return `GET /r/${id} HTTP/1.1\r\n${H}${close}\r\n`;
  if (kind === 1) return `POST /r/${id} HTTP/1.1\r\n${H}Content-Length: ${String(id).length}\r\n${close}\r\n${id}`;
  return `PUT /r/${id} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n${close}\r\n${String(id).length.toString(16)}\r\n${id}\r\n0\r\n\r\n`;
}

async function proxyFor(t: TestContext, engine: 'node' | 'native'): Promise<number> {
  const origin = await startOrigin(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end(`<${req.url}>`));
  });
  const gh = await startProxy(t, {
    engine,
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  return gh.port;
}

for (const engine of ['node', 'native'] as const) {
  test(`fuzz (${engine}): pipelined bursts in random pieces are all answered, in order, and every connection ends`, async (t) => {
    const port = await proxyFor(t, engine);
    const rand = prng(1600);
    const rss = process.memoryUsage().rss;
    let id = 0;
    for (let round = 0; round < 6; round++) {
      const conns = Array.from({ length: 10 }, () => {
        const n = 1 + rand(6);
        const ids = Array.from({ length: n }, () => ++id);
        return { ids, data: ids.map((x, i) => request(x, rand(3), i === n - 1)).join('') };
      });
      const got = await Promise.all(conns.map((c) => trickle(port, c.data, rand)));
      got.forEach((r, i) => {
        assert.equal(r.hung, false, `connection with requests ${conns[i]!.ids.join(',')} hung`);
        const seen = [...r.text.matchAll(/<\/r\/(\d+)>/g)].map((m) => Number(m[1]));
        assert.deepEqual(seen, conns[i]!.ids, 'every request answered, in order');
        assert.equal((r.text.match(/HTTP\/1\.1 200 /g) ?? []).length, conns[i]!.ids.length);
      });
    }
    assert.ok(process.memoryUsage().rss - rss < 128 * 1024 * 1024, 'memory stays bounded');
  });

  test(`fuzz (${engine}): mutated requests are answered or closed, never left hanging, and never crash the proxy`, async (t) => {
    const port = await proxyFor(t, engine);
    const rand = prng(42);
    const base = request(7, 2, false) + request(8, 1, true);
    const alphabet = '\r\n :\0\t;,=-0123456789abcdefxX\x7f\x80\xff';
    for (let i = 0; i < 150; i++) {
      const bytes = base.split('');
      for (let m = 1 + rand(4); m > 0; m--) {
        const at = rand(bytes.length);
        const op = rand(3);
        const c = alphabet[rand(alphabet.length)]!;
        if (op === 0) bytes[at] = c; else if (op === 1) bytes.splice(at, 0, c); else bytes.splice(at, 1);
      }
      // Half-closed: a mutation may leave a request incomplete, which the client's end then settles.
      const r = await trickle(port, bytes.join(''), rand, true, 4000);
      assert.equal(r.hung, false, `mutation ${i} hung: ${JSON.stringify(bytes.join(''))}`);
    }
    // Still serving.
    const ok = await trickle(port, request(99, 0, true), rand);
    assert.match(ok.text, /^HTTP\/1\.1 200 [\s\S]*<\/r\/99>/);
  });
}

for (const engine of ['node', 'native'] as const) {
  test(`pipelining (${engine}): 12 requests in one write are answered in order, with no error thrown (parsers nest: an upstream response that ends lets the next request be parsed)`, async (t) => {
    const thrown: unknown[] = [];
    const onThrown = (e: unknown): void => { thrown.push(e); };
    process.on('uncaughtException', onThrown);
    t.after(() => process.off('uncaughtException', onThrown));
    const port = await proxyFor(t, engine);
    const burst = Array.from({ length: 12 }, (_, i) => request(i + 1, 0, i === 11)).join('');
    const r = await trickle(port, burst, () => 10_000);
    assert.equal(r.hung, false);
    assert.deepEqual([...r.text.matchAll(/<\/r\/(\d+)>/g)].map((m) => Number(m[1])), Array.from({ length: 12 }, (_, i) => i + 1));
    assert.deepEqual(thrown, []);
  });
}
