/**
 * The shared HTTP cache (RFC 9111, RFC 5861 stale-*, RFC 9213 targeted fields, RFC 9211 Cache-Status):
 * routes with `cache:` get a lookup in front of their forwarding action (action.ts). The engine and its store
 * have the process's lifetime; each config generation compiles its routes' cache settings against them.
 */
export { cacheAction, type CacheAction } from './action.js';
export { createEngine, type CacheEngine, type PurgeRequest } from './engine.js';
export { normalUrl, zoneOf } from './keys.js';
export { cacheStoreSchema, compressSchema, routeCacheSchema, type CacheStoreConfig, type RouteCacheConfig } from './schema.js';
export type { CacheStore } from './store.js';
export { createCacheStore } from './tiered-store.js';
export { rangeServer } from './serve-range.js';
export { compressSettings, encoder, planEncoding, type CompressSettings } from './encode.js';
