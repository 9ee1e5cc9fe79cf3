// Bundle the CLI and the daemon with esbuild: two entry points sharing chunks, so a short CLI
// command loads only its own code. koffi stays external (native module). The build writes over
// dist/ in place and then removes stale chunks, so a CLI that is running keeps working.
import { build } from 'esbuild';
import { chmod, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';

const result = await build({
  entryPoints: { berth: 'src/cli/main.ts', berthd: 'src/engine/main.ts', 'berth-registry': 'src/distribution/server/main.ts' },
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
  minify: true,
  metafile: true,
  logLevel: 'warning',
});
const keep = new Set(Object.keys(result.metafile.outputs).map((p) => relative('dist', p)));
for (const f of await readdir('dist/chunks').catch(() => [])) {
  const rel = join('chunks', f);
  if (!keep.has(rel)) await rm(join('dist', rel), { force: true });
}
await chmod('dist/berth.mjs', 0o755);
await chmod('dist/berthd.mjs', 0o755);
await chmod('dist/berth-registry.mjs', 0o755);
