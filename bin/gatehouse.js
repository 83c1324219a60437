#!/usr/bin/env node
// Entry point of the `gatehouse` command: runs the compiled CLI (npm install builds dist/ through `prepare`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { process.stderr.write(`gatehouse: ${err instanceof Error ? err.message : String(err)}\n`); process.exitCode = 1; },
);
