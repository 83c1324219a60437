/**
 * Reads requests off a connection's bytes with llhttp (strict: what node:http refuses, this refuses), under
 * node:http's limits: the target and fields count against maxHeaderSize (431), at most maxHeadersCount fields
 * (431: node:http drops the fields past it instead), 16 KiB of chunk extensions (413). Strings are made once
 * from the bytes; body chunks are views of the read (copies when the read is in the shared buffer, reads.ts).
 */
import type { Socket } from 'node:net';
import { now } from '../../core/clock.js';
import { HttpParser, type ParserEvents } from '../../core/llhttp.js';
import { H1Request, type BodySource } from './request.js';
import { trimOws, type RefusalCode } from './wire.js';
import { toLowerCase } from '../../core/strings.js';

/** What the reader tells its connection. */
export interface ReaderOwner extends BodySource {
  readonly socket: Socket;
  readonly server: { readonly maxHeaderSize: number; readonly maxHeadersCount: number };
  /** A request's head is complete (its body follows, if any). */
  headReady(req: H1Request): void;
  /** Whether to read on past a complete request (false: enough are waiting their turn). */
  readAhead(): boolean;
}

/** Bytes of a chunked body between two chunks' data: node:http allows 16 KiB of chunk extensions (413 past it). */
const CHUNK_GAP_MAX = 16 * 1024 + 64;
/** llhttp's HPE_USER: a callback refused the input (`refusal` says why). */
const USER = 24;
const EMPTY = Buffer.alloc(0);

export class RequestReader implements ParserEvents {
  /** When the message being read began (ms), 0 between messages; a new connection counts as one (slowloris). */
  messageStart = now();
  /** The head of the message being read is complete. */
  headersDone = false;
  /** The request whose body is being read. */
  parsing: H1Request | undefined;
  /** Its body's reader is behind: stop reading the socket until it asks for more. */
  bodyFull = false;
  /** After read() returned 'upgrade': the bytes past the request, the new protocol's; after 'yield': those not read yet. */
  rest: Buffer = EMPTY;
  #parser: HttpParser | undefined;
  /** 1: the last callback was a field name, 2: a value (llhttp splits either across chunks). */
  #kind = 0;
  #headerBytes = 0;
  /** Fields of the head (then of the trailers) being read. */
  #fieldCount = 0;
  #refusal: RefusalCode | undefined;
  /** Why onMessageComplete stopped llhttp at a message's end: enough requests wait their turn, or it was the last. */
  #stop: 'yield' | 'stop' | undefined;
  #chunked = false;
  #chunk: Buffer = EMPTY;
  /** The chunk is a view of the shared read buffer (reads.ts): what outlives the read is copied. */
  #shared = false;
  /** Bytes read before the current chunk, and where the last chunk's data ended (chunk extensions). */
  #fed = 0;
  #lastBody = -1;
  /** Where the last target or field value ended: the head ends 4 bytes later (the first chunk line's start). */
  #spanEnd = 0;

  constructor(private readonly owner: ReaderOwner) {
    this.#parser = new HttpParser('request', this);
  }

  /**
   * Parses a chunk: undefined when all of it was taken; 'upgrade' (`rest`: the new protocol's bytes); 'yield'
   * when enough requests wait their turn (`rest`: the bytes not read yet, from the next request on); 'stop'
   * after the connection's last request (nothing more is read); or why the input is refused.
   */
  read(chunk: Buffer, shared = false): RefusalCode | 'upgrade' | 'yield' | 'stop' | undefined {
    const parser = this.#parser;
    if (parser === undefined) return undefined;
    this.#chunk = chunk;
    this.#shared = shared;
    let ret;
    try {
      ret = parser.execute(chunk);
    } finally {
      this.#chunk = EMPTY;
      this.#shared = false;
    }
    if (ret === undefined || ret === 'upgrade') this.#fed += chunk.length;
    if (ret === 'upgrade') {
      this.rest = kept(chunk.subarray(parser.upgradeAt), shared);
      return ret;
    }
    if (ret !== undefined) {
      const stop = this.#stop;
      if (stop === undefined) return this.#refusal ?? ret.code;
      // llhttp stopped right after a message (its error position is the next one's first byte). Between
      // messages it holds no state, so a fresh parser goes on from there.
      this.#stop = undefined;
      this.#fed += ret.bytesParsed;
      this.rest = kept(chunk.subarray(ret.bytesParsed), shared);
      parser.destroy();
      this.#parser = stop === 'yield' ? new HttpParser('request', this) : undefined;
      return stop;
    }
    // A chunk line still going at the end of this chunk (trailers count as fields instead).
    if (this.#chunked && this.parsing !== undefined && !parser.hasFields && this.#chunkGap(this.#fed)) return this.#refusal;
    return undefined;
  }

  /** The client closed its side: a message cut short is refused (400), as node:http's parser.finish(). */
  finish(): RefusalCode | undefined {
    return this.#parser?.finish()?.code;
  }

  destroy(): void {
    this.#parser?.destroy();
    this.#parser = undefined;
  }

  onMessageBegin(): number {
    this.messageStart = now();
    this.headersDone = false;
    this.#headerBytes = 0;
    this.#kind = 0;
    this.#fieldCount = 0;
    return 0;
  }

  onUrl(at: number, len: number): number {
    if (this.#tooLarge(len)) return USER;
    this.#spanEnd = this.#fed + at + len;
    return 0;
  }

  onStatus(): number {
    return 0;
  }

  onHeaderField(_at: number, len: number): number {
    if (this.#tooLarge(len)) return USER;
    if (this.#kind === 1) return 0;
    this.#kind = 1;
    // node:http's maxHeadersCount, counted on the head and the trailers each.
    if (++this.#fieldCount > this.owner.server.maxHeadersCount) {
      this.#refusal = 'HPE_HEADER_OVERFLOW';
      return USER;
    }
    return 0;
  }

  onHeaderValue(at: number, len: number): number {
    if (this.#tooLarge(len)) return USER;
    this.#spanEnd = this.#fed + at + len;
    this.#kind = 2;
    return 0;
  }

  onHeadersComplete(_status: number, upgrade: boolean, keepAlive: boolean): number {
    this.#kind = 0;
    this.#fieldCount = 0;
    const parser = this.#parser!;
    // llhttp lets HTTP/2.0 and 0.9 through (node:http leaves them to the kernel's 400); refused here.
    if (parser.httpMajor !== 1 || parser.httpMinor > 1) {
      this.#refusal = 'HPE_INVALID_VERSION';
      return -1;
    }
    const raw = trimValues(parser.takeFields()); // first: the target is complete with it
    const req = new H1Request(parser.method, parser.line, parser.httpMinor, raw, this.owner.socket, this.owner);
    this.#chunked = scan(req);
    // RFC 9110 7.8: an Upgrade with a body is served as a plain request, and the connection closes after it
    // (llhttp reads nothing past it); CONNECT always switches.
    if (upgrade && (!req.hasBody || req.method === 'CONNECT')) req.upgrade = true;
    req.keepAlive = keepAlive && !upgrade;
    this.headersDone = true;
    this.#headerBytes = 0;
    this.parsing = req;
    this.#lastBody = this.#spanEnd;
    this.owner.headReady(req);
    return 0;
  }

  onBody(buf: Buffer): number {
    const req = this.parsing!;
    if (this.#chunked) {
      const at = this.#at(buf);
      if (this.#chunkGap(at)) return USER;
      this.#lastBody = at + buf.length;
    }
    if (req.discarding || (req.bodyMade && req.body.destroyed)) return 0;
    if (!req.pushBody(kept(buf, this.#shared))) this.bodyFull = true;
    return 0;
  }

  onMessageComplete(): number {
    this.#kind = 0;
    this.#fieldCount = 0;
    const req = this.parsing;
    this.parsing = undefined;
    this.messageStart = 0;
    this.bodyFull = false;
    if (req === undefined) return 0;
    const parser = this.#parser!;
    if (parser.hasFields) req.rawTrailers = trimValues(parser.takeFields());
    req.endBody();
    // An upgrade: llhttp stops here itself.
    if (req.upgrade) return 0;
    // RFC 9112 9.6: the connection's last request (Connection: close, HTTP/1.0): what follows is not read
    // (llhttp would refuse it, and node:http answer 400 in place of this request's response).
    // Pipelining: no more requests are read while enough wait their turn (nor while their answers wait for
    // the client to read them): llhttp stops here, and the rest of the chunk waits.
    this.#stop = !req.keepAlive ? 'stop' : this.owner.readAhead() ? undefined : 'yield';
    return this.#stop === undefined ? 0 : USER;
  }

  /** Where a view of the chunk being parsed starts, counted from the connection's first byte. */
  #at(view: Buffer): number {
    return this.#fed + view.byteOffset - this.#chunk.byteOffset;
  }

  /** node:http counts the target and every field name and value against maxHeaderSize (431). */
  #tooLarge(len: number): boolean {
    this.#headerBytes += len;
    if (this.#headerBytes < this.owner.server.maxHeaderSize) return false;
    this.#refusal = 'HPE_HEADER_OVERFLOW';
    return true;
  }


  /** node:http refuses more than 16 KiB of chunk extensions (413): measured as the bytes between chunks' data. */
  #chunkGap(at: number): boolean {
    if (at - this.#lastBody <= CHUNK_GAP_MAX) return false;
    this.#refusal = 'HPE_CHUNK_EXTENSIONS_OVERFLOW';
    return true;
  }
}

/** RFC 9112 5: a field value's trailing whitespace is not part of it (llhttp leaves it in). */
function trimValues(fields: string[]): string[] {
  for (let i = 1; i < fields.length; i += 2) fields[i] = trimOws(fields[i]!);
  return fields;
}

/** Bytes that outlive the read they came in: copied when that read is in the shared buffer (reads.ts). */
function kept(view: Buffer, shared: boolean): Buffer {
  return shared ? Buffer.from(view) : view;
}

/** One pass over the fields for what the engine itself needs: Host, Expect, the body's framing. True: chunked. */
function scan(req: H1Request): boolean {
  const raw = req.rawHeaders;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const len = raw[i]!.length;
    if (len !== 4 && len !== 6 && len !== 14 && len !== 17) continue;
    const name = toLowerCase(raw[i]!);
    if (name === 'host') req.hasHost = true;
    else if (name === 'expect') req.expect = raw[i + 1];
    else if (name === 'content-length') req.hasBody = raw[i + 1] !== '0';
    else if (name === 'transfer-encoding') {
      // llhttp accepts a request's Transfer-Encoding only with chunked last (RFC 9112 6.1).
      req.hasBody = true;
      chunked = true;
    }
  }
  return chunked;
}
