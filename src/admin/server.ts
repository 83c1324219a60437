/** The admin API's listener: a node:http server of the process's lifetime, outside every config generation. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdminTarget } from '../core/services.js';
import type { EventHub } from './dashboard.js';
import { endpoints, type Endpoint } from './endpoints.js';
import { AdminError, sendError, sendJson, sendText } from './http.js';
import { openApi } from './openapi.js';
import { isLoopbackHost } from './schema.js';

interface Match { endpoint: Endpoint; params: string[] }

/** The endpoint for this method and path; a 404 or a 405 (with the allowed methods) otherwise. */
function route(method: string, path: string): Match | { allow: string[] } | undefined {
  const allow: string[] = [];
  for (const e of endpoints) {
    const m = e.path.exec(path);
    if (!m) continue;
    if (e.method === method || (method === 'HEAD' && e.method === 'GET')) {
      const params = m.slice(1).map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new AdminError(400, 'GH_ADMIN_BAD_REQUEST', `malformed percent-encoding in the path: ${p}`);
        }
      });
      return { endpoint: e, params };
    }
    allow.push(e.method === 'GET' ? 'GET, HEAD' : e.method);
  }
  return allow.length ? { allow } : undefined;
}

export interface HandlerOptions {
  target: AdminTarget; authorized(header: string | undefined): boolean; maxBody: number; log: Logger; version: string; events: EventHub;
  /** `admin.allowed_origins`, lower-cased: pages elsewhere that may call the API from a browser. */
  origins?: ReadonlySet<string>;
}

/**
 * Refuses what a browser sends on behalf of another site's page: the admin API has no cookies, but without a
 * token a page elsewhere could still make the browser POST a drain or a removal to a loopback admin API
 * (a "simple" cross-origin request needs no preflight), or, through DNS rebinding (a name of the attacker's that
 * now resolves to 127.0.0.1), read its answers. So: a request a browser marks as cross-site or same-site
 * (`Sec-Fetch-Site`, Fetch Metadata), or whose `Origin` is not this listener, is a 403; and without a token, the
 * `Host` must be a loopback name or address (a rebound name is not). Clients that are not browsers send neither.
 */
function refuseForeign(req: IncomingMessage, tokenless: boolean, allowed: ReadonlySet<string> | undefined): void {
  const forbidden = (why: string): AdminError => new AdminError(403, 'GH_ADMIN_FOREIGN_ORIGIN', `${why}: the admin API answers only its own pages and clients that are not browsers`);
  const origin = req.headers.origin;
  const host = req.headers.host ?? '';
  // A page of an origin the config allows (`admin.allowed_origins`) is not foreign; the Host rule still holds.
  if (origin === undefined || !allowed?.has(origin.toLowerCase())) {
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') throw forbidden(`a request from another site's page (Sec-Fetch-Site: ${site})`);
    // By host:port only: the admin API behind a TLS-terminating proxy sees its page's https:// origin.
    if (origin !== undefined && (!URL.canParse(origin) || new URL(origin).host !== host.toLowerCase())) throw forbidden(`a request from the page of ${origin.slice(0, 100)}`);
  }
  if (tokenless && host !== '' && !isLoopbackHost(host.replace(/:\d+$/, ''))) throw forbidden(`Host ${host.slice(0, 100)} is not a loopback name (no token is set)`);
}

async function answer(req: IncomingMessage, res: ServerResponse, o: HandlerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  refuseForeign(req, o.authorized(undefined), o.origins);
  // The token is checked before the path is looked at: without it, /api/ says nothing about what exists.
  // The dashboard's page holds no data and asks for the token itself; a token sent with it must be right all the same.
  const ui = (path === '/ui' || path.startsWith('/ui/')) && req.headers.authorization !== undefined;
  if ((path.startsWith('/api/') || path === '/metrics' || ui) && !o.authorized(req.headers.authorization)) {
    throw new AdminError(401, 'GH_ADMIN_UNAUTHORIZED', 'a valid token is required: Authorization: Bearer <the value of admin.token_env>');
  }
  const found = route(method, path);
  if (!found) throw new AdminError(404, 'GH_ADMIN_NOT_FOUND', `no admin endpoint ${path} (GET /openapi.json lists them)`);
  if ('allow' in found) {
    const allow = found.allow.join(', ');
    sendError(res, new AdminError(405, 'GH_ADMIN_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (allowed: ${allow})`), { allow });
    return;
  }
  // Each endpoint's own flag as well: one added outside /api/ with `auth: true` is not public by accident.
  if (found.endpoint.auth && !o.authorized(req.headers.authorization)) {
    throw new AdminError(401, 'GH_ADMIN_UNAUTHORIZED', 'a valid token is required: Authorization: Bearer <the value of admin.token_env>');
  }
  if (found.endpoint.template === '/openapi.json') return sendJson(res, 200, openApi(o.version));
  const out = await found.endpoint.handle({ req, params: found.params, query: url.searchParams, target: o.target, maxBody: o.maxBody, events: o.events });
  if (out.stream) return out.stream(res);
  if (out.text) sendText(res, out.status, out.text, out.headers);
  else sendJson(res, out.status, out.body);
}

/** The admin request handler; every failure is a JSON `{status, code, message}`. */
export function adminHandler(o: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    answer(req, res, o).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof AdminError) {
        // A body left unread (too large, or never read) would be parsed as the next request: close instead.
        const close: Record<string, string> = req.complete ? {} : { connection: 'close' };
        sendError(res, err, close);
        return;
      }
      o.log.error({ err }, 'admin API: request failed');
      sendError(res, new AdminError(500, 'GH_ADMIN_INTERNAL', 'internal error (see the process log)'), { connection: 'close' });
    });
  };
}

/** Binds the admin server; rejects when the address cannot be bound. */
export async function listenAdmin(handler: (req: IncomingMessage, res: ServerResponse) => void, address: string): Promise<Server> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '') || undefined;
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) => reject(new Error(`admin API: cannot listen on ${address} (admin.address): ${err.message}`, { cause: err })));
    server.listen({ host, port: Number(address.slice(i + 1)) }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  return server;
}
