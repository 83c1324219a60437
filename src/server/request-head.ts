/** One pass over the request's raw headers: what routing, forwarding and logging need, without req.headers. */
import type { BlockList } from 'node:net';
import type { RequestCtx, RequestHead } from '../core/context.js';
import { charCodeAt, includes, indexOf, slice, startsWith, toLowerCase } from '../core/strings.js';

/** A client X-Request-Id is kept only when it looks like an id (no spaces, quotes or control characters). */
const REQUEST_ID_RE = /^[A-Za-z0-9._:+/=-]{1,200}$/;

/**
 * `name` is the field `lower` (lower-case, of the same length) in any case, read without making a lower-cased
 * copy. Field names are tokens (the parsers refuse anything else), so ASCII case is the only case there is.
 */
function isField(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = charCodeAt(name, i);
    const l = charCodeAt(lower, i);
    if (c !== l && !(l >= 97 && l <= 122 && c === l - 32)) return false;
  }
  return true;
}

export function readHead(ctx: RequestCtx): RequestHead {
  const req = ctx.req;
  const raw = req.rawHeaders;
  const head: RequestHead = {
    hostHeader: undefined, xff: undefined, xfProto: undefined, xfHost: undefined, via: undefined,
    connection: undefined, requestId: undefined, hasBody: false, contentLength: -1, chunked: false, violation: undefined, cookieLength: 0,
  };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Dispatch on length first: most fields are none of these and cost one comparison.
    switch (name.length) {
      case 4:
        if (isField(name, 'host')) {
          // RFC 9112 3.2: exactly one Host; two are a request whose target is ambiguous.
          if (head.hostHeader !== undefined) head.violation = 'several Host headers';
          head.hostHeader = raw[i + 1];
        }
        break;
      case 3:
        if (isField(name, 'via')) head.via = raw[i + 1];
        break;
      case 10:
        if (isField(name, 'connection')) head.connection = raw[i + 1];
        else if (isField(name, ':authority')) head.hostHeader ??= raw[i + 1]; // HTTP/2 (RFC 9113 8.3.1)
        break;
      case 12:
        if (isField(name, 'x-request-id')) head.requestId = raw[i + 1];
        break;
      case 6:
        if (isField(name, 'cookie')) head.cookieLength += raw[i + 1]!.length;
        break;
      case 14:
        if (isField(name, 'content-length')) {
          head.contentLength = Number(raw[i + 1]);
          if (head.contentLength !== 0) head.hasBody = true;
        }
        break;
      case 15:
        if (isField(name, 'x-forwarded-for')) head.xff = head.xff === undefined ? raw[i + 1] : `${head.xff}, ${raw[i + 1]}`;
        break;
      case 16:
        if (isField(name, 'x-forwarded-host')) head.xfHost = raw[i + 1];
        break;
      case 17:
        if (isField(name, 'transfer-encoding')) {
          head.chunked = head.hasBody = true;
          // RFC 9112 6.1: the proxy re-frames bodies, so it accepts only `chunked` alone; a coding it would
          // have to pass through (gzip, chunked) or an HTTP/1.0 message with Transfer-Encoding is refused.
          if (raw[i + 1]!.trim().toLowerCase() !== 'chunked') head.violation = 'unsupported Transfer-Encoding';
          else if (req.httpVersion === '1.0') head.violation = 'Transfer-Encoding in HTTP/1.0';
        }
        else if (isField(name, 'x-forwarded-proto')) head.xfProto = raw[i + 1];
        break;
      default:
        break;
    }
  }
  const host = head.hostHeader;
  if (host !== undefined && host !== '' && !HOST_RE.test(host)) head.violation = 'invalid Host';
  const version = req.httpVersion;
  if (version === '2') {
    // HTTP/2 (RFC 9113 8.1): a body is framed by DATA frames and Content-Length is optional; there is one
    // unless the HEADERS frame ended the stream. Of unknown length, it is streamed on like a chunked one.
    // An extended CONNECT's DATA frames are a tunnel's bytes (RFC 8441 4), not a body.
    if (!head.hasBody && head.contentLength === -1 && !req.complete && ctx.upgrade === undefined) {
      head.hasBody = true;
      head.chunked = true;
    }
  } else if (version !== '1.1' && version !== '1.0') {
    // An HTTP/1 connection claiming another major version (llhttp lets `HTTP/2.0` through).
    head.violation = 'unsupported HTTP version';
  }
  return head;
}

/** RFC 9110 7.2 / RFC 3986 3.2: host [":" port], no userinfo; an empty Host is allowed (RFC 9112 3.2). */
// RFC 3986 reg-name, as labels: an empty label (`a..b`, a leading dot, `a.b..`) is refused as nginx does, so a
// host route cannot be dodged by a spelling that backends and DNS read as the same name.
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_~!$&'()*+,;=%]+(?:\.[A-Za-z0-9\-_~!$&'()*+,;=%]+)*\.?)(?::\d{1,5})?$/;

/** `Example.COM:8080` → `example.com`; `[::1]:8080` → `[::1]`. */
export function hostName(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  let end = hostHeader.length;
  if (charCodeAt(hostHeader, 0) === 91 /* [ */) {
    end = indexOf(hostHeader, ']') + 1 || end;
  } else {
    const colon = indexOf(hostHeader, ':');
    if (colon !== -1) end = colon;
  }
  if (charCodeAt(hostHeader, end - 1) === 46 /* . */) end--;
  return toLowerCase(slice(hostHeader, 0, end));
}

/** The client's X-Request-Id when it is well-formed, else a new one from `next` (request-id.ts). */
export function requestIdFor(head: RequestHead, next: () => string): string {
  const id = head.requestId;
  return id !== undefined && REQUEST_ID_RE.test(id) ? id : next();
}

function familyOf(ip: string): 'ipv4' | 'ipv6' {
  return includes(ip, ':') ? 'ipv6' : 'ipv4';
}

export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return startsWith(ip, '::ffff:') && includes(ip, '.') ? slice(ip, 7) : ip;
}

/**
 * The client address: the socket peer, unless the peer is a trusted proxy; then the right-most
 * X-Forwarded-For entry that is not itself trusted (what nginx's real_ip_recursive does).
 */
export function clientAddress(ctx: RequestCtx, trusted: BlockList | undefined): string {
  const peer = normalizeIp(ctx.req.remoteAddress);
  if (!trusted || !peer || !trusted.check(peer, familyOf(peer))) return peer;
  ctx.trustedPeer = true;
  const xff = ctx.head.xff;
  if (!xff) return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = normalizeIp(hops[i]!.trim());
    if (!ip) continue;
    try {
      if (!trusted.check(ip, familyOf(ip))) return ip;
    } catch {
      return peer; // not an IP address: believe nothing further
    }
  }
  return peer;
}
