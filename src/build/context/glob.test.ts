import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTempDir } from '../../snapshots/testing.ts';
import { BadPatternError, containsWildcards, goMatch, resolveSourcePattern, SourceNotFoundError, splitWildcards } from './glob.ts';
import { resolveInScope } from './scope.ts';

test('goMatch follows Go filepath.Match', () => {
  const cases: [string, string, boolean][] = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'ab/c', false],
    ['a*/b', 'abc/b', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['**', 'a/b', false],
    ['**/x', 'a/x', true],
    ['**/x', 'a/b/x', false],
    ['*.go', 'main.go', true],
  ];
  for (const [pattern, name, want] of cases) assert.equal(goMatch(pattern, name), want, `${pattern} ~ ${name}`);
  for (const bad of ['[', 'a[', '[^', '[a-', 'a\\', '[-]', '[x-]']) assert.throws(() => goMatch(bad, 'a'), BadPatternError, bad);
});

test('wildcards are found and split at the first component that has one', () => {
  assert.equal(containsWildcards('a/b*'), true);
  assert.equal(containsWildcards('a/\\*b'), false);
  assert.equal(containsWildcards('file[1].txt'), true);
  assert.deepEqual(splitWildcards('/src/*/x.go'), ['/src', '*/x.go']);
  assert.deepEqual(splitWildcards('/a/b'), ['/a/b', '']);
  assert.deepEqual(splitWildcards('/*.txt'), ['/', '*.txt']);
});

async function tree(dir: string): Promise<void> {
  mkdirSync(join(dir, 'src/sub'), { recursive: true });
  mkdirSync(join(dir, 'docs'));
  writeFileSync(join(dir, 'a.txt'), 'a');
  writeFileSync(join(dir, 'b.txt'), 'b');
  writeFileSync(join(dir, 'c.md'), 'c');
  writeFileSync(join(dir, 'src/main.go'), 'package main');
  writeFileSync(join(dir, 'src/sub/x.go'), 'package sub');
  writeFileSync(join(dir, 'docs/x.txt'), 'x');
  symlinkSync('src', join(dir, 'link'));
  symlinkSync('/etc', join(dir, 'abs'));
}

test('source patterns resolve as Docker resolves them', async () => {
  await withTempDir(async (dir) => {
    await tree(dir);
    const paths = (p: string): string[] => resolveSourcePattern(dir, p).map((s) => s.path);
    assert.deepEqual(paths('*.txt'), ['a.txt', 'b.txt']);
    assert.deepEqual(paths('/*.txt'), ['a.txt', 'b.txt']);
    assert.deepEqual(paths('./src/*.go'), ['src/main.go']);
    assert.deepEqual(paths('*/x.*'), ['docs/x.txt'], 'a * never crosses /');
    assert.deepEqual(paths('src/**/*.go'), ['src/sub/x.go'], '** is two stars: one level');
    assert.deepEqual(paths('s*'), ['src'], 'a matched directory is one source');
    assert.deepEqual(paths('[ab].txt'), ['a.txt', 'b.txt']);
    assert.deepEqual(paths('*.none'), []);
    assert.deepEqual(paths('.'), ['.']);
    assert.deepEqual(paths('src'), ['src']);
    assert.throws(() => resolveSourcePattern(dir, 'missing.txt'), (e: unknown) => e instanceof SourceNotFoundError && e.message === 'file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist');
  });
});

test('symlinks are followed only within the root', async () => {
  await withTempDir(async (dir) => {
    await tree(dir);
    const [viaLink] = resolveSourcePattern(dir, 'link/main.go');
    assert.equal(viaLink?.abs, join(dir, 'src/main.go'));
    assert.equal(resolveInScope(dir, 'abs/passwd'), join(dir, 'etc/passwd'), 'an absolute target is taken inside the root');
    assert.equal(resolveInScope(dir, '../../etc/passwd'), join(dir, 'etc/passwd'), '.. stops at the root');
    assert.throws(() => resolveSourcePattern(dir, 'abs/passwd'), SourceNotFoundError);
    symlinkSync('loop', join(dir, 'loop'));
    assert.throws(() => resolveInScope(dir, 'loop/x'), /too many links/);
  });
});
