/** The terminal handlers that answer without an upstream: respond and redirect. Replies are built at load. */
import type { RequestCtx } from '../core/context.js';
import type { Reply } from '../core/plugin.js';
import type { RedirectConfig, RespondConfig } from './schema.js';

export function respondReply(cfg: RespondConfig): Reply {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', ...(cfg.headers ?? {}) };
  return { status: cfg.status, headers, body: Buffer.from(cfg.body) };
}

export function redirectHandler(cfg: RedirectConfig): (ctx: RequestCtx) => Reply {
  const body = Buffer.from('');
  if (!cfg.keep_query) {
    const reply: Reply = { status: cfg.status, headers: { location: cfg.to }, body };
    return () => reply;
  }
  return (ctx) => {
    const sep = cfg.to.includes('?') ? '&' : '?';
    const q = ctx.query ? sep + ctx.query.slice(1) : '';
    return { status: cfg.status, headers: { location: cfg.to + q }, body };
  };
}
