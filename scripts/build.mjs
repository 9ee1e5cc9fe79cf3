// Bundle the CLI and the daemon with esbuild: two entry points sharing chunks, so a short CLI
// command loads only its own code. koffi stays external (native module).
import { build } from 'esbuild';
import { chmod, rm } from 'node:fs/promises';

await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: { berth: 'src/cli/main.ts', berthd: 'src/engine/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  chunkNames: 'chunks/[name]-[hash]',
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
  sourcemap: 'linked',
  minify: false,
  logLevel: 'warning',
});
await chmod('dist/berth.mjs', 0o755);
await chmod('dist/berthd.mjs', 0o755);
