// Runs the CLI from source (what bin/gatehouse.js runs from dist/), for tests.
import { main } from '../../src/cli/main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
