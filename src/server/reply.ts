/** The proxy's own answers: replies from plugins and the error page. Nothing internal goes on the wire. */
import { STATUS_CODES } from 'node:http';
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';
import { grpcStatusFields, isGrpc } from '../core/grpc.js';
import type { Phases, Reply, ResponseHead } from '../core/plugin.js';
import { prefersHtml } from './accept.js';

/** Sends a reply the proxy makes itself; `close` ends the connection after it (draining, bad requests). */
export function sendReply(ctx: RequestCtx, reply: Reply, filters: readonly Phases['responseFilter'][], close: boolean): void {
  const res = ctx.res;
  if (res.headersSent || ctx.clientGone) return;
  const headers: string[] = [];
  if (reply.headers) {
    for (const k in reply.headers) {
      const v = reply.headers[k]!;
      if (typeof v === 'string') headers.push(k, v);
      else for (const item of v) headers.push(k, item);
    }
  }
  const body = reply.body === undefined ? undefined : typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
  const h2 = ctx.req.httpVersion === '2';
  // gRPC "Trailers-Only" (PROTOCOL-HTTP2): over HTTP/2 a head without a body ends the stream in its HEADERS frame.
  const trailersOnly = h2 && body === undefined && reply.headers?.['grpc-status'] !== undefined;
  headers.push('x-request-id', ctx.requestId);
  if (!trailersOnly) headers.push('content-length', String(body ? body.length : 0));
  // HTTP/2 has no Connection field (RFC 9113 8.2.2); its streams end on their own.
  if (close && !h2) headers.push('connection', 'close');
  const head: ResponseHead = { status: reply.status, headers };
  for (const f of filters) f(ctx, head);
  ctx.status = head.status;
  if (body) ctx.bytesOut = body.length;
  try {
    res.writeHead(head.status, head.headers);
  } catch (err) {
    // A header a filter set that node:http refuses: the connection is cut rather than the error escaping.
    ctx.log.error({ err }, 'reply headers refused');
    res.destroy();
    return;
  }
  res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

/** Reason phrases (RFC 9110 15), and nginx's 499 for a client that went away. */
export function reasonPhrase(status: number): string {
  return status === 499 ? 'Client Closed Request' : STATUS_CODES[status] ?? 'Error';
}

/** The headers of every error reply: no-store, those the error carries (WWW-Authenticate…), Retry-After. */
export function errorHeaders(err: ProxyError, contentType: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': contentType, 'cache-control': 'no-store', ...err.opts.headers };
  if (err.opts.retryAfterS !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.opts.retryAfterS)));
  return headers;
}

/**
 * The default error page: `{"status":502,"code":"GH_UPSTREAM_CONNECT","requestId":"…"}`, or a small HTML page
 * with the same facts for a client that prefers HTML (a browser). Never the cause, stack or peer address.
 */
export function errorReply(ctx: RequestCtx, err: ProxyError): Reply {
  if (isGrpc(ctx.req.header('content-type'))) return grpcErrorReply(err, ctx.requestId);
  return errorPage(err, ctx.requestId, ctx.req.header('accept'));
}

/**
 * A gRPC client reads the outcome from grpc-status, so the proxy's error is HTTP 200 with the status as a
 * Trailers-Only response (gRPC PROTOCOL-HTTP2): 502/503 → UNAVAILABLE, 504 → DEADLINE_EXCEEDED, … The message
 * is the error code and request id only.
 */
export function grpcErrorReply(err: ProxyError, requestId: string): Reply {
  const headers: Record<string, string> = { 'content-type': 'application/grpc', ...grpcStatusFields(err.status, err.code, requestId) };
  if (err.opts.headers?.['www-authenticate'] !== undefined) headers['www-authenticate'] = err.opts.headers['www-authenticate'];
  return { status: 200, headers };
}

/** The error page for `err`, outside a request context too (CONNECT, which never reaches the pipeline). */
export function errorPage(err: ProxyError, requestId: string, accept?: string): Reply {
  if (prefersHtml(accept)) {
    const headers = errorHeaders(err, 'text/html; charset=utf-8');
    headers.vary = 'accept';
    return { status: err.status, headers, body: htmlPage(err, requestId) };
  }
  const headers = errorHeaders(err, 'application/json');
  headers.vary = 'accept';
  return { status: err.status, headers, body: `${JSON.stringify({ status: err.status, code: err.code, requestId })}\n` };
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function htmlPage(err: ProxyError, requestId: string): string {
  const title = escapeHtml(`${err.status} ${reasonPhrase(err.status)}`);
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}p{color:#555}</style></head>
<body>
<h1>${title}</h1>
<p>${escapeHtml(err.code)}</p>
<p>Request ID: <code>${escapeHtml(requestId)}</code></p>
</body>
</html>
`;
}
