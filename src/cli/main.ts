/**
 * The `gatehouse` command: run | validate | schema | explain. Expected failures (bad config, port in use,
 * unreadable file) print one clear message on stderr and exit 1, never a stack trace. `run` writes everything
 * through the process log (JSON lines, or readable ones on a terminal), its start-up failures included.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { configWarnings } from '../check.js';
import { ConfigError, formatIssue } from '../config/errors.js';
import { toJsonSchema } from '../config/json-schema.js';
import { explain, formatExplanation } from '../explain.js';
import type { Logger } from 'pino';
import { configSchemaFor, createGatehouse, createLogger, loadConfig, type Gatehouse } from '../gatehouse.js';
import type { AnyPlugin } from '../plugins.js';
import { hashPassword } from '../protect/index.js';
import { configSchema } from '../schema.js';
import { loadPluginFiles, loadWithPlugins } from './plugin-files.js';
import { ListenError } from '../server/listen.js';
import { TlsConfigError } from '../tls/index.js';

const HELP: Record<string, string> = {
  main: `gatehouse — a reverse proxy and load balancer

Usage: gatehouse <command> [options]

Commands:
  run -c FILE                 run the proxy on a config file (SIGHUP reloads it)
  validate FILE...            check configs; lists every error and warning with file, line and column
  schema                      print the config's JSON Schema (for editor completion)
  explain -c FILE METHOD URL [-H 'Name: value']...
                              show which route a request matches and why, and what is sent upstream
  hash-password               read a password (prompt, or stdin when piped) and print its hash for auth.basic

run, validate, explain and schema take --plugin FILE (repeatable): a user plugin, see docs/plugins.md.
Run 'gatehouse <command> --help' for a command's options.`,
  run: `Usage: gatehouse run -c FILE [--plugin FILE]...

Runs the proxy. SIGTERM/SIGINT stop accepting and let in-flight requests finish up to shutdown.timeout;
SIGHUP reloads the file (a bad config is reported and the running one kept).

Options:
  -c, --config FILE   config file (YAML or JSON); default gatehouse.yaml
  --plugin FILE       load a user plugin (an ES module exporting it as plugin or default);
                      repeatable, run in the order given
  -h, --help          show this help`,
  validate: `Usage: gatehouse validate FILE... [--plugin FILE]...

Checks config files, each on its own: the schema, the certificate and key files they name, and warnings for
what is valid but surely not meant (an unused upstream, a shadowed route, a listener without routes).
Every error and warning is listed on stderr with file, line, column and key path; one line per file on
stdout says valid or invalid.
Exit 0 when every file is valid (warnings allowed), 1 when one is not, 2 on a usage error.
Settings of user plugins (plugins.<name>, routes[].plugins.<name>) are checked by the plugins given with
--plugin; without them, they are unknown keys.`,
  schema: `Usage: gatehouse schema [--plugin FILE]...

Prints the JSON Schema of the config on stdout. Point your editor at it, e.g. in gatehouse.yaml:
  # yaml-language-server: $schema=./gatehouse.schema.json
With --plugin, the plugins' settings are described too; without, any plugin settings are accepted.`,
  explain: `Usage: gatehouse explain -c FILE METHOD URL [-H 'Name: value']...

Shows which route matches the request and why, the rewritten path, the upstream and the headers that would
be sent upstream. The URL's host is the Host header unless -H 'Host: …' is given.

Options:
  -c, --config FILE      config file; default gatehouse.yaml
  --plugin FILE          a user plugin the config has settings for (repeatable)
  -H, --header 'N: V'    a request header (repeatable)
  -l, --listener NAME    the listener the request arrives on (default: the first)
  --json                 print the explanation as JSON`,
};

HELP['hash-password'] = `Usage: gatehouse hash-password

Reads a password (a hidden prompt on a terminal, or the first line of stdin when piped) and prints its
scrypt hash, for auth.basic.users in the config:
  auth: { basic: { users: { alice: "$scrypt$ln=15,r=8,p=1$…" } } }`;

class UsageError extends Error {}

/** `--plugin FILE`, repeatable (docs/plugins.md). */
const PLUGIN = { type: 'string', multiple: true } as const;

function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((resolve, reject) => {
      let data = '';
      stdin.setEncoding('utf8');
      stdin.on('data', (c: string) => { data += c; });
      stdin.on('end', () => resolve(data.split(/\r?\n/)[0] ?? ''));
      stdin.on('error', reject);
    });
  }
  process.stderr.write('Password: ');
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  return new Promise((resolve) => {
    let pw = '';
    const onData = (c: string): void => {
      for (const ch of c) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(pw);
        }
        if (ch === '\u0003') process.exit(130);
        if (ch === '\u007f') pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

async function cmdHashPassword(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(HELP['hash-password']!), 0;
  const pw = await readPassword();
  if (!pw) throw new UsageError('empty password');
  out(await hashPassword(pw));
  return 0;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** What a failure says: every config error (and their count, as `validate` prints them), or the message. */
function errorText(err: unknown): string {
  if (err instanceof ConfigError) return `${err.message}${err.issues.length > 1 ? `\n${err.issues.length} errors in config` : ''}`;
  return (err as Error).message ?? String(err);
}

/** Everything `run` says after it starts, Node's own warnings included, goes through the process log. */
function handleProcessEvents(gh: Gatehouse, file: string, log: Logger, plugins: readonly AnyPlugin[]): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${signal}: finishing in-flight requests (up to ${gh.config.shutdown.timeout} ms)`);
    gh.stop().then(() => process.exit(0), (err: unknown) => {
      log.error(`stop failed: ${errorText(err)}`);
      process.exit(1);
    });
  };
  // A bug in one request must not take every other one down: log it and keep serving.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.removeAllListeners('warning');
  process.on('warning', (w) => log.warn({ warning: w.name }, w.message));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    loadConfig(file, { plugins }).then((c) => gh.reload(c)).then(
      () => { log.level = gh.config.log.level; },
      (err: unknown) => log.error({ file }, `reload failed, keeping the running config:\n${errorText(err)}`),
    );
  });
}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c', default: 'gatehouse.yaml' }, plugin: PLUGIN, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(HELP.run!), 0;
  const file = values.config!;
  // Until the config names its own level and format, the process log has the defaults.
  let log = createLogger({ level: 'info' });
  let gh: Gatehouse;
  let plugins: readonly AnyPlugin[];
  try {
    const loaded = await loadWithPlugins(file, values.plugin);
    plugins = loaded.plugins;
    log = createLogger(loaded.config.log);
    gh = createGatehouse(loaded.config, { configPath: file, logger: log, plugins });
    await gh.start();
  } catch (err) {
    log.fatal(errorText(err));
    return 1;
  }
  handleProcessEvents(gh, file, log, plugins);
  return new Promise<number>(() => {}); // runs until a signal
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
      listener: { type: 'string', short: 'l' }, json: { type: 'boolean' }, plugin: PLUGIN, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return out(HELP.explain!), 0;
  const [method, url] = positionals;
  if (!method || !url) throw new UsageError('explain needs METHOD and URL, e.g. gatehouse explain -c gatehouse.yaml GET http://localhost:8080/api/users');
  const headers = (values.header ?? []).map((h): [string, string] => {
    const i = h.indexOf(':');
    if (i < 1) throw new UsageError(`-H expects 'Name: value', got '${h}'`);
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()];
  });
  const { config } = await loadWithPlugins(values.config!, values.plugin);
  if (values.listener && !config.listeners.some((l) => l.name === values.listener)) throw new UsageError(`no listener named "${values.listener}"`);
  const e = await explain(config, { method, url, headers, ...(values.listener ? { listener: values.listener } : {}) });
  out(values.json ? JSON.stringify(e, null, 2) : formatExplanation(e));
  return 0;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run': return await cmdRun(rest);
      case 'validate': return await cmdValidate(rest);
      case 'schema': return await cmdSchema(rest);
      case 'explain': return await cmdExplain(rest);
      case 'hash-password': return await cmdHashPassword(rest);
      case '--version': case '-v': return out(version()), 0;
      case undefined: case '--help': case '-h': case 'help': return out(HELP.main!), 0;
      default: throw new UsageError(`unknown command "${cmd}"\n\n${HELP.main}`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${errorText(err)}\n`);
    } else if (err instanceof UsageError || err instanceof ListenError || err instanceof TlsConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    } else {
      process.stderr.write(`gatehouse: ${(err as Error).message ?? String(err)}\n`);
    }
    return 1;
  }
}
