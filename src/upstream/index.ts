/**
 * Upstream: undici pools per server, the forwarding hot path, header rewriting both ways, and the mapping
 * of undici errors to the proxy's 502/504. The kernel calls `forward` for routes with a `proxy` action;
 * the Selector (balance/) is injected by the composition root.
 */
export { forward, type ForwardRoute } from './forward.js';
export { hashKeyOf, type UpstreamRuntime, type Affinity } from './pool.js';
export type { MirrorTarget } from './mirror.js';
export { hiddenResponseHeaders, upstreamRequestHeaders, clientResponseHeaders } from './headers.js';
export { fromUndici } from './undici-errors.js';
export * from './schema.js';
export { createRegistry, type Registry, type RegistryDeps } from './registry.js';
export { fetchUpstream, type FetchRoute } from './fetch.js';
export { proxyWebSocket, type WebSocketRoute } from './websocket.js';
