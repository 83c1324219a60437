#!/usr/bin/env node
// Entry point of the `gatehouse` command: runs the compiled CLI in dist/ (shipped in the npm package; in a
// clone of the repository `npm start`, `npm test` and `npm run build` build it).
// SIGHUP and SIGUSR2 would end the process while the CLI loads: until `run` handles them, they do nothing.
for (const signal of ['SIGHUP', 'SIGUSR2']) process.on(signal, () => {});
const main = await import('../dist/cli/main.js').then((m) => m.main, (err) => {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('gatehouse: dist/ is missing: run "npm run build" in the repository first\n');
    process.exit(1);
  }
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { process.stderr.write(`gatehouse: ${err instanceof Error ? err.message : String(err)}\n`); process.exitCode = 1; },
);
