/**
 * The common HTTP/1.1 head, read in JavaScript ahead of llhttp (#16): a whole head in one read, with nothing in
 * it that llhttp would treat specially. What is found here is a strict subset of what llhttp accepts, and gives
 * the same pieces; anything else — a head split across reads, another method, a target or value byte out of the
 * plain ranges, obs-fold, a bare CR or LF, Transfer-Encoding, Upgrade, Proxy-Connection, a Connection other than
 * `keep-alive` or `close`, two Connection or Content-Length fields, a Content-Length that is not 1-15 digits, a
 * request with a body, a response without a length, 1xx, 204, 304, HTTP/1.0 responses, a connection that closes
 * after the message — is left to llhttp from its first byte (core/llhttp.ts), so no input is read more loosely
 * than llhttp reads it (RFC 9112 2.2, 5, 6.3: request smuggling). test/h1-fast.test.ts checks both on the same
 * inputs, malformed ones included, events and places alike.
 *
 * A parser written by hand where a maintained one exists, against the house rule, for #16's cost per request:
 * llhttp's WebAssembly parse and its glue were ~4.4 µs of a proxied request, this front ~2. It decides nothing
 * llhttp would decide otherwise: it only declines, and llhttp reads what it declines.
 */

import { BAD_VALUE_RE, TOKEN_RE } from './headers.js';
import type { ParserEvents } from './llhttp.js';

const SP = 32;
const HTAB = 9;
const CR = 13;
const LF = 10;
const COLON = 58;

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0;
  return t;
}

/** tchar (RFC 9110 5.6.2): what a field name the proxy sends may hold (core/headers.ts). */
const TCHAR = table((c) => TOKEN_RE.test(String.fromCharCode(c)));
/** Request target bytes: visible ASCII (llhttp takes these in every part of the target). */
const TARGET = table((c) => c >= 0x21 && c <= 0x7e);
/** Field value bytes: HTAB, SP, visible ASCII, obs-text (RFC 9110 5.5), as the proxy checks what it sends. */
const VALUE = table((c) => !BAD_VALUE_RE.test(String.fromCharCode(c)));
/** Reason phrase bytes, kept to ASCII here. */
const REASON = table((c) => c === HTAB || (c >= 0x20 && c <= 0x7e));

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const CONTENT_LENGTH = ascii('content-length');
const TRANSFER_ENCODING = ascii('transfer-encoding');
const CONNECTION = ascii('connection');
const UPGRADE = ascii('upgrade');
const PROXY_CONNECTION = ascii('proxy-connection');
const KEEP_ALIVE = ascii('keep-alive');
const CLOSE = ascii('close');
const HTTP1 = ascii('HTTP/1.');
/** Fields past this many leave the head to llhttp (the scratch stays small). */
const MAX_FIELDS = 128;

/** Where a head's pieces are. One per parser, reused for every head. */
class SimpleHead {
  /** Just past the empty line that ends the head. */
  end = 0;
  /** A request's method, '' for a response. */
  method = '';
  minor = 1;
  /** A response's status, 0 for a request. */
  status = 0;
  /** The request target, or the reason phrase. */
  lineStart = 0;
  lineEnd = 0;
  /** Content-Length, -1 without one. */
  contentLength = -1;
  /** nameStart, nameEnd, valueStart, valueEnd for each field, `fieldCount` of them. */
  readonly fields: number[] = [];
  fieldCount = 0;
}

/** Bytes `b[at, at + word.length)` equal `word`, ASCII letters compared without case (`word` in lower case). */
function same(b: Uint8Array, at: number, end: number, word: Uint8Array): boolean {
  if (end - at !== word.length) return false;
  for (let i = 0; i < word.length; i++) if ((b[at + i]! | 0x20) !== word[i]) return false;
  return true;
}

function methodOf(b: Uint8Array, at: number, end: number): string {
  const c = b[at];
  switch (end - at) {
    case 3:
      if (c === 0x47 && b[at + 1] === 0x45 && b[at + 2] === 0x54) return 'GET';
      if (c === 0x50 && b[at + 1] === 0x55 && b[at + 2] === 0x54) return 'PUT';
      return '';
    case 4:
      if (c === 0x48 && b[at + 1] === 0x45 && b[at + 2] === 0x41 && b[at + 3] === 0x44) return 'HEAD';
      if (c === 0x50 && b[at + 1] === 0x4f && b[at + 2] === 0x53 && b[at + 3] === 0x54) return 'POST';
      return '';
    case 5:
      return c === 0x50 && b[at + 1] === 0x41 && b[at + 2] === 0x54 && b[at + 3] === 0x43 && b[at + 4] === 0x48 ? 'PATCH' : '';
    case 6:
      return c === 0x44 && b[at + 1] === 0x45 && b[at + 2] === 0x4c && b[at + 3] === 0x45 && b[at + 4] === 0x54 && b[at + 5] === 0x45 ? 'DELETE' : '';
    case 7:
      return c === 0x4f && b[at + 1] === 0x50 && b[at + 2] === 0x54 && b[at + 3] === 0x49 && b[at + 4] === 0x4f && b[at + 5] === 0x4e && b[at + 6] === 0x53 ? 'OPTIONS' : '';
    default:
      return '';
  }
}

/** `HTTP/1.x` at `at`: x (0 or 1), or -1. */
function version(b: Uint8Array, at: number): number {
  for (let i = 0; i < 7; i++) if (b[at + i] !== HTTP1[i]) return -1;
  const d = b[at + 7];
  return d === 0x31 ? 1 : d === 0x30 ? 0 : -1;
}

/**
 * What a field llhttp treats specially does to a simple head: the Connection word so far (0 none, 1
 * keep-alive, 2 close), -1 when the head is not simple; Content-Length goes to `h`. Found by length first.
 */
function special(b: Uint8Array, ns: number, ne: number, vs: number, ve: number, h: SimpleHead, connection: number): number {
  switch (ne - ns) {
    case 14: {
      if (!same(b, ns, ne, CONTENT_LENGTH)) return connection;
      if (h.contentLength !== -1 || ve === vs || ve - vs > 15) return -1;
      let v = 0;
      for (let k = vs; k < ve; k++) {
        const d = b[k]! - 0x30;
        if (d < 0 || d > 9) return -1;
        v = v * 10 + d;
      }
      h.contentLength = v;
      return connection;
    }
    case 10:
      if (!same(b, ns, ne, CONNECTION)) return connection;
      if (connection !== 0) return -1;
      return same(b, vs, ve, KEEP_ALIVE) ? 1 : same(b, vs, ve, CLOSE) ? 2 : -1;
    case 17:
      return same(b, ns, ne, TRANSFER_ENCODING) ? -1 : connection;
    case 7:
      return same(b, ns, ne, UPGRADE) ? -1 : connection;
    case 16:
      return same(b, ns, ne, PROXY_CONNECTION) ? -1 : connection;
    default:
      return connection;
  }
}

/**
 * The fields from `at` to the empty line: false when one is not plain (see above). Sets `end`, `contentLength`
 * and returns the Connection field's word through the result: 0 none, 1 keep-alive, 2 close, -1 not simple.
 */
function fields(b: Uint8Array, at: number, h: SimpleHead): number {
  const n = b.length;
  const out = h.fields;
  let i = at;
  let count = 0;
  let connection = 0;
  h.contentLength = -1;
  for (;;) {
    if (i + 1 >= n) return -1;
    if (b[i] === CR) {
      if (b[i + 1] !== LF) return -1;
      h.end = i + 2;
      h.fieldCount = count;
      return connection;
    }
    const ns = i;
    while (i < n && TCHAR[b[i]!] === 1) i++;
    if (i === ns || i >= n || b[i] !== COLON) return -1;
    const ne = i++;
    while (i < n && (b[i] === SP || b[i] === HTAB)) i++;
    let vs = i;
    while (i < n && VALUE[b[i]!] === 1) i++;
    if (i + 1 >= n || b[i] !== CR || b[i + 1] !== LF) return -1;
    let ve = i; // trailing whitespace stays in, as llhttp leaves it
    i += 2;
    // llhttp tells an empty value where the next line starts.
    if (vs === ve) vs = ve = i;
    connection = special(b, ns, ne, vs, ve, h, connection);
    if (connection === -1 || count === MAX_FIELDS) return -1;
    const o = count * 4;
    out[o] = ns;
    out[o + 1] = ne;
    out[o + 2] = vs;
    out[o + 3] = ve;
    count++;
  }
}

/** A simple request head starting at `at` (no body, kept alive): true with `h` filled in. */
function scanRequest(b: Uint8Array, at: number, h: SimpleHead): boolean {
  const n = b.length;
  let i = at;
  const limit = Math.min(n, at + 8);
  while (i < limit && b[i] !== SP) i++;
  if (i >= limit) return false;
  const method = methodOf(b, at, i);
  if (method === '') return false;
  const ts = ++i;
  if (b[i] !== 0x2f) return false; // origin-form (RFC 9112 3.2.1); the other forms go to llhttp
  while (i < n && TARGET[b[i]!] === 1) i++;
  if (i + 10 > n || b[i] !== SP) return false;
  const te = i++;
  const minor = version(b, i);
  if (minor === -1 || b[i + 8] !== CR || b[i + 9] !== LF) return false;
  const connection = fields(b, i + 10, h);
  if (connection === -1 || h.contentLength > 0) return false;
  // RFC 9112 9.3: HTTP/1.1 stays open unless `close`; HTTP/1.0 only with `keep-alive`.
  if (minor === 1 ? connection === 2 : connection !== 1) return false;
  h.method = method;
  h.minor = minor;
  h.status = 0;
  h.lineStart = ts;
  h.lineEnd = te;
  return true;
}

/** A simple response head starting at `at` (HTTP/1.1, 2xx-5xx but 204 and 304, a Content-Length, kept alive). */
function scanResponse(b: Uint8Array, at: number, h: SimpleHead): boolean {
  const n = b.length;
  if (at + 13 > n || version(b, at) !== 1 || b[at + 8] !== SP) return false;
  const d0 = b[at + 9]! - 0x30;
  const d1 = b[at + 10]! - 0x30;
  const d2 = b[at + 11]! - 0x30;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || b[at + 12] !== SP) return false;
  const status = d0 * 100 + d1 * 10 + d2;
  if (status === 204 || status === 304) return false;
  let i = at + 13;
  const rs = i;
  while (i < n && REASON[b[i]!] === 1) i++;
  if (i === rs || i + 1 >= n || b[i] !== CR || b[i + 1] !== LF) return false;
  const connection = fields(b, i + 2, h);
  if (connection === -1 || connection === 2 || h.contentLength < 0) return false;
  h.method = '';
  h.minor = 1;
  h.status = status;
  h.lineStart = rs;
  h.lineEnd = i;
  return true;
}

/** What the head's pieces are (core/llhttp.ts makes them into strings; a change of kind starts a new string). */
export const URL_PIECE = 1;
export const FIELD_PIECE = 3;
export const VALUE_PIECE = 4;

/** The parser this front reads for: its events, its pieces, its errors. */
export interface FastHost<E> {
  readonly events: ParserEvents;
  /** Where the bytes after a head that switched protocols start. */
  upgradeAt: number;
  /** A message begins (the parser's own state reset, then the owner's onMessageBegin). */
  begin(): number;
  /** Notes a piece of the head at `at` in the chunk being parsed; returns `at`. */
  piece(kind: number, at: number, len: number): number;
  /** Pieces not taken by the owner yet become strings now (the chunk is still the one being parsed). */
  settle(): void;
  /**
   * A failed message, as llhttp reports it, and where it stopped: `code` a name (`HPE_…`), or what a span
   * callback answered (-1: HPE_USER; another number: that llhttp error).
   */
  fail(code: number | string, at: number): E;
}

/**
 * One parser's front: reads the simple heads (and a response's Content-Length body) of the messages that start
 * where llhttp stands between messages, raising the same events llhttp would, in the same order, with the same
 * pieces; stops at the first message it does not take, which llhttp reads from its first byte.
 */
export class FastFront<E> {
  /** llhttp stands between messages, after one kept alive (or before the first): the front may read. */
  ready = true;
  /** The message whose head the front read: its method and minor version (llhttp does not know it). */
  own = false;
  readonly #head = new SimpleHead();
  #bodyLeft = 0;
  #failed: E | 'upgrade' | undefined;

  constructor(private readonly request: boolean, private readonly host: FastHost<E>) {}

  get method(): string { return this.#head.method; }
  get minor(): number { return this.#head.minor; }
  /** A failure the front reported: every later read gets it again, as from llhttp. */
  get failed(): E | 'upgrade' | undefined { return this.#failed; }
  /** A response's body is still coming: the connection's end cuts it short. */
  get midBody(): boolean { return this.#bodyLeft > 0; }

  /** The message failed outside the front's own checks (a callback threw): every later read gets `err`. */
  stop(err: E): E {
    this.#failed = err;
    this.ready = false;
    return err;
  }

  /** Reads from `off`: where llhttp takes over (`chunk.length`: nothing left), or the message's failure. */
  run(chunk: Buffer, off: number): number | E | 'upgrade' {
    const n = chunk.length;
    const h = this.#head;
    while (off < n) {
      if (this.#bodyLeft > 0) {
        const r = this.#body(chunk, off);
        if (typeof r !== 'number') return r;
        off = r;
        continue;
      }
      if (!(this.request ? scanRequest(chunk, off, h) : scanResponse(chunk, off, h))) break;
      const r = this.#message(h, off);
      if (typeof r !== 'number') return r;
      off = r;
    }
    return off;
  }

  #message(h: SimpleHead, start: number): number | E | 'upgrade' {
    const host = this.host;
    const ev = host.events;
    this.own = true;
    if (host.begin() !== 0) return this.#fail('HPE_CB_MESSAGE_BEGIN', start);
    const lineLen = h.lineEnd - h.lineStart;
    let r = this.request ? ev.onUrl(host.piece(URL_PIECE, h.lineStart, lineLen), lineLen) : ev.onStatus(h.lineStart, lineLen);
    if (r !== 0) return this.#fail(r, this.request ? h.lineEnd : h.lineEnd + 1);
    const f = h.fields;
    for (let i = 0, o = 0; i < h.fieldCount; i++, o += 4) {
      const ns = f[o]!, ne = f[o + 1]!, vs = f[o + 2]!, ve = f[o + 3]!;
      r = ev.onHeaderField(host.piece(FIELD_PIECE, ns, ne - ns), ne - ns);
      if (r !== 0) return this.#fail(r, ne + 1);
      r = ev.onHeaderValue(host.piece(VALUE_PIECE, vs, ve - vs), ve - vs);
      // llhttp stops after the CR, or where the next line starts for an empty value.
      if (r !== 0) return this.#fail(r, vs === ve ? ve : ve + 1);
    }
    r = ev.onHeadersComplete(h.status, false, true);
    host.settle();
    if (r === 2) {
      // As llhttp: no body, the message ends, then the parser stops for the new protocol.
      host.upgradeAt = h.end;
      const c = this.#complete(h.end);
      if (typeof c !== 'number') return c;
      this.#failed = 'upgrade';
      this.ready = false;
      return 'upgrade';
    }
    if (r !== 0 && r !== 1) return this.#fail('HPE_CB_HEADERS_COMPLETE', h.end);
    // 1: the owner says there is no body (a response to HEAD, RFC 9110 9.3.2).
    const length = r === 1 ? 0 : h.contentLength;
    if (length > 0) {
      this.#bodyLeft = length;
      return h.end;
    }
    return this.#complete(h.end);
  }

  #body(chunk: Buffer, off: number): number | E {
    const take = Math.min(this.#bodyLeft, chunk.length - off);
    const end = off + take;
    this.#bodyLeft -= take;
    const r = this.host.events.onBody(chunk.subarray(off, end));
    if (r !== 0) return this.#fail(r, end);
    return this.#bodyLeft === 0 ? this.#complete(end) : end;
  }

  #complete(at: number): number | E {
    if (this.host.events.onMessageComplete() !== 0) return this.#fail('HPE_CB_MESSAGE_COMPLETE', at);
    return at;
  }

  #fail(code: number | string, at: number): E {
    const err = this.host.fail(code, at);
    this.#failed = err;
    return err;
  }
}
