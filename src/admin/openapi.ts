/** The OpenAPI 3.1 description of the admin API (`GET /openapi.json`). */

const json = (schema: object, description: string): object => ({ description, content: { 'application/json': { schema } } });
const error = { $ref: '#/components/schemas/Error' };
const errorReply = (description: string): object => json(error, description);
const param = (name: string, description: string): object => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const upstream = param('name', 'Upstream name');
const server = param('id', 'Server id, `host:port`');
const secured = { security: [{ bearer: [] }] };
const common = { 401: errorReply('Missing or wrong bearer token') };
const needsRegistry = { 501: errorReply('This build cannot change servers at run time') };

const serverSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'host:port' }, url: { type: 'string' }, weight: { type: 'integer' }, backup: { type: 'boolean' },
    up: { type: 'boolean', description: 'Taking traffic: passing active checks, not ejected, not draining' },
    health: { type: 'object', properties: { active: { type: 'boolean' }, ejectedUntil: { type: 'number' }, ejections: { type: 'integer' }, consecutiveFailures: { type: 'integer' } } },
    inflight: { type: 'integer' }, latency_ms: { type: 'number' }, draining: { type: 'boolean' }, idle: { type: 'boolean', description: 'Draining and no request in flight' },
    source: { enum: ['file', 'api', 'dns', 'servers_file'] }, sources: { type: 'array', items: { type: 'string' } },
    expires_at: { type: 'number', description: 'ms since the epoch when an API-added server with a ttl leaves unless renewed' },
    removing: { type: 'boolean', description: 'present (true) while a removed server drains before it leaves' },
  },
};
const names = { type: 'array', items: { type: 'string' } };
const change = { type: 'object', properties: { added: names, changed: names, removed: names } };

const tier = { type: 'object', properties: { bytes: { type: 'integer' }, max_bytes: { type: 'integer' }, objects: { type: 'integer' } } };
const count = { type: 'integer' };
const cacheStats = {
  type: 'object', required: ['enabled'],
  description: 'Without a cache only {"enabled": false}',
  properties: {
    enabled: { type: 'boolean' }, objects: count, bytes: { type: 'integer', description: 'Body bytes, both tiers' },
    memory: tier, disk: { oneOf: [tier, { type: 'null' }], description: 'null without a disk tier' },
    hit_ratio: { type: 'number', description: '(hits + stale + revalidated) / lookups; 0 before the first' },
    counters: { type: 'object', properties: { hits: count, misses: count, stale: count, revalidated: count, stored: count, bypass: count } },
    soft_purged: count, urls: count, tags: count, inflight_fills: count, revalidating: count,
    shared: { type: 'object', description: 'With cache.redis only: the shared tier', properties: { hits: count, misses: count, errors: count, stored: count } },
  },
};
const purgeBody = {
  type: 'object', additionalProperties: false, minProperties: 1,
  description: 'Exactly one of url, prefix or tag. URLs are absolute http(s); host case and port do not matter',
  properties: {
    url: { type: 'string', examples: ['http://example.com/a?b=1'] },
    prefix: { type: 'string', description: 'Every URL starting with this; no path = the whole host', examples: ['http://example.com/img/'] },
    tag: { type: 'string', description: 'A Surrogate-Key or Cache-Tag value' },
    soft: { type: 'boolean', description: 'Mark stale instead of removing (stale-while-revalidate still serves)' },
  },
  oneOf: [{ required: ['url'] }, { required: ['prefix'] }, { required: ['tag'] }],
};

function serverOp(summary: string, extra: Record<string, object> = {}, status = 200, what = 'The server'): object {
  return {
    ...secured, summary, parameters: [upstream, server],
    responses: { [status]: json({ $ref: '#/components/schemas/Server' }, what), ...common, 404: errorReply('Unknown upstream or server'), ...needsRegistry, ...extra },
  };
}

/** The document; `version` is the package's. */
export function openApi(version: string): object {
  return {
    openapi: '3.1.0',
    info: { title: 'Gatehouse admin API', version, description: 'Upstream servers, routes, the config in force, reloads, the cache, Prometheus metrics and the dashboard (/ui). Errors are {status, code, message}.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The value of the variable named by admin.token_env' } },
      schemas: {
        Error: { type: 'object', required: ['status', 'code', 'message'], properties: { status: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } } },
        Server: serverSchema,
        Plan: { type: 'object', properties: { routes: change, upstreams: change, drained: { type: 'array' }, added_servers: { type: 'array' } } },
      },
    },
    paths: {
      '/healthz': { get: { summary: 'The process is up (no token)', responses: { 200: json({ type: 'object' }, 'Up') } } },
      '/readyz': { get: { summary: 'Listeners bound and not stopping (no token)', responses: { 200: json({ type: 'object' }, 'Ready'), 503: json({ type: 'object' }, 'Starting or stopping') } } },
      '/openapi.json': { get: { summary: 'This document (no token)', responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1') } } },
      '/api/upstreams': {
        get: { ...secured, summary: 'Upstreams and their servers', responses: { 200: json({ type: 'object', properties: { upstreams: { type: 'array' } } }, 'Upstreams'), ...common } },
      },
      '/api/upstreams/{name}/servers': {
        post: {
          ...secured, summary: 'Add a server (with a ttl, repeating the call renews it)', parameters: [upstream],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['url'], properties: { url: { type: 'string' }, weight: { type: 'integer' }, ttl: { type: 'string', description: 'e.g. 10s' } } } } } },
          responses: {
            201: json(serverSchema, 'Added'), 200: json(serverSchema, 'Renewed'), 400: errorReply('Malformed JSON or a bad field'), ...common,
            404: errorReply('Unknown upstream'), 409: errorReply('The server is there already'), 413: errorReply('Body too large'), ...needsRegistry,
          },
        },
      },
      '/api/upstreams/{name}/servers/{id}': { delete: serverOp('Remove a server: drained first; answers once draining has begun, and it leaves when idle', {}, 202, 'The server, draining') },
      '/api/upstreams/{name}/servers/{id}/drain': { post: serverOp('Drain a server: no new requests, in-flight ones finish') },
      '/api/upstreams/{name}/servers/{id}/enable': { post: serverOp('Take a drained server back') },
      '/api/routes': { get: { ...secured, summary: 'The routes in force', responses: { 200: json({ type: 'object' }, 'Routes'), ...common } } },
      '/api/config': { get: { ...secured, summary: 'The config in force, its version and hash, and the last reload (last_reload: at, result, error, version)', responses: { 200: json({ type: 'object' }, 'Config'), ...common } } },
      '/api/cache': { get: { ...secured, summary: 'The shared cache: sizes and bounds, objects, hit ratio, counters', responses: { 200: json(cacheStats, 'Figures'), ...common } } },
      '/api/cache/purge': {
        post: {
          ...secured, summary: 'Purge cached objects by URL, URL prefix or tag (every variant, every route); soft marks them stale',
          requestBody: { required: true, content: { 'application/json': { schema: purgeBody } } },
          responses: {
            200: json({ type: 'object', properties: { purged: { type: 'integer' }, soft: { type: 'boolean' } } }, 'How many objects were purged'),
            400: errorReply('Malformed JSON, an unknown field, none or several of url/prefix/tag, a wrong type, a URL that is not http(s)'),
            ...common, 413: errorReply('Body too large'), 501: errorReply('The proxy has no cache (GH_ADMIN_NO_CACHE)'),
          },
        },
      },
      '/api/reload': {
        post: {
          ...secured, summary: 'Re-read the config file and apply it; with plan=1 only say what would change',
          parameters: [{ name: 'plan', in: 'query', required: false, schema: { enum: ['1', 'true'] } }],
          responses: {
            200: json({ type: 'object', properties: { applied: { type: 'boolean' }, version: { type: 'integer' }, plan: { $ref: '#/components/schemas/Plan' } } }, 'Reloaded or planned'),
            ...common, 409: errorReply('No config file to reload'), 422: errorReply('The file is invalid; nothing changed'),
          },
        },
      },
      '/metrics': {
        get: {
          ...secured, summary: 'Prometheus metrics: requests by route, durations and bytes, attempts per upstream server, retries, refusals by reason, connections, TLS, server health, cache lookups, config reloads (a group of workers: all of them, merged)',
          responses: { 200: { description: 'The Prometheus text format (version 0.0.4)', content: { 'text/plain': { schema: { type: 'string' } } } }, ...common },
        },
      },
      '/api/events': {
        get: {
          ...secured, summary: 'The dashboard\'s live feed: server-sent events, one `event: snapshot` a second (routes, upstreams and servers with health, requests/s, error rate, p50/p99 in ms over the last 10 s, recent 5xx requests by request id, the config version and last load); `: heartbeat` comments while a sample is late',
          responses: {
            200: { description: 'A stream of `event: snapshot` (data: one JSON object) until the client leaves or the admin API stops', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...common, 503: errorReply('Too many streams open (GH_ADMIN_TOO_MANY_STREAMS), or the admin API is stopping'),
          },
        },
      },
      '/ui': { get: { summary: 'The dashboard page (no token: it holds no data and asks for one; a wrong token sent with it is a 401)', responses: { 200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } }, 401: errorReply('A wrong token was sent') } } },
      '/ui/app.js': { get: { summary: 'The dashboard\'s script (no token)', responses: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } } } } },
      '/ui/app.css': { get: { summary: 'The dashboard\'s style sheet (no token)', responses: { 200: { description: 'CSS', content: { 'text/css': { schema: { type: 'string' } } } } } } },
      '/api/restart': {
        post: {
          ...secured, summary: 'Replace the worker processes one by one, each new one ready before the old one drains (workers: 2 or more; as SIGUSR2)',
          responses: {
            200: json({ type: 'object', properties: { workers: { type: 'integer' } } }, 'Every worker was replaced'),
            ...common, 409: errorReply('A single process (GH_ADMIN_SINGLE_PROCESS), or a new worker could not start (GH_ADMIN_RESTART_FAILED: the old ones keep serving)'),
          },
        },
      },
    },
  };
}
