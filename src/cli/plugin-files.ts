/**
 * `--plugin FILE` (run, validate, explain, schema): user plugins loaded from ES modules, each exporting a
 * `definePlugin(…)` as `plugin` or as the default export. Files load once; a reload (SIGHUP) re-reads the
 * config, not the plugins' code.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { loadConfig } from '../gatehouse.js';
import type { AnyPlugin } from '../plugins.js';
import type { GatehouseConfig } from '../schema.js';

function isPlugin(v: unknown): v is AnyPlugin {
  return typeof v === 'object' && v !== null && typeof (v as AnyPlugin).name === 'string' && typeof (v as AnyPlugin).create === 'function';
}

/** Imports each file (relative to the working directory) and returns its plugin, in the order given. */
export async function loadPluginFiles(files: readonly string[]): Promise<AnyPlugin[]> {
  const out: AnyPlugin[] = [];
  for (const file of files) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ERR_MODULE_NOT_FOUND' && !(err as Error).message.includes(resolve(file)) ? (err as Error).message
        : code === 'ERR_MODULE_NOT_FOUND' ? 'file not found'
          : code === 'ERR_UNKNOWN_FILE_EXTENSION' ? 'a TypeScript file needs compiling to .js, or a loader: node --import tsx'
            : (err as Error).message;
      throw new Error(`--plugin ${file}: cannot load: ${why}`, { cause: err });
    }
    const plugin = mod.plugin ?? mod.default;
    if (!isPlugin(plugin)) {
      throw new Error(`--plugin ${file}: exports no plugin (export const plugin = definePlugin({ name, create, … }), or export it as default)`);
    }
    out.push(plugin);
  }
  return out;
}

/** Loads the plugin files, then the config with them. */
export async function loadWithPlugins(file: string, pluginFiles: readonly string[] = []): Promise<{ config: GatehouseConfig; plugins: AnyPlugin[] }> {
  const plugins = await loadPluginFiles(pluginFiles);
  try {
    return { config: await loadConfig(file, { plugins }), plugins };
  } catch (err) {
    throw withPluginHint(err, plugins);
  }
}

/** Adds to each unknown plugin name in a config error which plugins are loaded, and how to load one. */
function withPluginHint(err: unknown, plugins: readonly AnyPlugin[]): unknown {
  if (!(err instanceof ConfigError)) return err;
  let hinted = false;
  const issues = err.issues.map((i): ConfigIssue => {
    if (i.path[i.path.length - 1] !== 'plugins' || !i.message.startsWith('unknown key') || i.message.includes('\u0000')) return i;
    hinted = true;
    const loaded = plugins.length ? `loaded: ${plugins.map((p) => p.name).join(', ')}` : 'no plugins are loaded';
    return { ...i, message: `${i.message}\u0000a plugin is loaded with --plugin FILE (${loaded})` };
  });
  return hinted ? new ConfigError(issues) : err;
}
