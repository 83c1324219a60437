/** The admin API's wire format: JSON replies, `{status, code, message}` errors, bounded JSON bodies, the bearer token. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An admin API error: the reply is `{status, code, message}` (and `errors` for an invalid config). */
export class AdminError extends Error {
  constructor(readonly status: number, readonly code: `GH_ADMIN_${string}`, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'AdminError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** A reply that is not JSON (`GET /metrics`: the Prometheus text format). */
export function sendText(res: ServerResponse, status: number, body: { contentType: string; text: string }, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.text), 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body.text);
}

export function sendError(res: ServerResponse, err: AdminError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, { status: err.status, code: err.code, message: err.message, ...err.extra }, headers);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * A check of `Authorization: Bearer TOKEN` against the token. Both sides are hashed first, so that
 * timingSafeEqual compares equal lengths and the time taken says nothing about the token's length or content.
 */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const want = digest(token);
  return (header) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    return timingSafeEqual(digest(m?.[1] ?? ''), want) && m !== null;
  };
}

/** Reads a JSON body of at most `max` bytes: 413 past it, 400 when it is not JSON. */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const tooLarge = (): AdminError => new AdminError(413, 'GH_ADMIN_BODY_TOO_LARGE', `the request body is larger than ${max} bytes (admin.max_body)`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new AdminError(400, 'GH_ADMIN_BAD_JSON', 'the request needs a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AdminError(400, 'GH_ADMIN_BAD_JSON', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}
