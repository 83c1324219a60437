/**
 * One error type for everything that ends a request early, and the catalogue of its codes.
 * The client only ever sees `{status, code, requestId}`; the cause goes to the log.
 */
export type ErrorSource = 'downstream' | 'upstream' | 'internal';

export interface ProxyErrorOptions {
  source: ErrorSource;
  /** The request may be tried again on another server (set where the error is raised). */
  retryable?: boolean;
  retryAfterS?: number;
  /** Headers the error reply carries (WWW-Authenticate, RateLimit…). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly code: `GH_${string}`,
    readonly opts: ProxyErrorOptions,
  ) {
    super(code, { cause: opts.cause });
    this.name = 'ProxyError';
  }
}

/** The catalogue: every code the proxy answers with. Documented in docs/errors.md. */
export const errors = {
  notFound: () => new ProxyError(404, 'GH_ROUTE_NOT_FOUND', { source: 'downstream' }),
  upstreamConnect: (cause: unknown) =>
    new ProxyError(502, 'GH_UPSTREAM_CONNECT', { source: 'upstream', retryable: true, cause }),
  upstreamConnectTimeout: (cause: unknown) =>
    new ProxyError(504, 'GH_UPSTREAM_CONNECT_TIMEOUT', { source: 'upstream', retryable: true, cause }),
  upstreamHeadersTimeout: (cause: unknown) =>
    new ProxyError(504, 'GH_UPSTREAM_HEADERS_TIMEOUT', { source: 'upstream', cause }),
  upstreamBodyTimeout: (cause: unknown) =>
    new ProxyError(504, 'GH_UPSTREAM_BODY_TIMEOUT', { source: 'upstream', cause }),
  upstreamReset: (cause: unknown) =>
    new ProxyError(502, 'GH_UPSTREAM_RESET', { source: 'upstream', cause }),
  upstreamProtocol: (cause: unknown) =>
    new ProxyError(502, 'GH_UPSTREAM_PROTOCOL', { source: 'upstream', cause }),
  noServer: () => new ProxyError(503, 'GH_UPSTREAM_UNAVAILABLE', { source: 'upstream', retryAfterS: 1 }),
  overloaded: () => new ProxyError(503, 'GH_UPSTREAM_OVERLOADED', { source: 'upstream', retryAfterS: 1 }),
  clientAborted: (cause?: unknown) =>
    new ProxyError(499, 'GH_CLIENT_ABORTED', { source: 'downstream', cause }),
  badRequest: (cause?: unknown) =>
    new ProxyError(400, 'GH_BAD_REQUEST', { source: 'downstream', cause }),
  accessDenied: () => new ProxyError(403, 'GH_ACCESS_DENIED', { source: 'downstream' }),
  uriTooLong: () => new ProxyError(414, 'GH_URI_TOO_LONG', { source: 'downstream' }),
  headersTooLarge: () => new ProxyError(431, 'GH_HEADERS_TOO_LARGE', { source: 'downstream' }),
  bodyTooLarge: () => new ProxyError(413, 'GH_BODY_TOO_LARGE', { source: 'downstream' }),
  bodyTimeout: () => new ProxyError(408, 'GH_BODY_TIMEOUT', { source: 'downstream' }),
  unauthorized: (headers?: Record<string, string>) => new ProxyError(401, 'GH_UNAUTHORIZED', { source: 'downstream', ...(headers ? { headers } : {}) }),
  rateLimited: (retryAfterS?: number, headers?: Record<string, string>) =>
    new ProxyError(429, 'GH_RATE_LIMITED', { source: 'downstream', ...(retryAfterS !== undefined ? { retryAfterS } : {}), ...(headers ? { headers } : {}) }),
  requestBlocked: (cause?: unknown) => new ProxyError(400, 'GH_REQUEST_BLOCKED', { source: 'downstream', cause }),
  authUnavailable: (cause?: unknown) => new ProxyError(503, 'GH_AUTH_UNAVAILABLE', { source: 'upstream', retryAfterS: 1, cause }),
  requestDenied: () => new ProxyError(403, 'GH_REQUEST_DENIED', { source: 'downstream' }),
  methodNotAllowed: () => new ProxyError(405, 'GH_METHOD_NOT_ALLOWED', { source: 'downstream', headers: { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' } }),
  shed: () => new ProxyError(503, 'GH_OVERLOADED', { source: 'internal', retryAfterS: 1 }),
  /** RFC 9111 5.2.1.7: only-if-cached, and nothing stored answers the request. */
  notCached: () => new ProxyError(504, 'GH_CACHE_MISS', { source: 'downstream' }),
  /** A WebSocket handshake on a route that does not take upgrades (`websocket: false`, respond, redirect). */
  websocketNotAllowed: () => new ProxyError(400, 'GH_WEBSOCKET_NOT_ALLOWED', { source: 'downstream' }),
  /** An Upgrade to another protocol than websocket, on a request with a body (it cannot be served as plain HTTP). */
  upgradeUnsupported: () => new ProxyError(400, 'GH_UPGRADE_UNSUPPORTED', { source: 'downstream' }),
  /** A gRPC request's `grpc-timeout` passed before its response ended (answered as DEADLINE_EXCEEDED). */
  grpcDeadline: () => new ProxyError(504, 'GH_GRPC_DEADLINE', { source: 'downstream' }),
  internal: (cause: unknown) => new ProxyError(500, 'GH_INTERNAL', { source: 'internal', cause }),
} as const;

/** Non-ProxyError throws become 500 GH_INTERNAL at the pipeline boundary. */
export function toProxyError(err: unknown): ProxyError {
  return err instanceof ProxyError ? err : errors.internal(err);
}
