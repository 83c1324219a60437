/**
 * llhttp, the HTTP/1.1 parser node:http uses, in the WebAssembly build that undici ships (pinned with undici's
 * version in package-lock.json): one module instance per process, one parser per connection. Strict: no lenient
 * flag is set, so what node:http refuses, this refuses (request smuggling: RFC 9112 6.1, 6.3, 11.2).
 *
 * A head's pieces (target, reason phrase, field names and values) are told by their place in the chunk being
 * parsed, and made into strings by the parser itself: one latin1 string per chunk for all the pieces in it, cut
 * with `substring` (V8 shares the characters), pieces split across chunks joined. Body chunks are Buffer views of
 * the chunk (not copies, not views of the WebAssembly memory): a view stays valid after `execute` returns.
 */
import { createRequire } from 'node:module';
import { latin1Slice, subarray, substring, toLowerCase } from './strings.js';
import { FastFront, FIELD_PIECE as FIELD, URL_PIECE as URL, VALUE_PIECE as VALUE, type FastHost } from './h1-fast.js';

const require = createRequire(import.meta.url);

/** What a parser tells its owner; each returns 0 to go on (onHeadersComplete: 1 = the message has no body). */
export interface ParserEvents {
  onMessageBegin(): number;
  /** A piece of the request target: `at` where it starts in the chunk being parsed, `len` its bytes. */
  onUrl(at: number, len: number): number;
  /** A piece of the reason phrase. */
  onStatus(at: number, len: number): number;
  /** A piece of a field name: a new field when the last piece was not a name (llhttp splits pieces across chunks). */
  onHeaderField(at: number, len: number): number;
  /** A piece of a field value. */
  onHeaderValue(at: number, len: number): number;
  onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number;
  onBody(chunk: Buffer): number;
  onMessageComplete(): number;
}

interface Exports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_get_error_pos(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_resume_after_upgrade(p: number): void;
}

/** llhttp's own tables (llhttp.h: `llhttp_errno`, `llhttp_method`, `llhttp_type`), from the same undici release
 * as the WebAssembly build, so they always match it. */
const constants = require('undici/lib/llhttp/constants.js') as {
  ERROR: Record<string, number>; METHODS: Record<string, number>; TYPE: Record<string, number>;
};
const { OK, PAUSED_UPGRADE, USER } = constants.ERROR as { OK: number; PAUSED_UPGRADE: number; USER: number };
const ERRNO_NAMES = new Map(Object.entries(constants.ERROR).map(([name, n]) => [n, name]));
/** node:http's name of an llhttp error number (`HPE_INVALID_HEADER_TOKEN`, …). */
const errnoName = (n: number): string => `HPE_${ERRNO_NAMES.get(n) ?? n}`;
const METHOD_NAMES = new Map(Object.entries(constants.METHODS).map(([name, n]) => [n, name]));

export interface ParserOptions {
  /**
   * Field names in lower case (a response's, which the proxy handles in lower case anyway): one `toLowerCase`
   * of the chunk's text, where one per name would cost a lookup or a string each.
   */
  lowerNames?: boolean;
  /** false: llhttp reads every message (the front never does; tests compare the two). */
  front?: boolean;
}

/** A message the parser refused: `code` as node:http's (`HPE_INVALID_HEADER_TOKEN`, …). */
export class ParseError extends Error {
  constructor(readonly code: string, reason: string, readonly bytesParsed: number) {
    super(`HTTP/1.1 parse error (${code}): ${reason}`);
  }
}

let wasm: Exports | undefined;
/** The parser running `execute` (callbacks name it by pointer; one runs at a time). */
let current: HttpParser | undefined;
/** The chunk being parsed and where it sits in WebAssembly memory. */
let chunkRef: Buffer = Buffer.alloc(0);
let chunkPtr = 0;
let chunkCap = 0;

function view(at: number, len: number): Buffer {
  return subarray(chunkRef, at - chunkPtr, at - chunkPtr + len);
}

/** The WebAssembly memory as bytes: one view, made again only when the memory grew (its buffer changed). */
let heap = new Uint8Array(0);
function memory(): Uint8Array {
  const buf = wasm!.memory.buffer;
  if (heap.buffer !== buf) heap = new Uint8Array(buf);
  return heap;
}

function instance(): Exports {
  if (wasm) return wasm;
  let mod: WebAssembly.Module;
  try {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Uint8Array<ArrayBuffer>);
  } catch {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Uint8Array<ArrayBuffer>);
  }
  const inst = new WebAssembly.Instance(mod, {
    env: {
      wasm_on_message_begin: () => current!.llhttpBegin(),
      wasm_on_url: (_p: number, at: number, len: number) => current!.events.onUrl(current!.piece(URL, at - chunkPtr, len), len),
      // The reason phrase is told (its bytes count) but not kept: nobody reads it (RFC 9112 4: clients should ignore it).
      wasm_on_status: (_p: number, at: number, len: number) => current!.events.onStatus(at - chunkPtr, len),
      wasm_on_header_field: (_p: number, at: number, len: number) => current!.events.onHeaderField(current!.piece(FIELD, at - chunkPtr, len), len),
      wasm_on_header_value: (_p: number, at: number, len: number) => current!.events.onHeaderValue(current!.piece(VALUE, at - chunkPtr, len), len),
      wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) =>
        current!.llhttpHeadersComplete(status, upgrade === 1, keepAlive === 1),
      wasm_on_body: (_p: number, at: number, len: number) => current!.events.onBody(view(at, len)),
      wasm_on_message_complete: () => current!.llhttpMessageComplete(),
    },
  });
  wasm = inst.exports as unknown as Exports;
  return wasm;
}

/**
 * One connection's parser: `kind` request (a listener) or response (an upstream client). The common head is
 * read by a front in JavaScript (core/h1-fast.ts), everything else by llhttp, from the first byte of the first
 * message the front does not take.
 */
export class HttpParser implements FastHost<ParseError> {
  private ptr: number;
  private readonly llhttp: Exports;
  /** Where the bytes after an Upgrade's head start in the last chunk (after `execute` returned 'upgrade'). */
  upgradeAt = -1;
  /** The request target of the message being read, once its head is complete (onHeadersComplete). */
  line = '';
  /** Field names and values read so far, `[name, value, …]` (the head's, then the trailers'): see takeFields. */
  #fields: string[] = [];
  /** Pieces of the current chunk not made into strings yet: kind, start, end, … (one array, reused). */
  readonly #pieces: number[] = [];
  #count = 0;
  #lastKind = 0;
  #chunk: Buffer = EMPTY;
  readonly #front: FastFront<ParseError>;
  /** llhttp's keep-alive verdict on the message it is reading. */
  #keepAlive = false;
  readonly #frontOn: boolean;

  private readonly lowerNames: boolean;

  constructor(kind: 'request' | 'response', readonly events: ParserEvents, options: ParserOptions = {}) {
    this.llhttp = instance();
    this.ptr = this.llhttp.llhttp_alloc(kind === 'request' ? constants.TYPE.REQUEST! : constants.TYPE.RESPONSE!);
    this.lowerNames = options.lowerNames ?? false;
    this.#front = new FastFront(kind === 'request', this);
    this.#frontOn = options.front ?? true;
    this.#front.ready = this.#frontOn;
  }

  /** Parses `chunk`: undefined when all of it was taken, 'upgrade' when the protocol switched part way
   * (`upgradeAt`), or the ParseError (also for an error a callback signalled by returning -1). */
  execute(chunk: Buffer): ParseError | 'upgrade' | undefined {
    const front = this.#front;
    if (front.failed !== undefined) return front.failed;
    let off = 0;
    if (front.ready) {
      let r;
      this.#chunk = chunk;
      try {
        r = front.run(chunk, 0);
      } catch (err) {
        return front.stop(new ParseError('GH_H1_INTERNAL', `a parser callback threw: ${String(err)}`, 0));
      } finally {
        this.#chunk = EMPTY;
      }
      if (typeof r !== 'number') return r;
      if (r === chunk.length) return undefined;
      off = r;
    }
    const ret = this.#execute(chunk, off);
    // llhttp stopped (an error it repeats from now on, or a protocol switch): the front reads no more.
    if (ret !== undefined) front.ready = false;
    return ret;
  }

  /** llhttp reads `chunk` from `off` (the front read what comes before); places count from the chunk's start. */
  #execute(chunk: Buffer, off: number): ParseError | 'upgrade' | undefined {
    const ll = this.llhttp;
    // Re-entrant: a callback may run another parser (an upstream response that ends lets the listener parse the
    // next pipelined request); that one gets its own input buffer, and this one's state is put back after it.
    const outer = current, outerRef = chunkRef, outerPtr = chunkPtr;
    let ptr: number;
    if (outer !== undefined) {
      ptr = ll.malloc(Math.max(chunk.length, 1));
    } else {
      if (chunk.length > chunkCap) {
        if (chunkPtr) ll.free(chunkPtr);
        chunkCap = Math.ceil(chunk.length / 4096) * 4096;
        chunkPtr = ll.malloc(chunkCap);
      }
      ptr = chunkPtr;
    }
    memory().set(off === 0 ? chunk : chunk.subarray(off), ptr + off);
    let ret = OK;
    let at = 0;
    let thrown: unknown;
    current = this;
    chunkRef = chunk;
    chunkPtr = ptr;
    this.#chunk = chunk;
    try {
      ret = ll.llhttp_execute(this.ptr, ptr + off, chunk.length - off);
      if (ret !== OK) at = ll.llhttp_get_error_pos(this.ptr) - ptr;
      // A head goes on in the next chunk: its pieces in this one become strings now.
      this.settle();
    } catch (err) {
      thrown = err; // a callback threw (a bug): the message fails, the process goes on
    } finally {
      this.#chunk = EMPTY;
      current = outer;
      chunkRef = outer !== undefined ? outerRef : EMPTY;
      chunkPtr = outer !== undefined ? outerPtr : ptr;
      if (outer !== undefined) ll.free(ptr);
    }
    if (thrown !== undefined) return new ParseError('GH_H1_INTERNAL', `a parser callback threw: ${String(thrown)}`, 0);
    if (ret === OK) return undefined;
    if (ret === PAUSED_UPGRADE) {
      this.upgradeAt = at;
      return 'upgrade';
    }
    return this.error(ret, at);
  }

  /** llhttp begins a message: the front has no say until it ends. @internal */
  llhttpBegin(): number {
    this.#front.ready = false;
    this.#front.own = false;
    return this.begin();
  }

  /** @internal */
  llhttpHeadersComplete(status: number, upgrade: boolean, keepAlive: boolean): number {
    this.#keepAlive = keepAlive && !upgrade;
    return this.events.onHeadersComplete(status, upgrade, keepAlive);
  }

  /** llhttp ended a message: the front may read the next one if this one kept the connection. @internal */
  llhttpMessageComplete(): number {
    this.#front.ready = this.#keepAlive && this.#frontOn;
    return this.events.onMessageComplete();
  }

  /** Pieces noted and not taken become strings now (the front, after a head). @internal */
  settle(): void {
    if (this.#count > 0) this.#flush();
  }

  /** A message the front failed, as llhttp would report it. @internal */
  fail(code: number | string, at: number): ParseError {
    // As llhttp: a span callback's -1 is HPE_USER, another number that error.
    const name = typeof code === 'string' ? code : errnoName(code === -1 ? USER : code);
    return new ParseError(name, 'a callback stopped the message', at);
  }

  /** A message begins: its start line and fields are new. @internal */
  begin(): number {
    this.line = '';
    // A new list rather than `length = 0` (a call into the runtime): the old one may be the owner's now.
    if (this.#fields.length !== 0) this.#fields = [];
    this.#count = 0;
    this.#lastKind = 0;
    return this.events.onMessageBegin();
  }

  /** Notes a piece of the head at `at` (in the chunk) and returns `at`. @internal */
  piece(kind: number, at: number, len: number): number {
    const p = this.#pieces;
    const n = this.#count;
    p[n] = kind;
    p[n + 1] = at;
    p[n + 2] = at + len;
    this.#count = n + 3;
    return at;
  }

  /**
   * The fields read since the last call (the head's in onHeadersComplete, the trailers' in onMessageComplete),
   * as strings, `[name, value, …]`; `line` is complete too. Values keep the trailing whitespace llhttp leaves in.
   */
  takeFields(): string[] {
    this.settle();
    this.#lastKind = 0;
    // Handed over as it is (no copy); the parser starts a new one.
    const out = this.#fields;
    this.#fields = [];
    return out;
  }

  /** Whether takeFields would return any (a message without trailers takes none). */
  get hasFields(): boolean {
    return this.#count > 0 || this.#fields.length > 0;
  }

  /** The pieces noted in the current chunk as strings: one latin1 string of their span, cut (no copy). */
  #flush(): void {
    const p = this.#pieces;
    const n = this.#count;
    this.#count = 0;
    const lo = p[1]!;
    const text = latin1Slice(this.#chunk, lo, p[n - 1]!);
    // Latin-1 keeps its length in lower case: the pieces' places hold in both.
    const names = this.lowerNames ? toLowerCase(text) : text;
    const fields = this.#fields;
    let last = this.#lastKind;
    for (let i = 0; i < n; i += 3) {
      const kind = p[i]!;
      const start = p[i + 1]! - lo;
      const end = p[i + 2]! - lo;
      const from = kind === FIELD ? names : text;
      const str = start === 0 && end === from.length ? from : substring(from, start, end);
      if (kind === URL) this.line = kind === last ? this.line + str : str;
      else if (kind === last) fields[fields.length - 1] += str;
      else fields.push(str);
      last = kind;
    }
    this.#lastKind = last;
  }

  /** The connection ended: completes a message delimited by the close, or says what was cut short. */
  finish(): ParseError | undefined {
    const front = this.#front;
    // As llhttp_finish: a parser that failed has nothing more to say.
    if (front.failed !== undefined) return undefined;
    // RFC 9112 6.3: a body shorter than its Content-Length is incomplete.
    if (front.midBody) return new ParseError('HPE_INVALID_EOF_STATE', 'Invalid EOF state', 0);
    let ret: number;
    const outer = current;
    current = this;
    try {
      ret = this.llhttp.llhttp_finish(this.ptr);
    } finally {
      current = outer;
    }
    return ret === OK || ret === PAUSED_UPGRADE ? undefined : this.error(ret, 0);
  }

  private error(ret: number, at: number): ParseError {
    const ll = this.llhttp;
    const p = ll.llhttp_get_error_reason(this.ptr);
    let reason = '';
    if (p) {
      const mem = new Uint8Array(ll.memory.buffer);
      const end = mem.indexOf(0, p);
      reason = Buffer.from(ll.memory.buffer, p, end - p).toString('latin1');
    }
    return new ParseError(errnoName(ret), reason, at);
  }

  get method(): string {
    const front = this.#front;
    return front.own && front.method !== '' ? front.method : METHOD_NAMES.get(this.llhttp.llhttp_get_method(this.ptr)) ?? '';
  }
  get httpMajor(): number { return this.#front.own ? 1 : this.llhttp.llhttp_get_http_major(this.ptr); }
  get httpMinor(): number { return this.#front.own ? this.#front.minor : this.llhttp.llhttp_get_http_minor(this.ptr); }

  destroy(): void {
    if (this.ptr) this.llhttp.llhttp_free(this.ptr);
    this.ptr = 0;
  }
}

const EMPTY = Buffer.alloc(0);
