import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { isEngineError } from '../../core/errors.ts';
import { withTempDir } from '../../snapshots/testing.ts';
import { checksumSources, resolveCopySources } from './checksum.ts';

function tree(dir: string): void {
  mkdirSync(join(dir, 'app/lib'), { recursive: true });
  writeFileSync(join(dir, 'app/main.js'), 'main');
  writeFileSync(join(dir, 'app/lib/util.js'), 'util');
  writeFileSync(join(dir, 'package.json'), '{}');
  writeFileSync(join(dir, 'yarn.lock'), '');
  symlinkSync('main.js', join(dir, 'app/entry'));
  chmodSync(join(dir, 'app/main.js'), 0o644);
}

async function sum(dir: string, patterns: string[], owner: { uid: number; gid: number } | undefined = { uid: 0, gid: 0 }) {
  return checksumSources(resolveCopySources(dir, patterns), { owner });
}

test('labels have Docker\'s shapes and the digest is stable', async () => {
  await withTempDir(async (dir) => {
    tree(dir);
    const file = await sum(dir, ['package.json']);
    assert.match(file.label, /^file:[0-9a-f]{64}$/);
    assert.match(file.digest, /^sha256:[0-9a-f]{64}$/);
    assert.match((await sum(dir, ['app'])).label, /^dir:[0-9a-f]{64}$/);
    const multi = await sum(dir, ['package.json', 'yarn.lock']);
    assert.match(multi.label, /^multi:[0-9a-f]{64}$/);
    assert.deepEqual(multi.sources.map((s) => s.path), ['package.json', 'yarn.lock']);
    assert.deepEqual(await sum(dir, ['app']), await sum(dir, ['app']));
  });
});

test('times do not change the checksum; content, mode, owner, link targets and names do', async () => {
  await withTempDir(async (dir) => {
    tree(dir);
    const before = (await sum(dir, ['app'])).digest;
    utimesSync(join(dir, 'app/main.js'), new Date('2001-01-01'), new Date('2001-01-01'));
    assert.equal((await sum(dir, ['app'])).digest, before, 'mtime is ignored');

    writeFileSync(join(dir, 'app/main.js'), 'main2');
    const content = (await sum(dir, ['app'])).digest;
    assert.notEqual(content, before);

    chmodSync(join(dir, 'app/main.js'), 0o755);
    const mode = (await sum(dir, ['app'])).digest;
    assert.notEqual(mode, content);

    assert.notEqual((await sum(dir, ['app'], { uid: 1000, gid: 1000 })).digest, mode, '--chown changes it');

    rmSync(join(dir, 'app/entry'));
    symlinkSync('lib/util.js', join(dir, 'app/entry'));
    const link = (await sum(dir, ['app'])).digest;
    assert.notEqual(link, mode);

    renameSync(join(dir, 'app/lib/util.js'), join(dir, 'app/lib/util2.js'));
    assert.notEqual((await sum(dir, ['app'])).digest, link);
  });
});

test('wildcards and symlinked sources resolve before summing', async () => {
  await withTempDir(async (dir) => {
    tree(dir);
    symlinkSync('app', join(dir, 'alias'));
    const viaLink = await sum(dir, ['alias']);
    const direct = await sum(dir, ['app']);
    assert.equal(viaLink.label, direct.label, 'a symlinked source is copied as what it points to');
    const star = await sum(dir, ['*.json', 'yarn.*']);
    assert.equal(star.label, (await sum(dir, ['package.json', 'yarn.lock'])).label);
  });
});

test('missing sources are reported with Docker\'s messages', async () => {
  await withTempDir(async (dir) => {
    tree(dir);
    assert.throws(() => resolveCopySources(dir, ['nope.txt']), (e: unknown) => isEngineError(e, 'invalid-parameter') && e.message === 'file not found in build context or excluded by .dockerignore: stat nope.txt: file does not exist');
    assert.throws(() => resolveCopySources(dir, ['*.nothing']), /^EngineError: no source files were specified$/);
    assert.deepEqual(resolveCopySources(dir, ['*.nothing', 'yarn.lock']).map((s) => s.path), ['yarn.lock']);
    assert.throws(() => resolveCopySources(dir, ['[']), /syntax error in pattern: \[/);
  });
});
