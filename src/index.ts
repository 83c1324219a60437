/** The library surface: `createGatehouse`, config helpers, plugin authoring types. Re-exports only. */
export {
  createGatehouse, loadConfig, parseConfig, configSchemaFor, type Gatehouse, type GatehouseOptions, type UpstreamStatus, type ServerStatus,
} from './gatehouse.js';
export type { AnyPlugin, ConfigOptions } from './plugins.js';
export { configSchema, type GatehouseConfig, type GatehouseConfigInput, type RouteConfig } from './schema.js';
export { ConfigError, type ConfigIssue } from './config/errors.js';
export { ProxyError, errors } from './core/errors.js';
export {
  definePlugin, type PluginDef, type PluginInstance, type Phases, type Hooks, type AppServices, type PeerChoice, type Awaitable,
  type Reply, type Verdict, type UpstreamRequest, type ResponseHead,
} from './core/plugin.js';
export { getHeader, setHeader, addHeader, removeHeader, cookieValue } from './core/headers.js';
export { RequestCtx, stateKey, type StateKey } from './core/context.js';
export type { DownstreamRequest, DownstreamResponse, HttpVersion } from './core/downstream.js';
export type { Peer, Selector, ServerInfo, ServerSource, ServerSpec, ServerDiff, ServerHealth, UpstreamInfo, UpstreamRegistry } from './core/services.js';
export type { CacheControl, CachePurge, CacheStats, CacheTierStats } from './core/services.js';
export { PurgeError, RegistryError } from './core/services.js';
export type { RecentError } from './core/figures.js';
