/** The proxy's own answers: replies from plugins and the error page. Nothing internal goes on the wire. */
import type { RequestCtx } from '../core/context.js';
import type { ProxyError } from '../core/errors.js';
import type { Phases, Reply, ResponseHead } from '../core/plugin.js';

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
  headers.push('x-request-id', ctx.requestId, 'content-length', String(body ? body.length : 0));
  // HTTP/2 has no Connection field (RFC 9113 8.2.2); its streams end on their own.
  if (close && ctx.req.httpVersionMajor < 2) headers.push('connection', 'close');
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

/** `{"status":502,"code":"GH_UPSTREAM_CONNECT","requestId":"…"}` — never the cause, stack or peer address. */
export function errorReply(ctx: RequestCtx, err: ProxyError): Reply {
  return errorPage(err, ctx.requestId);
}

/** The error page for `err`, outside a request context too (CONNECT, which never reaches the pipeline). */
export function errorPage(err: ProxyError, requestId: string): Reply {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store', ...err.opts.headers };
  if (err.opts.retryAfterS !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.opts.retryAfterS)));
  return { status: err.status, headers, body: `${JSON.stringify({ status: err.status, code: err.code, requestId })}\n` };
}
