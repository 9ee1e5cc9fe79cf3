import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isEngineError } from '../../core/errors.ts';
import { IgnoreMatcher, keepBuildFiles, readDockerignore } from './dockerignore.ts';

function matcher(text: string): IgnoreMatcher {
  return new IgnoreMatcher(readDockerignore(text));
}

test('the file is read as Docker reads it: comments, blank lines, trimming, cleaning, leading slash', () => {
  const text = '\uFEFF# comment\n\n  node_modules  \r\n/build/\n./dist\n!  keep.txt\na/../b\n #not a comment\n';
  assert.deepEqual(readDockerignore(text), ['node_modules', 'build', 'dist', '!keep.txt', 'b', '#not a comment']);
});

test('the documented examples', () => {
  const m = matcher('# comment\n*/temp*\n*/*/temp*\ntemp?\n');
  assert.equal(m.matches('somedir/temporary.txt'), true);
  assert.equal(m.matches('somedir/temp'), true);
  assert.equal(m.matches('somedir/subdir/temporary.txt'), true);
  assert.equal(m.matches('tempa'), true);
  assert.equal(m.matches('tempab'), false);
  assert.equal(m.matches('temporary.txt'), false, '*/temp* needs one directory level');
  assert.equal(m.matches('a/b/c/temp.txt'), false);
});

test('** matches any number of directories, including none', () => {
  const m = matcher('**/*.go\n');
  assert.equal(m.matches('main.go'), true);
  assert.equal(m.matches('cmd/app/main.go'), true);
  assert.equal(m.matches('main.golang'), false);
  const dir = matcher('src/**/test\n');
  assert.equal(dir.matches('src/test'), true);
  assert.equal(dir.matches('src/a/b/test/file.js'), true);
});

test('exceptions: the last matching pattern wins', () => {
  const m = matcher('*.md\n!README*.md\nREADME-secret.md\n');
  assert.equal(m.matches('CHANGES.md'), true);
  assert.equal(m.matches('README.md'), false);
  assert.equal(m.matches('README-secret.md'), true);
  assert.equal(m.hasExclusions, true);
});

test('a pattern matching a directory excludes everything inside it', () => {
  const m = matcher('node_modules\n.git\nlogs/*.log\n');
  assert.equal(m.matches('node_modules'), true);
  assert.equal(m.matches('node_modules/x/index.js'), true);
  assert.equal(m.matches('.git/HEAD'), true);
  assert.equal(m.matches('logs/a.log'), true);
  assert.equal(m.matches('logs/sub/a.log'), false);
  assert.equal(m.matches('.gitignore'), false);
  assert.equal(m.matches('.'), false, 'the context root is never excluded');
});

test('excluded directories are walked only when an exception may re-include something in them', () => {
  const m = matcher('vendor\n!vendor/keep\n');
  assert.equal(m.matches('vendor'), true);
  assert.equal(m.mayReinclude('vendor'), true);
  assert.equal(m.matches('vendor/keep'), false);
  assert.equal(m.matches('vendor/keep/file'), false);
  assert.equal(m.matches('vendor/other'), true);
  assert.equal(matcher('vendor\n!other\n').mayReinclude('vendor'), false);
});

test('matching is case-sensitive and regular-expression characters are literal', () => {
  const m = matcher('Makefile\nlib+x\n(a)\n{b}\na|b\n');
  assert.equal(m.matches('makefile'), false);
  assert.equal(m.matches('Makefile'), true);
  assert.equal(m.matches('lib+x'), true);
  assert.equal(m.matches('libbx'), false);
  assert.equal(m.matches('(a)'), true);
  assert.equal(m.matches('{b}'), true);
  assert.equal(m.matches('a|b'), true);
  assert.equal(m.matches('a'), false);
});

test('character classes, ? and escapes', () => {
  const m = matcher('file[0-9].txt\n[!a]x\n\\*star\n');
  assert.equal(m.matches('file3.txt'), true);
  assert.equal(m.matches('filea.txt'), false);
  assert.equal(m.matches('*star'), true);
  assert.equal(m.matches('xstar'), false);
});

test('malformed patterns are refused as Docker refuses them', () => {
  assert.throws(() => matcher('!\n'), (e: unknown) => isEngineError(e, 'invalid-parameter') && /illegal exclusion pattern: "!"/.test(e.message));
  assert.throws(() => matcher('[\n'), /syntax error in pattern/);
});

test('the Dockerfile and .dockerignore are always sent', () => {
  const kept = keepBuildFiles(['*', '!src'], 'Dockerfile', false);
  assert.deepEqual(kept, ['*', '!src', '!.dockerignore', '!Dockerfile']);
  const m = new IgnoreMatcher(kept);
  assert.equal(m.matches('Dockerfile'), false);
  assert.equal(m.matches('.dockerignore'), false);
  assert.equal(m.matches('other'), true);
  assert.deepEqual(keepBuildFiles(['docker'], 'docker/Dockerfile.prod', false), ['docker', '!docker/Dockerfile.prod']);
  assert.deepEqual(keepBuildFiles(['Dockerfile'], 'Dockerfile', true), ['Dockerfile'], 'not when the Dockerfile comes from stdin');
  assert.deepEqual(keepBuildFiles(['src'], 'Dockerfile', false), ['src']);
});
