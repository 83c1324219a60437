/**
 * Plugins hook named phases of the request pipeline (Pingora-style). A plugin is created once per config;
 * for each route it may return the hooks that apply to that route, so the pipeline of a route holds only
 * the work that route needs.
 */
import type { Logger } from 'pino';
import type { RequestCtx } from './context.js';
import type { ProxyError } from './errors.js';

export type Awaitable<T> = T | Promise<T>;

/** A reply the proxy makes itself (respond, redirect, auth challenge…). */
export interface Reply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

/** undefined = continue; a Reply = answer now. */
export type Verdict = Reply | undefined;

/** The request about to be sent upstream; filters may change it. Headers are a flat [name, value, …] list. */
export interface UpstreamRequest {
  method: string;
  path: string;
  headers: string[];
}

/** The response head about to be sent to the client. Headers are a flat [name, value, …] list. */
export interface ResponseHead {
  status: number;
  headers: string[];
}

export interface Phases {
  /** On accept, before anything is read: false closes the socket (connection caps). Synchronous. */
  connectionFilter(socket: import('node:net').Socket): boolean;
  /** Headers parsed, before routing: request id, client address, size limits. */
  earlyRequestFilter(ctx: RequestCtx): Awaitable<Verdict>;
  /** After routing set `ctx.route`: auth, rate limits, cache hits. */
  requestFilter(ctx: RequestCtx): Awaitable<Verdict>;
  /** Per attempt, before the request is sent: rewrite path and headers. Synchronous. */
  upstreamRequestFilter(ctx: RequestCtx, req: UpstreamRequest): void;
  /** On the response head (upstream or the proxy's own): header changes. Synchronous. */
  responseFilter(ctx: RequestCtx, res: ResponseHead): void;
  /** Replace the default error reply; undefined keeps it. */
  errorFilter(ctx: RequestCtx, err: ProxyError): Reply | undefined;
  /** Exactly once per request, after the response ended or failed. Must not throw. */
  logging(ctx: RequestCtx, err: ProxyError | undefined): void;
}

export type Hooks = Partial<Phases>;

/** What a plugin gets at creation. */
export interface AppServices {
  log: Logger;
  /** Directory of the config file, for resolving relative paths. */
  baseDir: string;
  /** The bound `host:port` of a listener (the real port when the config says :0), once it is open. */
  address(listener: string): string | undefined;
}

export interface PluginInstance<R = unknown> {
  /** Hooks for every request on every route (and for requests that match no route). */
  global?: Hooks;
  /** Hooks for one route (R is the route config type), or undefined when the plugin has nothing to do there. */
  forRoute?(route: R, index: number): Hooks | undefined;
  /** Release resources; must tolerate a half-finished create(). */
  close?(): Awaitable<void>;
}

export interface PluginDef<C, R = unknown> {
  /** = config key = log field `plugin`. */
  name: string;
  create(cfg: C, app: AppServices): Awaitable<PluginInstance<R>>;
}

export function definePlugin<C, R = unknown>(def: PluginDef<C, R>): PluginDef<C, R> {
  return def;
}
