import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mock, test, type TestContext } from 'node:test';
import pino from 'pino';
import type { RequestCtx } from '../src/core/context.js';
import { errors } from '../src/core/errors.js';
import { createFailureLog } from '../src/observe/failure-log.js';
import { createLogger } from '../src/observe/logger.js';
import { prettyLine } from '../src/observe/pretty.js';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { ROOT, runCli, spawnCli } from './helpers/cli.js';
import { send } from './helpers/client.js';
import { waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface LogLine { level: number; time: string; msg: string; [k: string]: unknown }

/** A `gatehouse run` child whose stderr is read line by line as it comes. */
interface Running { child: ChildProcess; lines: string[]; exited: Promise<number | null> }

function run(t: TestContext, file: string): Running {
  const child = spawnCli(['run', '-c', file]);
  const lines: string[] = [];
  let partial = '';
  child.stdout!.resume();
  child.stderr!.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => {
    if (partial) lines.push(partial);
    r(code);
  }));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return { child, lines, exited };
}

function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function parse(lines: string[]): LogLine[] {
  return lines.map((l) => {
    try {
      return JSON.parse(l) as LogLine;
    } catch {
      assert.fail(`stderr line is not JSON: ${l}`);
    }
  });
}

test('process log: `run` with stderr a pipe writes only JSON lines with ISO times; TLS listeners as https://; a failed reload is an error line with what validate prints; an outage is a few lines with code and server, no stack', async (t) => {
  const dir = tempDir('logs');
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'secure.test', ['secure.test']);
  // A backend that is down: port 1 is privileged and outside the ephemeral range, so no test's server can
  // take it while this one runs (a port from freePort() could be bound by a parallel test meanwhile).
  const dead = 1;
  // Shedding is tested on its own (a loaded test machine must not turn these 502s into 503s).
  const good = `overload: false
listeners:
  - { name: public, address: "127.0.0.1:0" }
  - name: secure
    address: "127.0.0.1:0"
    tls: { certificates: [{ cert: ${leaf.cert}, key: ${leaf.key} }] }
upstreams:
  app: { servers: [http://127.0.0.1:${dead}] }
routes:
  - match: { path: / }
    proxy: { upstream: app }
`;
  const file = writeFile(dir, 'gatehouse.yaml', good);
  const gh = run(t, file);
  await waitFor(() => gh.lines.some((l) => l.includes('gatehouse started')), 10_000, 'the proxy to start');
  const started = parse(gh.lines);
  const listening = started.filter((l) => l.msg.startsWith('listening on '));
  assert.deepEqual(listening.map((l) => [l.listener, l.msg.replace(/:\d+$/, ':PORT')]), [
    ['public', 'listening on http://127.0.0.1:PORT'],
    ['secure', 'listening on https://127.0.0.1:PORT'],
  ]);
  const url = listening[0]!.msg.slice('listening on '.length);

  // The backend is down: 50 requests, 50 × 502, and a few lines in the process log, not 50.
  for (let i = 0; i < 50; i++) assert.equal((await send(`${url}/x`)).status, 502);

  // A broken config on SIGHUP: the running one stays, and the error line says what `validate` says.
  writeFile(dir, 'gatehouse.yaml', good.replace('upstream: app', 'upstrem: app').replace('servers: [', 'servers: [ftp://x, '));
  const validate = await runCli(['validate', file]);
  assert.equal(validate.code, 1);
  const before = gh.lines.length;
  gh.child.kill('SIGHUP');
  await waitFor(() => gh.lines.slice(before).some((l) => l.includes('reload failed')), 5000, 'the reload to fail');
  assert.equal((await send(`${url}/x`)).status, 502, 'the running config keeps serving');
  gh.child.kill('SIGTERM');
  assert.equal(await gh.exited, 0);

  const lines = parse(gh.lines);
  for (const l of lines) {
    assert.match(l.time, ISO, JSON.stringify(l));
    assert.equal(typeof l.level, 'number');
    assert.ok(!JSON.stringify(l).includes('    at '), `no stack trace: ${JSON.stringify(l)}`);
  }
  const failed = lines.filter((l) => l.code === 'GH_UPSTREAM_CONNECT');
  assert.ok(failed.length >= 1 && failed.length <= 3, `51 failed requests, ${failed.length} lines:\n${gh.lines.join('\n')}`);
  for (const l of failed) {
    assert.equal(l.level, 40);
    assert.equal(l.server, `127.0.0.1:${dead}`);
    assert.equal(l.upstream, 'app');
  }
  assert.match(failed[0]!.cause as string, /ECONNREFUSED/);
  assert.equal(typeof failed[0]!.reqId, 'string', 'the first failure carries its request id');
  assert.match(failed[0]!.reqId as string, /^[0-9a-f]{32}$/);
  const summary = failed.find((l) => l.repeats !== undefined);
  assert.ok(summary, 'the repeats are summarised');
  assert.equal(failed.reduce((n, l) => n + (l.repeats === undefined ? 1 : l.repeats as number), 0), 51, 'every failure is counted');
  assert.match(summary.msg, /repeated \d+ times in last \d+s/);

  const reload = lines.find((l) => l.msg.includes('reload failed'))!;
  assert.equal(reload.level, 50);
  assert.ok(validate.stderr.trim().split('\n').length >= 3);
  assert.ok(reload.msg.includes(validate.stderr.trim()), `reload line:\n${reload.msg}\nvalidate:\n${validate.stderr}`);
  assert.ok(lines.some((l) => l.msg.startsWith('SIGTERM: finishing in-flight requests')));
  assert.equal(lines.at(-1)!.msg, 'gatehouse stopped');
});

test('process log: a start-up failure of `run` is one JSON line too (level 60, the same text as before)', async (t) => {
  const missing = await runCli(['run', '-c', '/nonexistent/gatehouse.yaml']);
  assert.equal(missing.code, 1);
  const [line, ...more] = parse(missing.stderr.trim().split('\n'));
  assert.deepEqual(more, []);
  assert.equal(line!.level, 60);
  assert.match(line!.time, ISO);
  assert.equal(line!.msg, '/nonexistent/gatehouse.yaml: cannot read config: file not found');

  const dir = tempDir('logs');
  const bad = writeFile(dir, 'gatehouse.yaml', 'listeners: [{ name: a, address: "127.0.0.1:0" }]\nroutes:\n  - respond: { status: 200 }\n    frobnicate: 1\n');
  const r = await runCli(['run', '-c', bad]);
  const v = await runCli(['validate', bad]);
  assert.equal(r.code, 1);
  const lines = parse(r.stderr.trim().split('\n'));
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.msg, v.stderr.trim());
  t.diagnostic(lines[0]!.msg);
});

test('process log: `log.format: pretty` writes readable lines: ISO time, level, message, key=value', async (t) => {
  const dir = tempDir('logs');
  const dead = 1; // down, as above
  const file = writeFile(dir, 'gatehouse.yaml', `log: { format: pretty }
overload: false
listeners: [{ name: public, address: "127.0.0.1:0" }]
upstreams: { app: { servers: [http://127.0.0.1:${dead}] } }
routes: [{ match: { path: / }, proxy: { upstream: app } }]
`);
  const gh = run(t, file);
  await waitFor(() => gh.lines.some((l) => l.includes('gatehouse started')), 10_000, 'the proxy to start');
  const url = /listening on (http:\/\/\S+)/.exec(gh.lines.join('\n'))![1]!;
  assert.equal((await send(`${url}/`)).status, 502);
  gh.child.kill('SIGTERM');
  assert.equal(await gh.exited, 0);
  for (const l of gh.lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR) \S/, l);
  assert.match(gh.lines[0]!, /^\S+ INFO  listening on http:\/\/127\.0\.0\.1:\d+ listener=public$/);
  const failed = gh.lines.find((l) => l.includes('GH_UPSTREAM_CONNECT'))!;
  assert.match(failed, / WARN  request failed .*code=GH_UPSTREAM_CONNECT upstream=app server=127\.0\.0\.1:\d+ cause="connect ECONNREFUSED/);
});

test('process log: on a terminal the default is the readable form', async (t) => {
  const dir = tempDir('logs');
  const file = writeFile(dir, 'gatehouse.yaml', 'listeners: [{ name: public, address: "127.0.0.1:0" }]\nroutes: [{ respond: { status: 200 } }]\n');
  // util-linux `script` runs the command on a pseudo-terminal and copies what it writes.
  const bin = join(ROOT, 'bin/gatehouse.js');
  const child = spawn('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} run -c ${JSON.stringify(file)}`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
  });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  await waitFor(() => out.includes('gatehouse started'), 10_000, 'the proxy to start');
  child.kill('SIGKILL');
  assert.match(out, /^\S+Z INFO  listening on http:\/\/127\.0\.0\.1:\d+ listener=public\r?$/m);
  assert.ok(!out.includes('{"level"'), out);
});

test('pretty: fields as key=value, quoted when needed; multi-line messages and stacks indented; control characters escaped', () => {
  const err = new Error('boom');
  const line = prettyLine(JSON.stringify({
    level: 50, time: '2026-11-29T05:42:34.123Z', name: 'gatehouse', msg: 'reload failed:\nline one\nline two\u001b[2J',
    file: '/etc/gatehouse.yaml', n: 3, spaced: 'a b', err: { type: 'Error', message: err.message, stack: err.stack },
  }));
  const [head, ...rest] = line.trimEnd().split('\n');
  assert.equal(head, '2026-11-29T05:42:34.123Z ERROR reload failed: file=/etc/gatehouse.yaml n=3 spaced="a b" err=boom');
  assert.deepEqual(rest.slice(0, 3), ['  line one', '  line two\\u001b[2J', '  Error: boom']);
  assert.match(rest[3]!, /^ {6}at /);
  assert.equal(prettyLine('not json'), 'not json\n');
});

test('createLogger: ISO time in both formats', () => {
  const json: string[] = [];
  createLogger({ level: 'info', format: 'json' }, { destination: { write: (s) => json.push(s) } }).info({ listener: 'a' }, 'hello');
  const rec = JSON.parse(json[0]!) as LogLine;
  assert.match(rec.time, ISO);
  assert.equal(rec.msg, 'hello');
  const pretty: string[] = [];
  createLogger({ level: 'info', format: 'pretty' }, { destination: { write: (s) => pretty.push(s) } }).warn({ listener: 'a' }, 'hello');
  assert.match(pretty[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  hello listener=a\n$/);
});

/** A failure log writing to an array, and a request context as the failure log reads it. */
function capture(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info', timestamp: pino.stdTimeFunctions.isoTime }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}
function ctxFor(log: pino.Logger, server: string | undefined): RequestCtx {
  return { upstreamName: 'app', peer: server ? { authority: server } : undefined, log: log.child({ reqId: 'r1' }) } as unknown as RequestCtx;
}

test('failure log: first of a kind at once, repeats once per window, forgotten after a quiet window; per instance; bounded', () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  try {
    const a = capture();
    const fl = createFailureLog(a.log, { windowMs: 10_000, maxKinds: 2 });
    const refused = errors.upstreamConnect(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
    for (let i = 0; i < 100; i++) fl.failed(ctxFor(a.log, 's1'), refused);
    fl.failed(ctxFor(a.log, 's2'), refused);
    assert.deepEqual(a.lines.map((l) => [l.server, l.msg, l.cause]), [
      ['s1', 'request failed', 'connect ECONNREFUSED 127.0.0.1:1'],
      ['s2', 'request failed', 'connect ECONNREFUSED 127.0.0.1:1'],
    ]);
    assert.ok(!('err' in a.lines[0]!), 'no stack for an expected failure');

    // A second instance shares nothing with the first.
    const b = capture();
    createFailureLog(b.log).failed(ctxFor(b.log, 's1'), refused);
    assert.equal(b.lines.length, 1);

    // Bounded: a third kind beyond maxKinds is counted with the others.
    fl.failed(ctxFor(a.log, 's3'), refused);
    assert.equal(a.lines.length, 2);
    mock.timers.tick(10_000);
    assert.deepEqual(a.lines.slice(2).map((l) => [l.server, l.repeats, l.msg]), [
      ['s1', 99, 'request failed: repeated 99 times in last 10s'],
      [undefined, 1, 'request failed: 1 more failures of other kinds in last 10s'],
    ]);
    // Still failing: counted, one summary per window.
    for (let i = 0; i < 5; i++) fl.failed(ctxFor(a.log, 's1'), refused);
    mock.timers.tick(10_000);
    assert.equal(a.lines.length, 5);
    assert.equal(a.lines[4]!.repeats, 5);
    // Quiet for a whole window: forgotten, so the next failure is logged at once.
    mock.timers.tick(20_000);
    fl.failed(ctxFor(a.log, 's1'), refused);
    assert.equal(a.lines.length, 6);
    assert.equal(a.lines[5]!.msg, 'request failed');
    // close() writes what is due.
    fl.failed(ctxFor(a.log, 's1'), refused);
    fl.close();
    assert.equal(a.lines[6]!.repeats, 1);
  } finally {
    mock.timers.reset();
  }
});

test('failure log: an internal error keeps its stack', () => {
  const a = capture();
  const fl = createFailureLog(a.log);
  fl.failed(ctxFor(a.log, undefined), errors.internal(new TypeError('x is undefined')));
  fl.close();
  assert.equal(a.lines[0]!.level, 50);
  assert.match((a.lines[0]!.err as { stack: string }).stack, /TypeError: x is undefined\n\s+at /);
});
