/**
 * `gatehouse init [--shape NAME] [-o FILE] [--force]`: writes a commented starter config for a common shape,
 * taken from the package's examples/ (each of them validated by the tests), with its `$schema` comment pointing
 * at the installed JSON Schema so that an editor completes and checks it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HELP } from './help.js';
import { UsageError } from './usage.js';

/** Shape → its example file and a few words for the message. */
export const SHAPES: Record<string, { file: string; what: string }> = {
  'single-app': { file: 'single-app.yaml', what: 'one application behind the proxy, health-checked' },
  'api-and-static': { file: 'api-and-static.yaml', what: 'an API and a cached static site on one host' },
  microservices: { file: 'microservices-by-path.yaml', what: 'services by path prefix, with an admin API' },
};

/** A failure the command reports in one line (exit 1). */
export class InitError extends Error {}

export function cmdInit(args: string[], out: (text: string) => void): number {
  const { values } = parseArgs({
    args,
    options: { shape: { type: 'string', default: 'single-app' }, output: { type: 'string', short: 'o', default: 'gatehouse.yaml' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return out(HELP.init!), 0;
  const shape = SHAPES[values.shape!];
  if (!shape) throw new UsageError(`unknown shape "${values.shape}" (choose one of: ${Object.keys(SHAPES).join(', ')})`);
  const file = values.output!;
  if (existsSync(file) && !values.force) throw new InitError(`${file} already exists: choose another name with -o, or --force to replace it`);
  const schema = fileURLToPath(new URL('../../gatehouse.schema.json', import.meta.url));
  const text = readFileSync(new URL(`../../examples/${shape.file}`, import.meta.url), 'utf8')
    .replace('$schema=../gatehouse.schema.json', `$schema=${schema}`)
    // The example's own "how to run me" line names it by its place in the package: here it is the user's file.
    .replaceAll(`examples/${shape.file}`, file);
  writeFileSync(file, text);
  out(`wrote ${file}: ${shape.what}.\nEdit its servers and hosts, then: gatehouse validate -c ${file} && gatehouse run -c ${file}`);
  return 0;
}
