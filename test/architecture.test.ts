// STYLE.md's dependency rules: core imports nothing of ours; content and snapshots import only
// core, util and sys; no domain imports api, cli or engine; cli imports only client and core
// (and itself). A rule broken here is a design bug, not a style nit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function domainOf(file: string): string {
  return relative(SRC, file).split(sep)[0] ?? '';
}

const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  util: ['core'],
  sys: ['core'],
  content: ['core', 'util', 'sys'],
  snapshots: ['core', 'util', 'sys'],
  images: ['core', 'util', 'content', 'snapshots'],
  containers: ['core', 'util'],
  runtime: ['core', 'util', 'sys'],
  distribution: ['core', 'util', 'content', 'sys'],
  build: ['core', 'util', 'sys', 'content', 'snapshots', 'images', 'containers', 'runtime'],
  client: ['core'],
  // cli also packs build contexts with build/context, as the docker CLI does client-side
  cli: ['core', 'client', 'build'],
  api: ['core', 'util', 'containers', 'images', 'engine', 'runtime', 'build', 'distribution'],
  engine: ['core', 'util', 'sys', 'content', 'snapshots', 'images', 'containers', 'runtime', 'api', 'build', 'distribution'],
};

test('imports follow the dependency rules', () => {
  const broken: string[] = [];
  for (const f of files(SRC)) {
    const from = domainOf(f);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? '';
      const to = domainOf(resolve(dirname(f), spec));
      if (to === from) continue;
      const allowed = ALLOWED[from];
      assert.ok(allowed, `unknown domain ${from}`);
      if (!allowed.includes(to)) broken.push(`${relative(SRC, f)} imports ${to} (${spec})`);
    }
  }
  assert.deepEqual(broken, []);
});
