/**
 * Plugins hook named phases of the request pipeline (Pingora-style). A plugin is created once per config
 * generation; for each route it may return the hooks that apply to that route, so the pipeline of a route
 * holds only the work that route needs. Built-in capabilities and user plugins use this same interface.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { RequestCtx } from './context.js';
import type { ProxyError } from './errors.js';
import type { Peer } from './services.js';

/** A value, or a promise of one. */
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

/** What an `upstreamPeer` hook chooses from: the route's upstream and the servers it has. */
export interface PeerChoice {
  /** The upstream's name (`routes[].proxy.upstream`). */
  readonly upstream: string;
  /** Every server of the upstream, up or not (`peer.up`), in config order. */
  readonly peers: readonly Peer[];
  /** Servers already tried for this request (a retry), or undefined on the first attempt. */
  readonly tried: ReadonlySet<Peer> | undefined;
}

/**
 * The phases a plugin may hook, in the order a request meets them. Within a phase, hooks run in plugin order
 * (see docs/plugins.md). Only `earlyRequestFilter` and `requestFilter` may return a promise; the others are
 * synchronous.
 */
export interface Phases {
  /** On accept, before anything is read: false closes the socket (connection caps). Synchronous. */
  connectionFilter(socket: import('node:net').Socket): boolean;
  /**
   * Headers parsed, before routing (`ctx.route` is unset): request id, client address, size limits. Only
   * `global` hooks run here. undefined continues; a Reply is sent at once (through `responseFilter`); a throw
   * takes the error path (a ProxyError's status, else 500 GH_INTERNAL).
   */
  earlyRequestFilter(ctx: RequestCtx): Awaitable<Verdict>;
  /**
   * After routing set `ctx.route`, before the route's action: auth, rate limits, direct answers.
   * undefined continues; the first Reply is sent (later hooks and the action do not run); a throw takes the
   * error path.
   */
  requestFilter(ctx: RequestCtx): Awaitable<Verdict>;
  /**
   * Per attempt (retries too), on proxy routes: choose the server. Return one of `choice.peers` to send the
   * attempt there; undefined (or a server that is down or already tried) leaves the choice to the next hook,
   * then to sticky sessions and the upstream's balancer. Synchronous.
   */
  upstreamPeer(ctx: RequestCtx, choice: PeerChoice): Peer | undefined;
  /**
   * Per attempt, once the server is chosen (`ctx.peer`), before the request is sent: change `req.path` and
   * `req.headers`. The default sends the request as the route's rewrite and header settings left it.
   * Synchronous.
   */
  upstreamRequestFilter(ctx: RequestCtx, req: UpstreamRequest): void;
  /**
   * On the response head, the upstream's or the proxy's own (replies, error pages): change `res.status` and
   * `res.headers` before the client sees them. Synchronous.
   */
  responseFilter(ctx: RequestCtx, res: ResponseHead): void;
  /** On the error path, before the error page: a Reply replaces it; undefined keeps it (or the next hook's). */
  errorFilter(ctx: RequestCtx, err: ProxyError): Reply | undefined;
  /** Exactly once per request, after the response ended or failed (`err` says why). Must not throw. */
  logging(ctx: RequestCtx, err: ProxyError | undefined): void;
}

/** The hooks of one plugin, for every route (`global`) or one route (`forRoute`): any of the phases. */
export type Hooks = Partial<Phases>;

/** What a plugin gets at creation: the same services for built-in and user plugins. */
export interface AppServices {
  /** The process logger (user plugins get a child with a `plugin` field); per request, use `ctx.log`. */
  log: Logger;
  /** Directory of the config file, for resolving relative paths. */
  baseDir: string;
  /** The bound `host:port` of a listener (the real port when the config says :0), once it is open. */
  address(listener: string): string | undefined;
}

/** What `create` returns: the plugin's hooks for this config generation. */
export interface PluginInstance<R = unknown> {
  /** Hooks for every request on every route (and for requests that match no route). */
  global?: Hooks;
  /**
   * Hooks for one route, or undefined when the plugin has nothing to do there. Called once per route when the
   * config is loaded. A user plugin receives its validated `routes[].plugins.<name>` (the output of
   * `routeSchema`) and is called only for the routes that have that key; a built-in receives the whole route.
   * `index` is the route's position in `routes` (its id in logs is its name, else `routes[INDEX]`).
   */
  forRoute?(route: R, index: number): Hooks | undefined;
  /** Release resources (timers, connections); called when the generation is retired (reload, stop) or when
   * creating another plugin failed. Must tolerate a half-finished create(). */
  close?(): Awaitable<void>;
}

/**
 * A plugin: a name, its config schemas, and `create`, which returns its hooks.
 * @typeParam C the plugin-wide config (`plugins.<name>` in the config file), the output of `schema`.
 * @typeParam R the per-route config (`routes[].plugins.<name>`), the output of `routeSchema`.
 */
export interface PluginDef<C = unknown, R = unknown> {
  /** = config key (`plugins.<name>`, `routes[].plugins.<name>`) = log field `plugin`. snake_case. */
  name: string;
  /**
   * Validates `plugins.<name>`; `create` gets its output. An absent key is validated as `undefined`: give the
   * schema a `.default()`/`.optional()` when it may be left out. Without a schema, `plugins.<name>` is an
   * unknown key and `create` gets undefined. A zod 4 schema; errors carry file, line and column.
   */
  schema?: z.ZodType<C>;
  /** Validates `routes[].plugins.<name>`; `forRoute` gets its output. Without it the key is refused. */
  routeSchema?: z.ZodType<R>;
  /** Called once per config generation (at start and on every reload), before any request of it. */
  create(cfg: C, app: AppServices): Awaitable<PluginInstance<R>>;
}

/** Defines a plugin; an identity function that gives `create` and `forRoute` their types from the schemas. */
export function definePlugin<C = unknown, R = unknown>(def: PluginDef<C, R>): PluginDef<C, R> {
  return def;
}
