import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { parseDigest, sha256Digest } from '../core/digest.ts';
import { isEngineError } from '../core/errors.ts';
import { ContentStore } from './index.ts';

async function withStore(fn: (store: ContentStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-content-'));
  try {
    await fn(await ContentStore.open(root), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const ingestFiles = (root: string): Promise<string[]> => readdir(join(root, 'ingest'));
const blobFiles = (root: string): Promise<string[]> => readdir(join(root, 'blobs', 'sha256'));

describe('content store', () => {
  it('writes, reads, stats, lists and deletes a blob', () =>
    withStore(async (store, root) => {
      const data = Buffer.from('hello, blob');
      const { digest, size } = await store.writeBlob(data);
      assert.equal(digest, sha256Digest(data));
      assert.equal(size, data.length);
      assert.deepEqual(await store.readBlob(digest), data);
      assert.deepEqual(await store.statBlob(digest), { digest, size: data.length });
      assert.equal(await store.hasBlob(digest), true);
      assert.deepEqual(await store.listBlobs(), [digest]);
      assert.deepEqual(await blobFiles(root), [digest.slice(7)]);
      assert.equal(await store.deleteBlob(digest), true);
      assert.equal(await store.deleteBlob(digest), false);
      assert.equal(await store.hasBlob(digest), false);
      await assert.rejects(store.readBlob(digest), (e) => isEngineError(e, 'not-found'));
      await assert.rejects(store.statBlob(digest), (e) => isEngineError(e, 'not-found'));
      await assert.rejects(store.openBlob(digest), (e) => isEngineError(e, 'not-found'));
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('streams a large blob in and verifies the expected digest and size', () =>
    withStore(async (store, root) => {
      const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
      const whole = Buffer.concat(chunks);
      const expected = sha256Digest(whole);
      const info = await store.writeBlob(Readable.from(chunks), { expected, size: whole.length });
      assert.deepEqual(info, { digest: expected, size: whole.length });
      const back = await buffer(await store.openBlob(expected));
      assert.equal(createHash('sha256').update(back).digest('hex'), expected.slice(7));
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('a digest mismatch stores nothing and leaves no temp file', () =>
    withStore(async (store, root) => {
      const data = Buffer.from('the real content');
      const claimed = sha256Digest('something else');
      await assert.rejects(store.writeBlob(Readable.from([data]), { expected: claimed }), (e) => {
        assert.ok(isEngineError(e, 'invalid-parameter'));
        assert.equal(e.code, 'digest-mismatch');
        assert.match(e.message, new RegExp(`expected ${claimed}, got ${sha256Digest(data)}`));
        return true;
      });
      assert.equal(await store.hasBlob(claimed), false);
      assert.equal(await store.hasBlob(sha256Digest(data)), false);
      assert.deepEqual(await blobFiles(root), []);
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('a size mismatch (too long or too short) stores nothing', () =>
    withStore(async (store, root) => {
      await assert.rejects(store.writeBlob(Buffer.from('12345'), { size: 4 }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'size-mismatch');
      await assert.rejects(store.writeBlob(Buffer.from('12345'), { size: 6 }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'size-mismatch');
      assert.deepEqual(await blobFiles(root), []);
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('an aborted write, or a source that fails, leaves nothing', () =>
    withStore(async (store, root) => {
      const ac = new AbortController();
      async function* slow(): AsyncGenerator<Buffer> {
        yield Buffer.from('part one');
        ac.abort();
        yield Buffer.from('part two');
      }
      await assert.rejects(store.writeBlob(slow(), { signal: ac.signal }), (e) => (e as Error).name === 'AbortError');
      async function* failing(): AsyncGenerator<Buffer> {
        yield Buffer.from('part one');
        throw new Error('connection reset');
      }
      await assert.rejects(store.writeBlob(failing()), /connection reset/);
      assert.deepEqual(await blobFiles(root), []);
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('writing a blob that exists is idempotent', () =>
    withStore(async (store, root) => {
      const a = await store.writeBlob(Buffer.from('same'));
      const [b, c] = await Promise.all([store.writeBlob(Buffer.from('same')), store.writeBlob(Readable.from([Buffer.from('sa'), Buffer.from('me')]))]);
      assert.deepEqual(a, b);
      assert.deepEqual(a, c);
      assert.deepEqual(await store.listBlobs(), [a.digest]);
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('opens byte ranges', () =>
    withStore(async (store) => {
      const { digest } = await store.writeBlob(Buffer.from('0123456789'));
      assert.equal((await buffer(await store.openBlob(digest, { start: 2, end: 5 }))).toString(), '2345');
      assert.equal((await buffer(await store.openBlob(digest, { start: 7 }))).toString(), '789');
    }));

  it('sweepIngest removes leftovers but not a write in progress', () =>
    withStore(async (store, root) => {
      await writeFile(join(root, 'ingest', 'leftover-1'), 'half a blob');
      await writeFile(join(root, 'ingest', 'leftover-2'), 'another');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      async function* held(): AsyncGenerator<Buffer> {
        yield Buffer.from('in ');
        await gate;
        yield Buffer.from('progress');
      }
      const writing = store.writeBlob(held());
      while ((await ingestFiles(root)).length < 3) await new Promise((r) => setTimeout(r, 5));
      assert.equal(await store.sweepIngest(), 2);
      assert.equal((await ingestFiles(root)).length, 1);
      release();
      const { digest } = await writing;
      assert.equal((await store.readBlob(digest)).toString(), 'in progress');
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('lists only well-formed blob names', () =>
    withStore(async (store, root) => {
      const { digest } = await store.writeBlob(Buffer.from('x'));
      await writeFile(join(root, 'blobs', 'sha256', 'not-a-digest'), '');
      assert.deepEqual(await store.listBlobs(), [parseDigest(digest)]);
    }));
});

describe('content store: adopting a finished file', () => {
  const outside = (root: string, name: string) => join(root, name);

  it('renames the file into place when the digest the writer computed matches', () =>
    withStore(async (store, root) => {
      const data = Buffer.from('uploaded elsewhere on this filesystem');
      const file = outside(root, 'upload');
      await writeFile(file, data, { mode: 0o600 });
      const ino = (await stat(file)).ino;
      const digest = sha256Digest(data);
      assert.deepEqual(await store.adoptBlob(file, { expected: digest, computed: digest, size: data.length }), { digest, size: data.length });
      await assert.rejects(stat(file), { code: 'ENOENT' });
      const blob = join(root, 'blobs', 'sha256', digest.slice(7));
      const st = await stat(blob);
      assert.equal(st.ino, ino, 'renamed, not copied');
      assert.equal(st.mode & 0o777, 0o644);
      assert.deepEqual(await store.readBlob(digest), data);
      assert.deepEqual(await ingestFiles(root), []);
    }));

  it('without a computed digest it hashes the file: the bytes decide', () =>
    withStore(async (store, root) => {
      const data = Buffer.alloc(700 * 1024 + 3, 7); // more than one read buffer
      const file = outside(root, 'upload');
      await writeFile(file, data);
      const wrong = sha256Digest('not these bytes');
      await assert.rejects(store.adoptBlob(file, { expected: wrong }), (e) => {
        assert.ok(isEngineError(e, 'invalid-parameter'));
        assert.equal(e.code, 'digest-mismatch');
        assert.match(e.message, new RegExp(`expected ${wrong}, got ${sha256Digest(data)}`));
        return true;
      });
      assert.deepEqual(await blobFiles(root), []);
      assert.deepEqual(await readFile(file), data, 'a refused file stays where it was');
      const digest = sha256Digest(data);
      assert.deepEqual(await store.adoptBlob(file, { expected: digest }), { digest, size: data.length });
      assert.deepEqual(await store.readBlob(digest), data);
    }));

  it('refuses a computed digest or a size that disagrees, storing nothing', () =>
    withStore(async (store, root) => {
      const data = Buffer.from('12345');
      const file = outside(root, 'upload');
      await writeFile(file, data);
      const digest = sha256Digest(data);
      await assert.rejects(store.adoptBlob(file, { expected: digest, computed: sha256Digest('1234') }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'digest-mismatch');
      await assert.rejects(store.adoptBlob(file, { expected: digest, size: 4 }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'size-mismatch');
      assert.deepEqual(await blobFiles(root), []);
      assert.deepEqual(await readFile(file), data);
    }));

  it('a blob that is already there stays; the file goes; two adoptions at once both succeed', () =>
    withStore(async (store, root) => {
      const data = Buffer.from('same bytes');
      const digest = sha256Digest(data);
      await store.writeBlob(data);
      const before = (await stat(join(root, 'blobs', 'sha256', digest.slice(7)))).ino;
      const a = outside(root, 'a');
      await writeFile(a, data);
      assert.deepEqual(await store.adoptBlob(a, { expected: digest, computed: digest }), { digest, size: data.length });
      await assert.rejects(stat(a), { code: 'ENOENT' });
      assert.equal((await stat(join(root, 'blobs', 'sha256', digest.slice(7)))).ino, before);

      const other = Buffer.from('pushed twice at once');
      const od = sha256Digest(other);
      const files = [outside(root, 'b'), outside(root, 'c')];
      for (const f of files) await writeFile(f, other);
      const infos = await Promise.all(files.map((f) => store.adoptBlob(f, { expected: od })));
      assert.deepEqual(infos, [{ digest: od, size: other.length }, { digest: od, size: other.length }]);
      assert.deepEqual(await store.readBlob(od), other);
      assert.deepEqual(await store.listBlobs(), [digest, od].sort());
      for (const f of files) await assert.rejects(stat(f), { code: 'ENOENT' });
    }));
});
