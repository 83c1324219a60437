/**
 * `gatehouse proxy --from ADDR --to URL…`: a reverse proxy without a config file, as `caddy reverse-proxy`
 * gives. The flags become a config object that goes through the same validation as a file.
 */
import type { ConfigError } from '../config/errors.js';
import type { GatehouseConfigInput } from '../schema.js';
import { UsageError } from './usage.js';

type Balance = NonNullable<GatehouseConfigInput['upstreams']>[string]['balance'];

export interface ProxyFlags {
  from?: string | undefined;
  to?: string[] | undefined;
  health_path?: string | undefined;
  balance?: string | undefined;
}

/** Where `gatehouse proxy` listens without --from: this machine only (`--from :8080` opens it to the network). */
export const DEFAULT_FROM = '127.0.0.1:8080';

const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]*):(\d{1,5})$/;

function listenAddress(from: string): string {
  // Also accepted: a URL (http://host:port), as `caddy reverse-proxy --from` takes one.
  const bare = from.replace(/^http:\/\//, '').replace(/\/$/, '');
  const m = ADDRESS.exec(bare);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--from expects HOST:PORT or :PORT (all interfaces), e.g. 127.0.0.1:8080 or :8080; got "${from}"`);
  return bare;
}

function serverUrl(to: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(to) ? to : `http://${to}`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--to expects a server URL such as http://127.0.0.1:9000; got "${to}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--to takes http:// or https:// servers; got "${to}"`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username) {
    throw new UsageError(`--to takes a server (scheme, host and port), not a path: got "${to}"`);
  }
  return `${u.protocol}//${u.host}`;
}

/** The config that the flags describe: one listener, one upstream, one route for everything. */
export function proxyConfig(flags: ProxyFlags): GatehouseConfigInput {
  const to = flags.to ?? [];
  if (to.length === 0) throw new UsageError('proxy needs at least one --to, e.g. gatehouse proxy --from :8080 --to http://127.0.0.1:9000');
  const hp = flags.health_path;
  if (hp !== undefined && !hp.startsWith('/')) throw new UsageError(`--health-path expects a path such as /healthz; got "${hp}"`);
  return {
    listeners: [{ name: 'proxy', address: listenAddress(flags.from ?? DEFAULT_FROM) }],
    upstreams: {
      backend: {
        servers: to.map(serverUrl),
        ...(flags.balance !== undefined ? { balance: flags.balance as Balance } : {}),
        // A server that keeps failing real requests is set aside for a while (docs/balancing.md).
        health: { passive: {}, ...(hp !== undefined ? { active: { path: hp } } : {}) },
      },
    },
    routes: [{ name: 'proxy', proxy: { upstream: 'backend' } }],
  };
}

const FLAGS: [string, string][] = [['listeners', '--from'], ['upstreams.backend.servers', '--to'], ['upstreams.backend.balance', '--balance'], ['upstreams.backend.health.active', '--health-path']];

/** A config error in what the flags built, said in terms of the flags (`--balance: expected one of …`). */
export function flagError(err: ConfigError): UsageError {
  return new UsageError(err.issues.map((i) => {
    const path = i.path.join('.');
    const flag = FLAGS.find(([prefix]) => path.startsWith(prefix))?.[1] ?? 'proxy';
    return `${flag}: ${i.message.split('\u0000')[0]!}`;
  }).join('\n'));
}
