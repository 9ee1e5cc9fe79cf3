import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { isEngineError } from '../../core/errors.ts';
import { withTempDir } from '../../snapshots/testing.ts';
import { readContextFromDir } from './pack.ts';

interface Listed {
  readonly name: string;
  readonly type: string;
  readonly mode: number;
  readonly owner: string;
  readonly linkname?: string;
  readonly content?: string;
}

async function list(stream: Readable): Promise<Listed[]> {
  const extract = tar.extract();
  stream.pipe(extract);
  const out: Listed[] = [];
  for await (const entry of extract) {
    const h = entry.header;
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.push({
      name: h.name,
      type: h.type ?? 'file',
      mode: (h.mode ?? 0) & 0o7777,
      owner: `${h.uid}:${h.gid}`,
      ...(h.linkname ? { linkname: h.linkname } : {}),
      ...(h.type === 'file' ? { content: Buffer.concat(chunks).toString() } : {}),
    });
  }
  return out;
}

function names(entries: readonly Listed[]): string[] {
  return entries.map((e) => e.name);
}

test('a directory becomes a tar in walk order, owned by root, with links kept', async () => {
  await withTempDir(async (dir) => {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine\n');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src/app.js'), 'console.log(1)');
    chmodSync(join(dir, 'src/app.js'), 0o755);
    writeFileSync(join(dir, 'B.txt'), 'b');
    linkSync(join(dir, 'B.txt'), join(dir, 'hard.txt'));
    symlinkSync('src/app.js', join(dir, 'link'));
    const ctx = readContextFromDir(dir);
    assert.equal(ctx.dockerfile, 'Dockerfile');
    const entries = await list(ctx.stream);
    assert.deepEqual(names(entries), ['B.txt', 'Dockerfile', 'hard.txt', 'link', 'src/', 'src/app.js']);
    assert.ok(entries.every((e) => e.owner === '0:0'));
    assert.deepEqual(entries[2], { name: 'hard.txt', type: 'link', mode: 0o644, owner: '0:0', linkname: 'B.txt' });
    assert.deepEqual(entries[3], { name: 'link', type: 'symlink', mode: 0o777, owner: '0:0', linkname: 'src/app.js' });
    assert.deepEqual(entries[5], { name: 'src/app.js', type: 'file', mode: 0o755, owner: '0:0', content: 'console.log(1)' });
  });
});

test('.dockerignore excludes files, but never the Dockerfile or itself', async () => {
  await withTempDir(async (dir) => {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine\n');
    writeFileSync(join(dir, '.dockerignore'), '*\n!src\nsrc/**/*.test.js\n');
    mkdirSync(join(dir, 'src/lib'), { recursive: true });
    writeFileSync(join(dir, 'src/lib/a.js'), 'a');
    writeFileSync(join(dir, 'src/lib/a.test.js'), 't');
    mkdirSync(join(dir, 'node_modules/x'), { recursive: true });
    writeFileSync(join(dir, 'node_modules/x/index.js'), 'x');
    writeFileSync(join(dir, 'secret.env'), 's');
    const entries = await list(readContextFromDir(dir).stream);
    assert.deepEqual(names(entries), ['.dockerignore', 'Dockerfile', 'src/', 'src/lib/', 'src/lib/a.js']);
  });
});

test('an exception inside an excluded directory sends the file, not the directory', async () => {
  await withTempDir(async (dir) => {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine\n');
    writeFileSync(join(dir, '.dockerignore'), 'vendor\n!vendor/keep.txt\n');
    mkdirSync(join(dir, 'vendor'));
    writeFileSync(join(dir, 'vendor/keep.txt'), 'k');
    writeFileSync(join(dir, 'vendor/drop.txt'), 'd');
    const entries = await list(readContextFromDir(dir).stream);
    assert.deepEqual(names(entries), ['.dockerignore', 'Dockerfile', 'vendor/keep.txt']);
  });
});

test('-f names another Dockerfile in the context; a lower-case dockerfile is found by default', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'docker'));
    writeFileSync(join(dir, 'docker/Dockerfile.prod'), 'FROM alpine\n');
    writeFileSync(join(dir, '.dockerignore'), 'docker\n');
    const ctx = readContextFromDir(dir, { dockerfile: join(dir, 'docker/Dockerfile.prod') });
    assert.equal(ctx.dockerfile, 'docker/Dockerfile.prod');
    assert.deepEqual(names(await list(ctx.stream)), ['.dockerignore', 'docker/Dockerfile.prod']);
    assert.throws(() => readContextFromDir(dir), (e: unknown) => isEngineError(e, 'invalid-parameter') && /^cannot locate Dockerfile: ".*\/Dockerfile"$/.test(e.message));
    writeFileSync(join(dir, 'dockerfile'), 'FROM alpine\n');
    assert.equal(readContextFromDir(dir).dockerfile, 'dockerfile');
  });
});

test('a Dockerfile from outside the context, or from stdin, is added under a random name and listed in .dockerignore', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'ctx'));
    writeFileSync(join(dir, 'ctx/app.txt'), 'app');
    writeFileSync(join(dir, 'Outside.Dockerfile'), 'FROM busybox\n');
    const ctx = readContextFromDir(join(dir, 'ctx'), { dockerfile: join(dir, 'Outside.Dockerfile') });
    assert.match(ctx.dockerfile, /^\.dockerfile\.[0-9a-f]{20}$/);
    const entries = await list(ctx.stream);
    assert.deepEqual(names(entries), ['app.txt', '.dockerignore', ctx.dockerfile]);
    assert.equal(entries[1]?.content, `.dockerignore\n${ctx.dockerfile}\n`);
    assert.equal(entries[2]?.content, 'FROM busybox\n');

    writeFileSync(join(dir, 'ctx/.dockerignore'), '*.log');
    const stdin = readContextFromDir(join(dir, 'ctx'), { dockerfile: '-', dockerfileText: 'FROM scratch\n' });
    const fromStdin = await list(stdin.stream);
    assert.deepEqual(names(fromStdin), ['.dockerignore', 'app.txt', stdin.dockerfile]);
    assert.equal(fromStdin[0]?.content, `*.log\n${stdin.dockerfile}\n`);
  });
});

test('a Dockerfile symlinked from inside the context to outside it is sent under a random name', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'ctx'));
    writeFileSync(join(dir, 'shared.Dockerfile'), 'FROM shared\n');
    symlinkSync('../shared.Dockerfile', join(dir, 'ctx/Dockerfile'));
    const ctx = readContextFromDir(join(dir, 'ctx'));
    assert.match(ctx.dockerfile, /^\.dockerfile\./);
    const entries = await list(ctx.stream);
    assert.equal(entries.find((e) => e.name === ctx.dockerfile)?.content, 'FROM shared\n');
  });
});

test('the context must be a directory', async () => {
  await withTempDir(async (dir) => {
    writeFileSync(join(dir, 'file'), '');
    assert.throws(() => readContextFromDir(join(dir, 'file')), /context must be a directory/);
    assert.throws(() => readContextFromDir(join(dir, 'missing')), /unable to evaluate symlinks in context path/);
  });
});
