/**
 * The `gatehouse` command: run | proxy | reload | validate | schema | explain | test | top | hash-password. Expected failures (bad
 * config, port in use, unreadable file) print one clear message on stderr and exit 1, usage errors exit 2,
 * never a stack trace. `run` and `proxy` write everything through the process log (JSON lines, or readable
 * ones on a terminal), their start-up failures included.
 */
import { readFileSync } from 'node:fs';
import { METHODS } from 'node:http';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { configWarnings } from '../check.js';
import { closest, ConfigError, formatIssue } from '../config/errors.js';
import { toJsonSchema } from '../config/json-schema.js';
import { explain, formatExplanation } from '../explain.js';
import { configSchemaFor, createGatehouse, createLogger, loadConfig, parseConfig, type Gatehouse } from '../gatehouse.js';
import type { AnyPlugin } from '../plugins.js';
import { configSchema, type GatehouseConfig } from '../schema.js';
import { loadPluginFiles, loadWithPlugins } from './plugin-files.js';
import { ListenError } from '../server/listen.js';
import { TlsConfigError } from '../tls/index.js';
import { HELP } from './help.js';
import { cmdReload, ReloadCommandError } from './reload.js';
import { hashPasswordFromInput, PasswordError } from './password.js';
import { flagError, proxyConfig } from './proxy.js';
import { errorText, handleProcessEvents, prepareProcess, type ProcessOptions } from './run.js';
import { USAGE_EXIT, UsageError } from './usage.js';
import cluster from 'node:cluster';
import { serveWorker, WORKER_ENV, workerCount, workerHooks } from '../workers.js';
import { runPrimary } from './primary.js';
import { cmdInit, InitError } from './init.js';
import { cmdTest } from './test-command.js';
import { cmdTop } from './top.js';

/** `--plugin FILE`, repeatable (docs/plugins.md). */
const PLUGIN = { type: 'string', multiple: true } as const;

async function cmdHashPassword(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(HELP['hash-password']!), 0;
  out(await hashPasswordFromInput());
  return 0;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

type Started = { gh: Gatehouse; events: ProcessOptions; serve?: (gh: Gatehouse) => void } | { primary(started: () => void): Promise<number> };

/** Starts the proxy and hands the process to it; a start-up failure is a fatal line of the process log. */
async function startProxy(make: () => Promise<Started>, fallback: GatehouseConfig['log']): Promise<number> {
  prepareProcess();
  // Until the config names its own level and format, the process log has the defaults.
  let log = createLogger(fallback);
  // SIGHUP and SIGUSR2 end a process that does not handle them: until the proxy's own handlers are in place
  // (the workers of a group take a while to start), they are ignored.
  let starting = true;
  const early = (signal: NodeJS.Signals) => (): void => { if (starting) log.warn({ signal }, `${signal} while starting: ignored`); };
  process.on('SIGHUP', early('SIGHUP'));
  process.on('SIGUSR2', early('SIGUSR2'));
  try {
    const made = await make();
    if ('primary' in made) return await made.primary(() => { starting = false; });
    const { gh, events } = made;
    log = events.log;
    await gh.start();
    handleProcessEvents(gh, events);
    starting = false;
    made.serve?.(gh);
  } catch (err) {
    log.fatal(errorText(err));
    return 1;
  }
  return new Promise<number>(() => {}); // runs until a signal
}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c', default: 'gatehouse.yaml' }, plugin: PLUGIN, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(HELP.run!), 0;
  const file = values.config!;
  // A worker of a group (`workers:`, forked by the primary with this same command line).
  const slot = cluster.isWorker ? process.env[WORKER_ENV] : undefined;
  const code = await startProxy(async () => {
    const { config, plugins } = await loadWithPlugins(file, values.plugin);
    const reload = (): Promise<GatehouseConfig> => loadConfig(file, { plugins: plugins as readonly AnyPlugin[] });
    if (slot === undefined && workerCount(config.workers) > 1) {
      return { primary: (started) => runPrimary({ file, config, log: createLogger(config.log).child({ primary: true }), load: reload }, started) };
    }
    if (slot === undefined) {
      const log = createLogger(config.log);
      return { gh: createGatehouse(config, { configPath: file, logger: log, plugins }), events: { log, file, reload } };
    }
    const log = createLogger(config.log).child({ worker: Number(slot) });
    const hooks = workerHooks(log, Number(slot));
    const gh = createGatehouse(config, { configPath: file, logger: log, plugins, worker: hooks });
    return { gh, events: { log, worker: true }, serve: (g: Gatehouse) => serveWorker(g, { log, reload, hooks }) };
  }, { level: 'info' });
  // A worker that could not start exits (its IPC channel to the primary would keep it alive).
  if (slot !== undefined) process.exit(code);
  return code;
}

async function cmdProxy(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' }, to: { type: 'string', multiple: true }, 'health-path': { type: 'string' }, balance: { type: 'string' },
      'print-config': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return out(HELP.proxy!), 0;
  const input = proxyConfig({ from: values.from, to: values.to, health_path: values['health-path'], balance: values.balance });
  let config: GatehouseConfig;
  try {
    config = parseConfig(input);
  } catch (err) {
    throw err instanceof ConfigError ? flagError(err) : err;
  }
  if (values['print-config']) return out(stringify(input)), 0;
  return startProxy(async () => {
    const log = createLogger(config.log);
    return { gh: createGatehouse(config, { logger: log }), events: { log } };
  }, config.log);
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/**
 * Checks one file: its errors (as `run` reports them) or warnings on stderr, its verdict on stdout
 * (`FILE: valid`, `FILE: invalid (N errors)`).
 */
async function validateFile(file: string, pluginFiles: readonly string[] | undefined): Promise<boolean> {
  try {
    const warnings = configWarnings((await loadWithPlugins(file, pluginFiles)).config);
    for (const w of warnings) process.stderr.write(`${formatIssue(w, 'warning')}\n`);
    out(`${file}: valid${warnings.length ? ` (${count(warnings.length, 'warning')})` : ''}`);
    return true;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${errorText(err)}\n`);
    out(`${file}: invalid (${count(err.issues.length, 'error')})`);
    return false;
  }
}

async function cmdValidate(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string', short: 'c', multiple: true }, plugin: PLUGIN, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`gatehouse: ${(err as Error).message}\n${HELP.validate!.split('\n')[0]}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) return out(HELP.validate!), 0;
  const files = [...positionals, ...(values.config ?? [])];
  if (!files.length) {
    process.stderr.write(`gatehouse: validate needs a FILE\n${HELP.validate!.split('\n')[0]}\n`);
    return 2;
  }
  let valid = true;
  for (const file of files) valid = (await validateFile(file, values.plugin)) && valid;
  return valid ? 0 : 1;
}

async function cmdSchema(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { plugin: PLUGIN, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(HELP.schema!), 0;
  const plugins = await loadPluginFiles(values.plugin ?? []);
  out(JSON.stringify(toJsonSchema(plugins.length ? configSchemaFor(plugins) : configSchema), null, 2));
  return 0;
}

async function cmdExplain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c', default: 'gatehouse.yaml' }, header: { type: 'string', short: 'H', multiple: true },
      listener: { type: 'string', short: 'l' }, 'client-ip': { type: 'string' }, json: { type: 'boolean' }, plugin: PLUGIN,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return out(HELP.explain!), 0;
  const [method, url, ...extra] = positionals;
  if (!method || !url) throw new UsageError('explain needs METHOD and URL, e.g. gatehouse explain -c gatehouse.yaml GET http://localhost:8080/api/users');
  if (extra.length) throw new UsageError(`explain takes one METHOD and one URL; unexpected "${extra.join(' ')}" (headers go with -H)`);
  checkMethod(method);
  const clientIp = values['client-ip'];
  if (clientIp !== undefined && isIP(clientIp) === 0) throw new UsageError(`--client-ip expects an IPv4 or IPv6 address, got "${clientIp}"`);
  const headers = (values.header ?? []).map((h): [string, string] => {
    const i = h.indexOf(':');
    if (i < 1) throw new UsageError(`-H expects 'Name: value', got '${h}'`);
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()];
  });
  const { config } = await loadWithPlugins(values.config!, values.plugin);
  if (values.listener && !config.listeners.some((l) => l.name === values.listener)) throw new UsageError(`no listener named "${values.listener}"`);
  const e = await explain(config, {
    method, url, headers, baseDir: dirname(resolve(values.config!)),
    ...(values.listener ? { listener: values.listener } : {}), ...(clientIp ? { clientIp } : {}),
  });
  out(values.json ? JSON.stringify(e, null, 2) : formatExplanation(e));
  return 0;
}

/**
 * node:http's HTTP/1.1 parser answers 400 to a method outside its list (http.METHODS), lower case included:
 * explaining such a request would describe one the server never routes.
 */
function checkMethod(method: string): void {
  if (METHODS.includes(method)) return;
  const upper = method.toUpperCase();
  const why = METHODS.includes(upper) ? `methods are case-sensitive: did you mean ${upper}?` : 'it is not one of the methods node:http knows (http.METHODS; docs/forwarding.md)';
  throw new UsageError(`the server answers 400 to the method "${method}" over HTTP/1.1: ${why}`);
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const COMMANDS: Record<string, (args: string[]) => Promise<number> | number> = {
  init: (args) => cmdInit(args, out), run: cmdRun, proxy: cmdProxy, reload: (args) => cmdReload(args, out), validate: cmdValidate, schema: cmdSchema, explain: cmdExplain, 'hash-password': cmdHashPassword,
  test: (args) => cmdTest(args, out), top: (args) => cmdTop(args, out),
};

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case '--version': case '-v': return out(version()), 0;
      case undefined: case '--help': case '-h': case 'help': return out(HELP.main!), 0;
    }
    const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!command) {
      const near = closest(cmd, Object.keys(COMMANDS));
      throw new UsageError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''}; run 'gatehouse --help' for the list`);
    }
    return await command(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${errorText(err)}\n`);
      return 1;
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const more = err instanceof UsageError ? '' : ` (see 'gatehouse ${cmd} --help')`;
      process.stderr.write(`gatehouse: ${(err as Error).message}${more}\n`);
      return USAGE_EXIT;
    }
    if (err instanceof ListenError || err instanceof TlsConfigError || err instanceof PasswordError || err instanceof ReloadCommandError || err instanceof InitError) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
    } else {
      process.stderr.write(`gatehouse: ${(err as Error).message ?? String(err)}\n`);
    }
    return 1;
  }
}
