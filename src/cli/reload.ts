/**
 * `gatehouse reload [--plan] -c FILE`: asks a running proxy, through its admin API, to reload its config file
 * (or, with --plan, what a reload would change). The address and the token come from the file's `admin`
 * section and the environment variable it names, so the command needs nothing the file does not say.
 */
import { parseArgs } from 'node:util';
import type { GatehouseConfig } from '../schema.js';
import { HELP } from './help.js';
import { loadWithPlugins } from './plugin-files.js';

/** What POST /api/reload answers (docs/operations.md, "Routes, config, reloads"). */
interface Changes { added: string[]; changed: string[]; removed: string[] }
interface ReloadAnswer {
  applied: boolean;
  version: number;
  plan: { routes: Changes; upstreams: Changes; drained: { upstream: string; id: string; inflight: number }[]; added_servers: { upstream: string; id: string }[] };
}

/** A failure the command reports as one message and exit 1. */
export class ReloadCommandError extends Error {}

/** The URL of the admin API a config names: a wildcard host is reached on loopback. */
export function adminUrl(address: string): string {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = address.slice(i + 1);
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function token(admin: NonNullable<GatehouseConfig['admin']>): string | undefined {
  if (!admin.token_env) return undefined;
  const value = process.env[admin.token_env];
  if (!value) throw new ReloadCommandError(`the admin API needs a token: set ${admin.token_env} (admin.token_env) to the token the proxy was started with`);
  return value;
}

const list = (xs: readonly string[]): string => (xs.length ? xs.join(', ') : '-');

/** The answer, for a person: what changed (or would), one line per kind. */
export function formatReload(a: ReloadAnswer): string {
  const p = a.plan;
  const head = a.applied ? `reloaded: config version ${a.version}` : `plan (nothing applied; config version ${a.version} in force):`;
  const none = !p.routes.added.length && !p.routes.changed.length && !p.routes.removed.length && !p.upstreams.added.length
    && !p.upstreams.changed.length && !p.upstreams.removed.length && !p.drained.length && !p.added_servers.length;
  if (none) return `${head}\nno changes`;
  const kinds = (c: Changes): string => `added ${list(c.added)}; changed ${list(c.changed)}; removed ${list(c.removed)}`;
  return [
    head,
    `routes: ${kinds(p.routes)}`,
    `upstreams: ${kinds(p.upstreams)}`,
    `servers added: ${list(p.added_servers.map((s) => `${s.upstream} ${s.id}`))}`,
    `servers drained: ${list(p.drained.map((s) => `${s.upstream} ${s.id} (${s.inflight} in flight)`))}`,
  ].join('\n');
}

async function call(url: string, bearer: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ReloadCommandError(`cannot reach the admin API at ${new URL(url).origin} (${why}): is the proxy running with this config?`);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    throw new ReloadCommandError(`the admin API at ${new URL(url).origin} answered ${res.status} with something that is not JSON: is it a Gatehouse admin address?`);
  }
}

export async function cmdReload(args: string[], out: (text: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c', default: 'gatehouse.yaml' }, plan: { type: 'boolean' }, json: { type: 'boolean' },
      plugin: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return out(HELP.reload!), 0;
  const file = values.config!;
  const { config } = await loadWithPlugins(file, values.plugin);
  if (!config.admin) throw new ReloadCommandError(`${file} has no admin section: gatehouse reload goes through the admin API (admin.address; docs/operations.md), or send the proxy SIGHUP`);
  const base = adminUrl(config.admin.address);
  const { status, body } = await call(`${base}/api/reload${values.plan ? '?plan=1' : ''}`, token(config.admin));
  if (status === 401) {
    throw new ReloadCommandError(`the admin API at ${base} refused the token (401): ${config.admin.token_env ? `${config.admin.token_env} does not hold the token the proxy was started with` : 'the proxy expects one (its admin.token_env), this file names none'}`);
  }
  if (status !== 200) {
    const errors = Array.isArray(body.errors) ? `\n${(body.errors as string[]).join('\n')}` : '';
    throw new ReloadCommandError(`the admin API at ${base} answered ${status} ${String(body.code ?? '')}: ${String(body.message ?? '')}${errors}`);
  }
  out(values.json ? JSON.stringify(body, null, 2) : formatReload(body as unknown as ReloadAnswer));
  return 0;
}
