/**
 * `gatehouse top`: live figures of a running proxy through its admin API (`GET /metrics`, `GET /api/upstreams`),
 * sampled every interval (top-figures.ts computes them). On a terminal the alternate screen is redrawn in place
 * and restored on exit (q, Ctrl-C, SIGTERM); on a pipe, one plain frame per interval; `--once` prints one frame
 * from two samples an interval apart and exits.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/units.js';
import { HELP } from './help.js';
import { parsePromText } from './prom-text.js';
import { figures, type Frame, type Snapshot } from './top-figures.js';
import { UsageError } from './usage.js';

/** A failure the command reports as one message and exit 1 (unreachable, 401, not a Gatehouse admin API). */
export class TopError extends Error {}

const DEFAULT_ADMIN = 'http://127.0.0.1:9901';
const DEFAULT_TOKEN_ENV = 'GATEHOUSE_ADMIN_TOKEN';

interface TopOptions { admin: string; token: string | undefined; tokenEnv: string; intervalMs: number; once: boolean }

function options(args: string[]): TopOptions | undefined {
  const { values } = parseArgs({
    args,
    options: {
      admin: { type: 'string', default: DEFAULT_ADMIN }, 'token-env': { type: 'string' }, interval: { type: 'string', default: '1s' },
      once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const admin = values.admin!.replace(/\/+$/, '');
  if (!URL.canParse(admin) || !/^https?:$/.test(new URL(admin).protocol)) throw new UsageError(`--admin expects a URL such as ${DEFAULT_ADMIN}, got "${admin}"`);
  const intervalMs = parseDuration(values.interval!);
  if (intervalMs === undefined || intervalMs < 100) throw new UsageError(`--interval expects a duration of 100ms or more (500ms, 1s, 5s), got "${values.interval}"`);
  const tokenEnv = values['token-env'] ?? DEFAULT_TOKEN_ENV;
  const token = process.env[tokenEnv] || undefined;
  if (values['token-env'] !== undefined && token === undefined) throw new TopError(`--token-env ${tokenEnv}: the variable is not set`);
  return { admin, token, tokenEnv, intervalMs, once: values.once ?? false };
}

async function get(opts: TopOptions, path: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${opts.admin}${path}`, { headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new TopError(`cannot reach the admin API at ${opts.admin} (${why}): is the proxy running with an admin section (admin.address)? Give its address with --admin`);
  }
  const text = await res.text();
  if (res.status === 401) {
    throw new TopError(`the admin API at ${opts.admin} refused the token (401): ${opts.token ? `${opts.tokenEnv} does not hold` : `set ${opts.tokenEnv} (or name another variable with --token-env) to`} the token the proxy was started with`);
  }
  if (res.status !== 200) throw new TopError(`the admin API at ${opts.admin} answered ${res.status} to GET ${path}: ${text.slice(0, 200).trim()}`);
  return text;
}

async function sample(opts: TopOptions): Promise<Snapshot> {
  const [metrics, upstreams] = await Promise.all([get(opts, '/metrics'), get(opts, '/api/upstreams')]);
  const at = performance.now();
  let list: Snapshot['upstreams'];
  try {
    list = (JSON.parse(upstreams) as { upstreams: Snapshot['upstreams'] }).upstreams;
    if (!Array.isArray(list)) throw new Error('no upstreams list');
  } catch {
    throw new TopError(`the admin API at ${opts.admin} answered GET /api/upstreams with something else than its JSON: is it a Gatehouse admin address?`);
  }
  return { at, samples: parsePromText(metrics), upstreams: list };
}

const ms = (s: number | undefined): string => {
  if (s === undefined) return '-';
  const v = s * 1000;
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : v >= 10 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`;
};
const rps = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(1));

/** Columns padded to their widest cell; numbers right-aligned. */
function table(head: string[], rows: string[][], right: ReadonlySet<number>): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

function renderFrame(f: Frame, opts: { admin: string; now: Date }): string {
  const head = `gatehouse top  ${opts.admin}  ${opts.now.toISOString().slice(11, 19)}  over ${f.intervalS.toFixed(1)}s${f.inflight !== undefined ? `  ${f.inflight} in flight` : ''}`;
  const routes = f.routes.length
    ? table(['ROUTE', 'UPSTREAM', 'RPS', 'ERR%', 'P50', 'P99'], f.routes.map((r) => [
      r.route || '(no route)', r.upstreams.join(',') || '-', rps(r.rps), r.errorPct === undefined ? '-' : `${r.errorPct.toFixed(1)}%`, ms(r.p50), ms(r.p99),
    ]), new Set([2, 3, 4, 5]))
    : ['no requests counted yet'];
  const servers = f.servers.length
    ? table(['UPSTREAM', 'SERVER', 'STATE', 'IN FLIGHT', 'LATENCY', 'RPS', 'P99'], f.servers.map((s) => [
      s.upstream, s.server, s.state, String(s.inflight), `${Math.round(s.latencyMs)}ms`, rps(s.rps), ms(s.p99),
    ]), new Set([3, 4, 5, 6]))
    : ['no upstream servers'];
  return [head, '', ...routes, '', ...servers, ...(f.perServer ? [] : ['(per-server rps and p99: not counted by this proxy)'])].join('\n');
}

/** Where frames go: the alternate screen of a terminal, redrawn in place, or plain frames one after another. */
interface Screen { draw(text: string): void; close(): void }

function terminalScreen(): Screen {
  const out = process.stdout;
  out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, cursor hidden
  const restore = (): void => { out.write('\x1b[?25h\x1b[?1049l'); };
  process.once('exit', restore);
  return {
    draw(text) {
      const width = out.columns || 200;
      out.write(`\x1b[H\x1b[2J${text.split('\n').map((l) => l.slice(0, width)).join('\n')}\n`);
    },
    close() {
      process.off('exit', restore);
      restore();
    },
  };
}

function plainScreen(write: (text: string) => void): Screen {
  let first = true;
  return { draw(text) { write(`${first ? '' : '\n'}${text}`); first = false; }, close() {} };
}

/** Resolves on q or Ctrl-C at the terminal, SIGINT or SIGTERM; `off` removes the listeners. */
function quitSignal(): { quit: Promise<void>; off(): void } {
  let done!: () => void;
  const quit = new Promise<void>((r) => { done = r; });
  const stdin = process.stdin;
  const key = (b: Buffer): void => { if (b[0] === 0x71 || b[0] === 0x03) done(); };
  const raw = stdin.isTTY === true;
  if (raw) {
    stdin.setRawMode(true);
    stdin.on('data', key).resume();
  }
  process.on('SIGINT', done).on('SIGTERM', done);
  return {
    quit,
    off() {
      process.off('SIGINT', done).off('SIGTERM', done);
      if (raw) {
        stdin.off('data', key).pause();
        stdin.setRawMode(false);
      }
    },
  };
}

const sleep = (msDelay: number): Promise<void> => new Promise((r) => setTimeout(r, msDelay));

async function live(opts: TopOptions, out: (text: string) => void): Promise<number> {
  let prev = await sample(opts);
  const { quit, off } = quitSignal();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  // Quitting ends the wait at once (a pending timer would hold the process for up to an interval).
  void quit.then(() => { stopped = true; clearTimeout(timer); wake?.(); });
  const screen = process.stdout.isTTY ? terminalScreen() : plainScreen(out);
  try {
    screen.draw(`gatehouse top  ${opts.admin}  sampling every ${opts.intervalMs} ms…`);
    while (!stopped) {
      await new Promise<void>((r) => { wake = r; timer = setTimeout(r, opts.intervalMs); });
      if (stopped) break;
      try {
        const cur = await sample(opts);
        screen.draw(renderFrame(figures(prev, cur), { admin: opts.admin, now: new Date() }));
        prev = cur;
      } catch (err) {
        // The proxy may be restarting: say so and keep trying.
        screen.draw(`gatehouse top  ${opts.admin}\n\n${(err as Error).message}\nretrying every ${opts.intervalMs} ms (q or Ctrl-C quits)`);
      }
    }
  } finally {
    screen.close();
    off();
  }
  return 0;
}

export async function cmdTop(args: string[], out: (text: string) => void): Promise<number> {
  const opts = options(args);
  if (!opts) return out(HELP.top!), 0;
  if (!opts.once) return live(opts, out);
  const first = await sample(opts);
  await sleep(opts.intervalMs);
  out(renderFrame(figures(first, await sample(opts)), { admin: opts.admin, now: new Date() }));
  return 0;
}
