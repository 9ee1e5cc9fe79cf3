import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isEngineError } from '../../core/errors.ts';
import { buildTar, treeOf, withTempDir, type TestEntry } from '../../snapshots/testing.ts';
import { openContextTar } from './open.ts';
import { readContextFromDir } from './pack.ts';

async function opened(entries: TestEntry[], options: Parameters<typeof openContextTar>[1] = {}) {
  return withTempDir(async (tmp) => {
    const ctx = await openContextTar(await buildTar(entries), { ...options, tmpDir: tmp });
    try {
      return { name: ctx.dockerfileName, text: ctx.dockerfileText, files: readdirSync(ctx.dir).sort(), dir: ctx.dir };
    } finally {
      await ctx.remove();
    }
  });
}

test('a context tar is extracted and its Dockerfile read', async () => {
  const r = await opened([
    { name: 'Dockerfile', content: 'FROM alpine\n' },
    { name: 'src/', type: 'directory' },
    { name: 'src/app.js', content: 'x' },
  ]);
  assert.equal(r.name, 'Dockerfile');
  assert.equal(r.text, 'FROM alpine\n');
  assert.deepEqual(r.files, ['Dockerfile', 'src']);
});

test('the Dockerfile may be elsewhere in the context, or lower-case; a missing or empty one is an error', async () => {
  assert.equal((await opened([{ name: 'build/Dockerfile.dev', content: 'FROM a\n' }], { dockerfile: 'build/Dockerfile.dev' })).text, 'FROM a\n');
  assert.equal((await opened([{ name: 'dockerfile', content: 'FROM b\n' }])).name, 'dockerfile');
  await assert.rejects(opened([{ name: 'x', content: 'x' }]), (e: unknown) => isEngineError(e, 'invalid-parameter') && e.message === 'Cannot locate specified Dockerfile: Dockerfile');
  await assert.rejects(opened([{ name: 'dockerfile', content: 'x' }], { dockerfile: 'Other' }), /Cannot locate specified Dockerfile: Other/);
  await assert.rejects(opened([{ name: 'Dockerfile', content: '' }]), /the Dockerfile \(Dockerfile\) cannot be empty/);
});

test('a symlinked Dockerfile is followed only within the context', async () => {
  const inside = await opened([
    { name: 'real/Dockerfile', content: 'FROM c\n' },
    { name: 'Dockerfile', type: 'symlink', linkname: 'real/Dockerfile' },
  ]);
  assert.equal(inside.text, 'FROM c\n');
  await assert.rejects(opened([{ name: 'Dockerfile', type: 'symlink', linkname: '/etc/hostname' }]), /Cannot locate specified Dockerfile/);
});

test('.dockerignore removes the Dockerfile and itself from the context after they are read', async () => {
  const r = await opened([
    { name: 'Dockerfile', content: 'FROM d\n' },
    { name: '.dockerignore', content: 'Dockerfile\n.dockerignore\n' },
    { name: 'app', content: 'a' },
  ]);
  assert.equal(r.text, 'FROM d\n');
  assert.deepEqual(r.files, ['app']);
  const kept = await opened([
    { name: 'Dockerfile', content: 'FROM d\n' },
    { name: '.dockerignore', content: '*.log\n' },
  ]);
  assert.deepEqual(kept.files, ['.dockerignore', 'Dockerfile']);
});

test('a Dockerfile given separately is used as is', async () => {
  const r = await opened([{ name: 'app', content: 'a' }], { dockerfileText: 'FROM e\n' });
  assert.equal(r.text, 'FROM e\n');
  assert.deepEqual(r.files, ['app']);
});

test('a gzipped context is accepted; entries escaping the context are refused and nothing is left behind', async () => {
  await withTempDir(async (tmp) => {
    const gz = gzipSync(await buildTar([{ name: 'Dockerfile', content: 'FROM f\n' }]));
    const ctx = await openContextTar(gz, { tmpDir: tmp });
    assert.equal(ctx.dockerfileText, 'FROM f\n');
    await ctx.remove();
    assert.equal(existsSync(ctx.dir), false);
    await assert.rejects(openContextTar(await buildTar([{ name: '../evil', content: 'x' }]), { tmpDir: tmp }), /escapes the layer root/);
    await assert.rejects(
      openContextTar(
        await buildTar([
          { name: 'link', type: 'symlink', linkname: '/tmp' },
          { name: 'link/evil', content: 'x' },
        ]),
        { tmpDir: tmp },
      ),
      /escapes/,
    );
    assert.deepEqual(readdirSync(tmp), [], 'the temporary directory is removed on failure');
  });
});

test('what readContextFromDir sends, openContextTar reads back', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'ctx/src'), { recursive: true });
    writeFileSync(join(dir, 'ctx/Dockerfile'), 'FROM g\nCOPY src /src\n');
    writeFileSync(join(dir, 'ctx/src/a.txt'), 'a');
    writeFileSync(join(dir, 'ctx/.dockerignore'), 'Dockerfile\n*.tmp\n');
    writeFileSync(join(dir, 'ctx/junk.tmp'), 'j');
    chmodSync(join(dir, 'ctx/src'), 0o755);
    chmodSync(join(dir, 'ctx/src/a.txt'), 0o644);
    chmodSync(join(dir, 'ctx/.dockerignore'), 0o644);
    mkdirSync(join(dir, 'tmp'));
    const sent = readContextFromDir(join(dir, 'ctx'));
    const ctx = await openContextTar(sent.stream, { dockerfile: sent.dockerfile, tmpDir: join(dir, 'tmp') });
    try {
      assert.equal(ctx.dockerfileText, 'FROM g\nCOPY src /src\n');
      const tree = await treeOf(ctx.dir);
      assert.deepEqual(
        tree.map((l) => l.replace(/ \d+:\d+/, '')),
        ['.dockerignore 644 x1 = Dockerfile\n*.tmp\n', 'src 755 dir', 'src/a.txt 644 x1 = a'],
        'the Dockerfile was sent, read, then dropped as .dockerignore asks',
      );
    } finally {
      await ctx.remove();
    }
  });
});
