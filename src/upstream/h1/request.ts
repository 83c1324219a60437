/**
 * An upstream request's head on the wire (RFC 9112 3, 5, 6): the request line, the fields as given, and the
 * framing of the body chosen here — Content-Length for a body of known size, chunked for a stream without one.
 * Fields that frame or hold the connection are the client's own (RFC 9110 7.6.1) and never come from the
 * caller; a name or value that could split the head (CR, LF, NUL) is refused, not sent.
 */
import type { Readable } from 'node:stream';
import { BAD_VALUE_RE, TOKEN_RE } from '../../core/headers.js';
import { toLowerCase } from '../../core/strings.js';

export type RequestBody = Buffer | Readable | null;

/** How the body goes: `length` bytes as they are, 0 for none; -1: a stream of unknown length, whose head is
 * ended by `streamFraming` when it is sent. */
export interface RequestFrame {
  head: string;
  length: number;
}

export class RequestError extends Error {
  constructor(message: string, readonly code: string) { super(message); }
}

/** A request target: visible ASCII and obs-text, no space or control (RFC 9112 3.2). */
const BAD_TARGET = /[^\x21-\x7e\x80-\xff]/;

/** Methods whose request means something with a body: sent `Content-Length: 0` when they have none (RFC 9110 8.6). */
function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/** A flat [name, value, …] list of the headers given as an object (fetch callers). */
export function flatHeaders(headers: string[] | Record<string, string | string[] | undefined> | null | undefined): string[] {
  if (headers == null) return [];
  if (Array.isArray(headers)) return headers;
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (Array.isArray(v)) for (const one of v) out.push(k, one);
    else if (v !== undefined) out.push(k, v);
  }
  return out;
}

/**
 * The head for `method target` with `headers`, framed for `body`. `authority` is the Host when the caller gave
 * none (HTTP/1.1 requires one: RFC 9112 3.2). The first `checked` items of `headers` are known valid fields (an
 * HTTP/1.1 parser's, which refuses what these checks refuse, and values the proxy built from them): their names
 * and values are not tested again; every other one is.
 */
export function requestFrame(method: string, target: string, headers: readonly string[], body: RequestBody, authority: string, checked = 0): RequestFrame | RequestError {
  if (!TOKEN_RE.test(method)) return new RequestError(`invalid method ${JSON.stringify(method)}`, 'GH_H1_INVALID_REQUEST');
  if (target.length === 0 || BAD_TARGET.test(target)) return new RequestError('invalid request target', 'GH_H1_INVALID_REQUEST');
  let head = '';
  let host = '';
  let declared = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    const n = name.length;
    // Only the names this function owns are lower-cased, found by their length first.
    if (n === 4 || n === 7 || n === 10 || n === 14 || n === 17) {
      const lower = toLowerCase(name);
      if (lower === 'host') {
        if (i >= checked && BAD_VALUE_RE.test(value)) return new RequestError('invalid host', 'GH_H1_INVALID_REQUEST');
        host = `host: ${value}\r\n`; // sent first (RFC 9110 7.2)
        continue;
      }
      else if (lower === 'content-length') {
        declared = /^\d{1,15}$/.test(value) ? Number(value) : -2;
        if (declared === -2) return new RequestError('invalid content-length', 'GH_H1_INVALID_REQUEST');
        continue; // written below, once
      } else if (lower === 'transfer-encoding' || lower === 'connection' || lower === 'keep-alive' || lower === 'upgrade') continue;
    }
    if (i >= checked && (!TOKEN_RE.test(name) || BAD_VALUE_RE.test(value))) return new RequestError(`invalid header ${JSON.stringify(name)}`, 'GH_H1_INVALID_REQUEST');
    head += `${name}: ${value}\r\n`;
  }
  // Host first (RFC 9110 7.2), then the connection's fate said outright, as undici does (both engines send the
  // same bytes). After HEAD it closes: a server that sends a body anyway would otherwise have those bytes read
  // as the next request's response.
  head = `${method} ${target} HTTP/1.1\r\n${host || `host: ${authority}\r\n`}connection: ${method === 'HEAD' ? 'close' : 'keep-alive'}\r\n${head}`;
  let length: number;
  if (body === null) {
    length = 0;
    if (declared > 0) return new RequestError('content-length without a body', 'GH_H1_REQ_CONTENT_LENGTH_MISMATCH');
    if (declared === 0 || expectsBody(method)) head += 'content-length: 0\r\n';
  } else if (body instanceof Buffer) {
    if (declared >= 0 && declared !== body.length) return new RequestError('content-length does not match the body', 'GH_H1_REQ_CONTENT_LENGTH_MISMATCH');
    length = body.length;
    if (length > 0 || declared === 0 || expectsBody(method)) head += `content-length: ${length}\r\n`;
  } else if (declared >= 0) {
    length = declared;
    head += `content-length: ${declared}\r\n`;
  } else {
    return { head, length: -1 }; // framed as it goes out: streamFraming
  }
  return { head: `${head}\r\n`, length };
}

/**
 * The framing of a streamed body of undeclared length, decided as it goes out: its length when all of it has
 * arrived by then (a small chunked upload; undici does the same), else chunked (RFC 9112 7.1). Ends the head.
 */
export function streamFraming(body: Readable): { line: string; length: number } {
  body.read(0); // moves what has arrived into the buffer, and notices its end
  const state = (body as Readable & { _readableState?: { ended: boolean; objectMode: boolean; length: number } })._readableState;
  if (state !== undefined && state.ended && !state.objectMode && !body.readableEnded) return { line: `content-length: ${state.length}\r\n\r\n`, length: state.length };
  return { line: 'transfer-encoding: chunked\r\n\r\n', length: -1 };
}
