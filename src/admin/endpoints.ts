/** The admin API's endpoints: method, path pattern, whether the token is needed, and the handler. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../config/errors.js';
import { parseDuration } from '../config/units.js';
import { RegistryError, type AdminRegistry, type AdminTarget, type ServerInfo, type UpstreamInfo } from '../core/services.js';
import { cacheStats, purgeCache } from './cache.js';
import { uiEvents, uiPage, uiScript, uiStyle, type EventHub } from './dashboard.js';
import { AdminError, readJson } from './http.js';
import { serverId } from './plan.js';

export interface Call { req: IncomingMessage; params: string[]; query: URLSearchParams; target: AdminTarget; maxBody: number; events: EventHub }
/** `text`: a reply that is not JSON (then `body` is unused), with `headers`; `stream`: the handler takes the response over. */
export interface Answer {
  status: number; body: unknown; text?: { contentType: string; text: string }; headers?: Record<string, string>; stream?: (res: ServerResponse) => void;
}
export interface Endpoint { method: string; path: RegExp; template: string; auth: boolean; handle(call: Call): Answer | Promise<Answer> }

const SERVER_URL = /^(?:https?|h2c?):\/\/[^/?#\s]+\/?$/;
const ok = (body: unknown, status = 200): Answer => ({ status, body });

async function upstreamOf(target: AdminTarget, name: string): Promise<UpstreamInfo> {
  const all = await target.upstreams();
  const u = all.find((x) => x.name === name);
  if (!u) throw new AdminError(404, 'GH_ADMIN_UNKNOWN_UPSTREAM', `no upstream "${name}" (defined: ${all.map((x) => x.name).join(', ') || 'none'})`);
  return u;
}

async function serverOf(target: AdminTarget, upstream: string, id: string): Promise<ServerInfo> {
  const all = (await upstreamOf(target, upstream)).servers;
  // A server at the same URL may have been added while an earlier one is being removed: the new one first.
  const s = all.find((x) => x.id === id && !x.removing) ?? all.find((x) => x.id === id);
  if (!s) throw new AdminError(404, 'GH_ADMIN_UNKNOWN_SERVER', `upstream "${upstream}" has no server "${id}" (servers are named host:port)`);
  return s;
}

/** A registry call: its RegistryError is a 404 (not found) or a 400 (invalid), with its message. */
async function change<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    throw err.code === 'not_found'
      ? new AdminError(404, 'GH_ADMIN_NOT_FOUND', err.message)
      : new AdminError(400, 'GH_ADMIN_BAD_REQUEST', err.message);
  }
}

function registryOf(target: AdminTarget): AdminRegistry {
  if (!target.registry) throw new AdminError(501, 'GH_ADMIN_NOT_IMPLEMENTED', 'changing servers at run time needs the upstream registry, which this build does not have yet: edit the config file and POST /api/reload');
  return target.registry;
}

interface NewServer { url: string; weight?: number; ttl?: number }

/** Checks a `POST …/servers` body: `{url, weight?, ttl?}`, nothing else. */
export function parseNewServer(body: unknown): NewServer {
  const bad = (message: string): AdminError => new AdminError(400, 'GH_ADMIN_BAD_REQUEST', message);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object such as {"url": "http://127.0.0.1:19002"}');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !['url', 'weight', 'ttl'].includes(k));
  if (unknown.length) throw bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (expected url, weight, ttl)`);
  if (typeof b.url !== 'string' || !SERVER_URL.test(b.url) || !URL.canParse(b.url)) {
    throw bad(`"url" must be an http://, https://, h2c:// or h2:// URL with a host and port and no path, e.g. http://127.0.0.1:19002 (got ${JSON.stringify(b.url ?? null)})`);
  }
  const out: NewServer = { url: b.url };
  if (b.weight !== undefined) {
    if (!Number.isInteger(b.weight) || (b.weight as number) < 1 || (b.weight as number) > 1000) throw bad('"weight" must be an integer from 1 to 1000');
    out.weight = b.weight as number;
  }
  if (b.ttl !== undefined) {
    const ms = typeof b.ttl === 'string' ? parseDuration(b.ttl) : undefined;
    if (ms === undefined || ms <= 0) throw bad('"ttl" must be a duration such as 10s, 500ms or 5m');
    out.ttl = ms;
  }
  return out;
}

async function addServer(c: Call): Promise<Answer> {
  const [name] = c.params as [string];
  await upstreamOf(c.target, name);
  const wanted = parseNewServer(await readJson(c.req, c.maxBody));
  const id = serverId(wanted.url);
  // One being removed (draining until idle) does not count: the same URL may be added again meanwhile.
  const existing = (await upstreamOf(c.target, name)).servers.find((s) => s.id === id && !s.removing);
  // Repeating a registration with a TTL renews it (a heartbeat); anything else already there is a conflict.
  if (existing && !(existing.source === 'api' && wanted.ttl !== undefined)) {
    throw new AdminError(409, 'GH_ADMIN_SERVER_EXISTS', `upstream "${name}" already has server "${id}" (from ${existing.source})`);
  }
  const registry = registryOf(c.target);
  const server = await change(() => registry.addServer(name, { ...wanted, source: 'api' }));
  return ok(server, existing ? 200 : 201);
}

function serverChange(op: 'drainServer' | 'enableServer'): (c: Call) => Promise<Answer> {
  return async (c) => {
    const [name, id] = c.params as [string, string];
    await serverOf(c.target, name, id);
    const registry = registryOf(c.target);
    return ok(await change(() => registry[op](name, id)));
  };
}

/**
 * Removes a server: answers 202 with its state as soon as draining has begun; it leaves its upstream once its
 * in-flight requests end (a long stream may take up to shutdown.timeout, which the call does not wait for).
 * Repeating the call while it drains answers the same.
 */
async function removeServer(c: Call): Promise<Answer> {
  const [name, id] = c.params as [string, string];
  const before = await serverOf(c.target, name, id);
  const registry = registryOf(c.target);
  await change(() => registry.removeServer(name, id));
  const now = (await c.target.upstreams()).find((u) => u.name === name)?.servers.find((s) => s.id === id);
  // Already gone (it had nothing in flight): its last state, draining and idle.
  return ok(now ?? { ...before, up: false, draining: true, idle: true, inflight: 0 }, 202);
}

async function reload(c: Call): Promise<Answer> {
  const plan = ['1', 'true'].includes(c.query.get('plan') ?? '');
  try {
    return ok(await c.target.reload({ plan }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const lines = err.issues.length ? err.message.split('\n') : [err.message];
    throw new AdminError(422, 'GH_ADMIN_CONFIG_INVALID', `the config file is invalid, nothing was changed: ${lines[0]}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`, { errors: lines });
  }
}

/** `POST /api/restart`: a rolling restart of the workers (cluster/primary.ts); a single process has none. */
async function restart(c: Call): Promise<Answer> {
  if (!c.target.restart) {
    throw new AdminError(409, 'GH_ADMIN_SINGLE_PROCESS', 'this proxy is one process (workers: 1): there are no workers to replace; restart the process, or run with workers: 2 or more (docs/operations.md)');
  }
  try {
    return ok(await c.target.restart());
  } catch (err) {
    throw new AdminError(409, 'GH_ADMIN_RESTART_FAILED', `the restart stopped, the workers in place keep serving: ${(err as Error).message}`);
  }
}

/** `GET /metrics`: the Prometheus text format (observe/metrics.ts). */
async function metrics(c: Call): Promise<Answer> {
  if (!c.target.metrics) throw new AdminError(501, 'GH_ADMIN_NOT_IMPLEMENTED', 'this proxy has no metrics registry');
  return { status: 200, body: undefined, text: await c.target.metrics() };
}

const SEG = '([^/]+)';
const at = (template: string): RegExp =>
  new RegExp(`^${template.replace(/\{[a-z]+\}/g, SEG)}$`);

function ep(method: string, template: string, handle: Endpoint['handle'], auth = true): Endpoint {
  return { method, path: at(template), template, auth, handle };
}

/** Every endpoint; openapi.ts describes the same list. */
export const endpoints: readonly Endpoint[] = [
  ep('GET', '/healthz', () => ok({ status: 'ok' }), false),
  ep('GET', '/readyz', (c) => (c.target.ready() ? ok({ ready: true }) : ok({ ready: false }, 503)), false),
  ep('GET', '/openapi.json', () => ok(undefined), false), // answered by server.ts
  ep('GET', '/api/upstreams', async (c) => ok({ upstreams: await c.target.upstreams() })),
  ep('POST', '/api/upstreams/{name}/servers', addServer),
  ep('POST', '/api/upstreams/{name}/servers/{id}/drain', serverChange('drainServer')),
  ep('POST', '/api/upstreams/{name}/servers/{id}/enable', serverChange('enableServer')),
  ep('DELETE', '/api/upstreams/{name}/servers/{id}', removeServer),
  ep('GET', '/api/routes', (c) => ok({ routes: c.target.routes() })),
  ep('GET', '/api/config', (c) => ok(c.target.config())),
  ep('POST', '/api/reload', reload),
  ep('POST', '/api/restart', restart),
  ep('GET', '/api/cache', cacheStats),
  ep('POST', '/api/cache/purge', purgeCache),
  ep('GET', '/metrics', metrics),
  ep('GET', '/api/events', uiEvents),
  ep('GET', '/ui', uiPage, false),
  ep('GET', '/ui/app.js', uiScript, false),
  ep('GET', '/ui/app.css', uiStyle, false),
];
