#!/usr/bin/env node
// berth: the command line. `berth registry serve` is a long-running server with its own bundle
// (dist/berth-registry.mjs): it is started before commander and the commands are loaded, so
// the server process carries none of them. Everything else is program.ts.
const argv = process.argv;
if (argv[2] === 'registry' && argv[3] === 'serve' && !argv.includes('--help')) {
  const { fileURLToPath, pathToFileURL } = await import('node:url');
  const { dirname, join } = await import('node:path');
  const bundled = join(dirname(fileURLToPath(import.meta.url)), 'berth-registry.mjs');
  const { existsSync } = await import('node:fs');
  // From source (tsx) there is no bundle: the server's entry module then.
  const script = existsSync(bundled) ? bundled : join(dirname(fileURLToPath(import.meta.url)), '../distribution/server/main.ts');
  process.argv = [argv[0] ?? 'node', script, ...argv.slice(4)];
  await import(pathToFileURL(script).href);
} else {
  await import('./program.ts');
}
