/**
 * The admin API (docs/operations.md): a node:http listener of the process's lifetime that lists and changes
 * upstream servers, lists routes, shows the config in force and reloads it, with health and readiness probes
 * and an OpenAPI description. It hooks no pipeline phase; it sees the proxy through `AdminTarget`
 * (core/services.ts), which the composition root provides.
 */
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { AdminTarget } from '../core/services.js';
import { bearerCheck } from './http.js';
import { hostOf, isLoopbackHost, type AdminConfig } from './schema.js';
import { adminHandler, listenAdmin } from './server.js';
import { createEventHub } from './dashboard.js';

export { adminSchema, type AdminConfig } from './schema.js';
export { AdminError } from './http.js';
export { createOverlay, OVERLAY_MAX_ENTRIES, type Overlay, type OverlaySummary } from './overlay.js';
export { planReload, serverId, type PlanConfig } from './plan.js';

/** A running admin API. */
export interface AdminServer {
  /** `http://host:port` it is bound to. */
  readonly url: string;
  /** Stops accepting and closes its connections. */
  close(): Promise<void>;
}

/** The check of the bearer token, from the variable `token_env` names: a ConfigError naming it when unset. */
function tokenCheck(cfg: AdminConfig, env: Readonly<Record<string, string | undefined>>): (header: string | undefined) => boolean {
  if (cfg.token_env === undefined) {
    // The schema refuses a non-loopback address without a token; checked again for a config built in code.
    if (!isLoopbackHost(hostOf(cfg.address))) {
      throw new ConfigError([{ path: ['admin', 'token_env'], message: 'the admin API on a non-loopback address needs token_env (a bearer token)' }]);
    }
    return () => true;
  }
  const token = env[cfg.token_env];
  if (!token) {
    throw new ConfigError([{ path: ['admin', 'token_env'], message: `environment variable ${cfg.token_env} (the admin API's token) is not set or empty` }]);
  }
  return bearerCheck(token);
}

/**
 * Starts the admin API on `cfg.address`. Throws a ConfigError when the token's variable is unset, and the
 * listen error when the address cannot be bound.
 */
export async function startAdmin(
  cfg: AdminConfig, target: AdminTarget,
  opts: { log: Logger; version: string; env?: Readonly<Record<string, string | undefined>> },
): Promise<AdminServer> {
  const authorized = tokenCheck(cfg, opts.env ?? process.env);
  // The dashboard's feed (GET /api/events): one sampler for this admin server, stopped with it.
  const events = createEventHub(target, { log: opts.log });
  const server = await listenAdmin(adminHandler({
    target, authorized, maxBody: cfg.max_body, log: opts.log, version: opts.version, events, origins: new Set((cfg.allowed_origins ?? []).map((o) => o.toLowerCase())),
  }), cfg.address);
  const a = server.address();
  const bound = a && typeof a === 'object' ? (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : cfg.address;
  const url = `http://${bound}`;
  opts.log.info({ admin: bound }, `admin API on ${url}${cfg.token_env ? '' : ' (no token: loopback only)'}`);
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      events.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
