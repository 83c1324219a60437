/**
 * HTTP/1.1 on the wire, server side (RFC 9112): status lines, the checks every response field passes, the
 * Date field, and the answers node:http writes itself when it refuses a request, byte for byte.
 */
import { STATUS_CODES } from 'node:http';
// A field name is a token, a value holds no CR, LF, NUL nor other controls but HTAB (node:http's
// `checkIsHttpToken` and `checkInvalidHeaderChar`).
import { BAD_VALUE_RE, TOKEN_RE } from '../../core/headers.js';
import { charCodeAt, slice } from '../../core/strings.js';

/** A response field the engine refuses to send (response splitting, RFC 9112 2.2): nothing was sent. */
export class FieldError extends TypeError {
  readonly code = 'ERR_INVALID_HTTP_FIELD';
}

/** Throws a FieldError for a name that is not a token or a value with CR, LF, NUL or another control. */
export function checkField(name: string, value: string): void {
  if (!TOKEN_RE.test(name)) throw new FieldError(`invalid header name ${JSON.stringify(name)}`);
  if (BAD_VALUE_RE.test(value)) throw new FieldError(`invalid character in the value of header ${JSON.stringify(name)}`);
}

/** `HTTP/1.1 200 OK\r\n` for every status with a reason phrase, built once (the reason as node:http gives it). */
const STATUS_LINES: readonly string[] = (() => {
  const lines: string[] = [];
  for (const code in STATUS_CODES) lines[Number(code)] = `HTTP/1.1 ${code} ${STATUS_CODES[code]!}\r\n`;
  return lines;
})();

/** The status line of a response (RFC 9112 4); node:http's `unknown` as the reason of a status it does not name. */
export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `HTTP/1.1 ${status} unknown\r\n`;
}

/**
 * The Date field (RFC 9110 6.6.1) that every response carries, formatted once per second, as node:http caches
 * it. One per server: nothing process-wide.
 */
export class DateClock {
  #second = -1;
  #value = '';

  /** `Sun, 06 Nov 1994 08:49:37 GMT` for now. */
  now(): string {
    const ms = Date.now();
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#value = new Date(ms).toUTCString();
    }
    return this.#value;
  }
}

/** A request the engine refuses before anyone sees it: a parse error, a head too large, too slow. */
export type RefusalCode = string;

const refusal = (status: number): Buffer => Buffer.from(`HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\nConnection: close\r\n\r\n`, 'latin1');
const BAD_REQUEST = refusal(400);
const REFUSALS: Readonly<Record<string, Buffer>> = {
  HPE_HEADER_OVERFLOW: refusal(431),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: refusal(413),
  ERR_HTTP_REQUEST_TIMEOUT: refusal(408),
};

/**
 * What node:http writes when it refuses a request and nobody listens for 'clientError' (its socketOnError):
 * 431 for a head past the size limit, 413 for chunk extensions past theirs, 408 for a head or request too slow,
 * 400 for anything its parser refuses. The connection closes after it.
 */
export function refusalBytes(code: RefusalCode): Buffer {
  return REFUSALS[code] ?? BAD_REQUEST;
}

/** A field value without the trailing spaces and tabs llhttp leaves in it (RFC 9112 5: OWS is not part of it). */
export function trimOws(value: string): string {
  let end = value.length;
  while (end > 0) {
    const c = charCodeAt(value, end - 1);
    if (c !== 32 && c !== 9) break;
    end--;
  }
  return end === value.length ? value : slice(value, 0, end);
}
