/**
 * The JavaScript front of the HTTP/1.1 parser (src/core/h1-fast.ts) against llhttp alone: the same inputs —
 * plain heads, then the same mutated byte by byte (CR, LF, NUL, DEL, SP, HTAB, obs-text, colons, framing and
 * connection fields, duplicates), whole, cut at random places and pipelined — must give the same events, the
 * same strings and the same verdict, so that the front reads nothing more loosely than llhttp (RFC 9112 2.2,
 * 6.3, 11.2: request smuggling).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpParser, ParseError } from '../src/core/llhttp.js';

type Kind = 'request' | 'response';

/** Everything a parser told, as text: what the two readings are compared on. */
function parse(kind: Kind, chunks: Buffer[], front: boolean, stopAfter = 0, headOf?: (i: number) => number): string[] {
  const log: string[] = [];
  let messages = 0;
  const p: HttpParser = new HttpParser(kind, {
    // Places too: the listener counts its limits by them (chunk extensions, head size).
    onMessageBegin: () => (log.push('begin'), 0),
    onUrl: (at, len) => (log.push(`url ${at}+${len}`), 0),
    onStatus: (at, len) => (log.push(`status ${at}+${len}`), 0),
    onHeaderField: (at, len) => (log.push(`field ${at}+${len}`), 0),
    onHeaderValue: (at, len) => (log.push(`value ${at}+${len}`), 0),
    onHeadersComplete: (status, upgrade, keepAlive) => {
      log.push(`head ${status} ${upgrade} ${keepAlive} ${p.method}/${p.httpMajor}.${p.httpMinor} ${JSON.stringify(p.line)} ${JSON.stringify(p.takeFields())}`);
      return headOf?.(messages) ?? 0;
    },
    onBody: (b) => (log.push(`body @${b.byteOffset} ${b.toString('latin1')}`), 0),
    onMessageComplete: () => {
      log.push(`complete ${JSON.stringify(p.hasFields ? p.takeFields() : [])}`);
      return ++messages === stopAfter ? 24 : 0;
    },
  }, { front });
  for (const c of chunks) {
    const r = p.execute(c);
    if (r === 'upgrade') { log.push(`upgrade ${p.upgradeAt}`); break; }
    if (r instanceof ParseError) { log.push(`error ${r.code} ${r.bytesParsed}`); break; }
  }
  const end = p.finish();
  if (end) log.push(`finish ${end.code}`);
  p.destroy();
  return log;
}

/** A small seeded generator: the same cases on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REQUESTS = [
  'GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n',
  'GET /a?b=1&c=%20d HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n',
  'HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n',
  'DELETE /x HTTP/1.1\r\nhost: y\r\nContent-Length: 0\r\nX-Empty:\r\nX-Sp:   \r\n\r\n',
  'OPTIONS /o HTTP/1.1\r\nHost: o\r\nCookie: a=b; c=d\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhello',
];
const RESPONSES = [
  'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n',
  'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 3\r\nX-V:  a\t\r\n\r\nbad',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
];
/** What mutations insert: bytes and words llhttp treats specially. */
const INSERTS = ['\r', '\n', '\0', '\x7f', ' ', '\t', '\xff', ':', '\r\n', '\r\n ', 'A', '#', '?',
  '\r\nContent-Length: 3', '\r\nContent-Length: 0', '\r\nTransfer-Encoding: chunked', '\r\nConnection: close',
  '\r\nConnection: upgrade', '\r\nUpgrade: websocket', '\r\nProxy-Connection: close', '\r\nHost: z', 'HTTP/1.1', '1', '0'];

function mutate(base: string, r: () => number): string {
  let s = base;
  const edits = 1 + Math.floor(r() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * s.length);
    const what = r();
    if (what < 0.45) s = s.slice(0, at) + INSERTS[Math.floor(r() * INSERTS.length)]! + s.slice(at);
    else if (what < 0.7) s = s.slice(0, at) + s.slice(at + 1);
    else if (what < 0.85) s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + s.slice(at + 1);
    else s = s.slice(0, at) + s.slice(at).replace(/[a-z]/, (c) => c.toUpperCase());
  }
  return s;
}

function same(kind: Kind, input: string, r: () => number, stopAfter = 0): void {
  const bytes = Buffer.from(input, 'latin1');
  const cuts: Buffer[][] = [[bytes]];
  const cut = 1 + Math.floor(r() * (bytes.length - 1));
  cuts.push([bytes.subarray(0, cut), bytes.subarray(cut)]);
  for (const chunks of cuts) {
    const a = parse(kind, chunks, true, stopAfter);
    const b = parse(kind, chunks, false, stopAfter);
    assert.deepEqual(a, b, `${kind} ${JSON.stringify(input)} in ${chunks.length} reads`);
  }
}

test('h1 front: RFC 9112 2.2, 11.2: plain heads give the same events, strings and verdicts as llhttp alone, whole and cut at every byte', () => {
  for (const [kind, list] of [['request', REQUESTS], ['response', RESPONSES]] as const) {
    for (const input of list) {
      const bytes = Buffer.from(input, 'latin1');
      for (let cut = 0; cut <= bytes.length; cut++) {
        const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
        assert.deepEqual(parse(kind, chunks, true), parse(kind, chunks, false), `${JSON.stringify(input)} cut at ${cut}`);
      }
    }
  }
});

test('h1 front: RFC 9112 6.3, 11.2: 40 000 mutated heads (CR, LF, NUL, obs-text, framing and connection fields) read as llhttp reads them', () => {
  const r = rng(16);
  for (let i = 0; i < 20_000; i++) {
    same('request', mutate(REQUESTS[i % REQUESTS.length]!, r), r);
    same('response', mutate(RESPONSES[i % RESPONSES.length]!, r), r);
  }
});

test('h1 front: RFC 9112 9.3.2: pipelined messages, one of them mutated, and a stop after the first, as llhttp', () => {
  const r = rng(9112);
  for (let i = 0; i < 5_000; i++) {
    const reqs = [0, 1, 2].map((k) => REQUESTS[(i + k) % REQUESTS.length]!);
    reqs[i % 3] = mutate(reqs[i % 3]!, r);
    same('request', reqs.join(''), r, i % 2);
    const resps = [0, 1].map((k) => RESPONSES[(i + k) % 2]!);
    resps[i % 2] = mutate(resps[i % 2]!, r);
    same('response', resps.join(''), r, i % 2);
  }
});

test('h1 front: RFC 9110 9.3.2, RFC 9112 6.3: a response to HEAD (the owner says: no body), a body cut short by the connection\'s end', () => {
  const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
  for (const front of [true, false]) {
    // The next bytes are the next message's: here not one, as llhttp says.
    const log = parse('response', [Buffer.from(`${ok}HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx`)], front, 0, () => 1);
    assert.deepEqual(log.filter((l) => l.startsWith('complete')).length, 2, log.join('\n'));
    const cut = parse('response', [Buffer.from(`${ok}abc`)], front);
    assert.equal(cut.at(-1), 'finish HPE_INVALID_EOF_STATE', cut.join('\n'));
  }
});

test('h1 front: RFC 9112 5, 5.5: every byte value at every place of a plain request and response (method, target, version, name, value, line ends)', () => {
  const r = rng(256);
  for (const [kind, input] of [['request', REQUESTS[1]!], ['response', RESPONSES[0]!], ['request', REQUESTS[3]!]] as const) {
    for (let at = 0; at <= input.length; at++) {
      for (let c = 0; c < 256; c++) {
        const ch = String.fromCharCode(c);
        same(kind, input.slice(0, at) + ch + input.slice(at), r);
        if (at < input.length) same(kind, input.slice(0, at) + ch + input.slice(at + 1), r);
      }
    }
  }
});

/** The fields a parser hands over for `input` (none when it refuses the head), as the engine reads them. */
function fieldsOf(kind: Kind, input: string, cut = 0): string[] {
  let out: string[] = [];
  const p: HttpParser = new HttpParser(kind, {
    onMessageBegin: () => 0, onUrl: () => 0, onStatus: () => 0, onHeaderField: () => 0, onHeaderValue: () => 0,
    onHeadersComplete: () => ((out = p.takeFields().map(String)), 0),
    onBody: () => 0, onMessageComplete: () => 0,
  }, { lowerNames: kind === 'response' });
  const bytes = Buffer.from(input, 'latin1');
  // In two reads when `cut` says where (llhttp then reads the head, the front being for whole heads).
  for (const chunk of cut > 0 ? [bytes.subarray(0, cut), bytes.subarray(cut)] : [bytes]) if (p.execute(chunk) !== undefined) break;
  p.destroy();
  return out;
}

test('h1 parser: RFC 9110 5.1, 5.5, RFC 9112 5.2: no field it hands over fails the response checks, whatever byte is put anywhere, in one read or two (so they are not checked twice)', () => {
  // The engine writes the parser's names and values on without checking them again (DownstreamResponse
  // `checked`, FrameInput `checked`): a token name, a value of HTAB, SP, VCHAR and obs-text only.
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
  let seen = 0;
  for (const [kind, input] of [['request', 'GET /a HTTP/1.1\r\nHost: x\r\nX-A: abc\r\n\r\n'], ['response', 'HTTP/1.1 200 OK\r\nX-A: abc\r\nContent-Length: 0\r\n\r\n']] as const) {
    for (let at = 0; at <= input.length; at++) {
      for (let c = 0; c < 256; c++) {
        const ch = String.fromCharCode(c);
        // Inserted, put in place of a byte, and after a line end (a new name, obs-fold: RFC 9112 5.2).
        for (const s of [input.slice(0, at) + ch + input.slice(at), input.slice(0, at) + ch + input.slice(at + 1), `${input.slice(0, at)}\r\n${ch}${input.slice(at)}`]) {
          const f = fieldsOf(kind, s);
          for (let i = 0; i < f.length; i += 2) {
            assert.match(f[i]!, TOKEN, JSON.stringify(s));
            assert.match(f[i + 1]!, VALUE, JSON.stringify(s));
            seen++;
          }
        }
      }
    }
  }
  // Split in two reads anywhere, with the bytes llhttp treats specially put anywhere in the response.
  const response = 'HTTP/1.1 200 OK\r\nX-A: abc\r\nContent-Length: 0\r\n\r\n';
  for (let at = 0; at < response.length; at++) {
    for (const ch of ['\r', '\n', '\0', '\x7f', '\x80', '\xff', ':', ' ', '\t']) {
      const s = response.slice(0, at) + ch + response.slice(at + 1);
      for (let cut = 1; cut < s.length; cut++) {
        const f = fieldsOf('response', s, cut);
        for (let i = 0; i < f.length; i += 2) {
          assert.match(f[i]!, TOKEN, `${JSON.stringify(s)} cut at ${cut}`);
          assert.match(f[i + 1]!, VALUE, `${JSON.stringify(s)} cut at ${cut}`);
          seen++;
        }
      }
    }
  }
  assert.ok(seen > 20_000, `fields seen: ${seen}`);
});
