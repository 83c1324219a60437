// Regenerates gatehouse.schema.json and docs/configuration.md from the config schema.
import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../src/config/docs.js';
import { toJsonSchema } from '../src/config/json-schema.js';
import { configSchema } from '../src/schema.js';

const schema = toJsonSchema(configSchema);
writeFileSync(new URL('../gatehouse.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigDocs(schema));
