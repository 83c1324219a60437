/**
 * Plugin `error_pages`: a route's own pages for the errors the proxy answers itself (nginx `error_page`,
 * Caddy `handle_errors`). Hook: errorFilter (per route). Files are read when the config is loaded (and
 * checked by `validate`, check.ts), so a missing file fails the start or the reload, not a request.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ProxyError } from '../core/errors.js';
import { isGrpc } from '../core/grpc.js';
import { definePlugin, type Reply } from '../core/plugin.js';
import { errorHeaders, reasonPhrase } from './reply.js';
import type { ErrorPagesConfig } from './schema.js';

/** The parts of a route this plugin reads. */
export interface ErrorPagesRoute { name?: string | undefined; error_pages?: ErrorPagesConfig | undefined }

interface Page { body: string; contentType: string }

function fill(template: string, err: ProxyError, requestId: string): string {
  // The request id is [A-Za-z0-9._:+/=-] only (a client's, checked, or a generated one), so it is safe in HTML as it is.
  return template.replace(/\{(status|reason|code|request_id)\}/g, (_m, k: string) => (
    k === 'status' ? String(err.status) : k === 'reason' ? reasonPhrase(err.status) : k === 'code' ? err.code : requestId
  ));
}

/** The text of an error page file (relative to the config's directory), as the plugin reads it; throws a one-line message. */
export function readErrorPage(file: string, baseDir: string): string {
  const abs = isAbsolute(file) ? file : resolve(baseDir, file);
  try {
    return readFileSync(abs, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new Error(`cannot read ${abs}: ${why}`);
  }
}

export const errorPages = definePlugin<undefined, ErrorPagesRoute>({
  name: 'error_pages',
  create(_cfg, app) {
    return {
      forRoute(route, index) {
        if (!route.error_pages) return undefined;
        const pages = new Map<string, Page>();
        for (const [key, p] of Object.entries(route.error_pages)) {
          let body = p.body;
          if (p.file !== undefined) {
            try {
              body = readErrorPage(p.file, app.baseDir);
            } catch (err) {
              throw new Error(`routes[${index}].error_pages.${key}.file: ${(err as Error).message}`);
            }
          }
          pages.set(key, { body: body!, contentType: p.content_type });
        }
        return {
          errorFilter(ctx, err): Reply | undefined {
            // A gRPC client reads only grpc-status: the default reply gives it one.
            if (isGrpc(ctx.req.header('content-type'))) return undefined;
            const page = pages.get(String(err.status)) ?? pages.get(`${String(err.status)[0]}xx`);
            if (!page) return undefined;
            return { status: err.status, headers: errorHeaders(err, page.contentType), body: fill(page.body, err, ctx.requestId) };
          },
        };
      },
    };
  },
});
