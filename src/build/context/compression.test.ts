import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isEngineError } from '../../core/errors.ts';
import { buildTar, withTempDir } from '../../snapshots/testing.ts';
import { BAD_DATA, decompressed, detectCompression, isArchiveFile, looksLikeArchive } from './compression.ts';

function compress(data: Buffer, program: 'gzip' | 'bzip2' | 'xz' | 'zstd'): Buffer {
  if (program === 'gzip') return gzipSync(data);
  const r = spawnSync(program, ['-c', ...(program === 'zstd' ? ['-q'] : [])], { input: data, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

/** PIDs of this process's children running `comm`. */
function children(comm: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      const stat = (() => {
        try {
          return readFileSync(`/proc/${n}/stat`, 'utf8');
        } catch {
          return '';
        }
      })();
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      return m?.[1] === comm && Number(m[2]) === process.pid;
    })
    .map(Number);
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out);
}

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

test('the compression is known by its magic bytes, not by a name', () => {
  const text = Buffer.from('hello\n'.repeat(100));
  assert.equal(detectCompression(compress(text, 'gzip')), 'gzip');
  assert.equal(detectCompression(compress(text, 'bzip2')), 'bzip2');
  assert.equal(detectCompression(compress(text, 'xz')), 'xz');
  assert.equal(detectCompression(compress(text, 'zstd')), 'zstd');
  assert.equal(detectCompression(text), 'none');
  assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
});

test('decompressed() gives back the bytes of every compression, fed in small pieces', async () => {
  const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => `line ${i}\n`).join(''));
  for (const p of ['gzip', 'bzip2', 'xz', 'zstd'] as const) {
    let seen = '';
    const out = await collect(decompressed(pieces(compress(data, p), 3), (c) => (seen = c)));
    assert.equal(seen, p);
    assert.ok(out.equals(data), p);
  }
  assert.ok((await collect(decompressed(pieces(data, 2)))).equals(data));
  assert.equal((await collect(decompressed(pieces(Buffer.alloc(0), 1)))).length, 0);
});

test('bad data is a bad-compressed-data error; stopping early leaves no program running', async () => {
  for (const p of ['gzip', 'bzip2', 'xz', 'zstd'] as const) {
    const good = compress(Buffer.alloc(100_000, 9), p);
    const bad = Buffer.concat([good.subarray(0, 8), Buffer.alloc(4096, 0x33)]);
    await assert.rejects(collect(decompressed(pieces(bad, 1000))), (e) => isEngineError(e) && e.code === BAD_DATA && e.message.includes(p), p);
  }
  const big = compress(Buffer.alloc(4 << 20, 1), 'xz');
  for await (const c of decompressed(pieces(big, 4096))) {
    assert.ok(c.length > 0);
    assert.deepEqual(children('xz').length, 1);
    break;
  }
  assert.deepEqual(children('xz'), []);
});

test('an archive is a tar, plain or compressed; other files are not, whatever their names', async () => {
  await withTempDir(async (dir) => {
    const tar = await buildTar([{ name: 'a.txt', content: 'a' }]);
    const files: Record<string, [Buffer, boolean]> = {
      'plain.tar': [tar, true],
      'x.tgz': [compress(tar, 'gzip'), true],
      'x.tbz': [compress(tar, 'bzip2'), true],
      'x.bin': [compress(tar, 'xz'), true],
      'x.tzst': [compress(tar, 'zstd'), true],
      'fake.tar.xz': [Buffer.from('text, not xz'), false],
      'text.xz': [compress(Buffer.from('text inside xz'), 'xz'), false],
      'broken.tar.bz2': [Buffer.concat([Buffer.from('BZh9'), Buffer.alloc(700, 2)]), false],
      'empty.tar': [Buffer.alloc(0), false],
    };
    for (const [name, [content, archive]] of Object.entries(files)) {
      writeFileSync(join(dir, name), content);
      assert.equal(await isArchiveFile(join(dir, name)), archive, name);
    }
    assert.equal(looksLikeArchive(tar.subarray(0, 1024)), true);
    assert.equal(looksLikeArchive(Buffer.from('FROM busybox\n')), false);
  });
});
