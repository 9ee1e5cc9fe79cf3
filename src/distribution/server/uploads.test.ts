// Upload sessions on a real temporary root: the digest is computed while the bytes arrive, so
// finishing renames the data into the content store; without that running hash (a restart, or
// bytes written by someone else) the file is hashed once at finish instead. Either way only a
// blob that hashes to the claimed digest is stored.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256Digest, type Digest } from '../../core/digest.ts';
import { isEngineError } from '../../core/errors.ts';
import { ContentStore, type AdoptBlobOptions, type BlobInfo, type ContentAdopter } from '../../content/index.ts';
import { parseRepositoryName } from './names.ts';
import { UploadSessions } from './uploads.ts';

const repo = parseRepositoryName('team/app');

/** The real store, recording what each adoption was told. */
class RecordingStore implements ContentAdopter {
  readonly calls: AdoptBlobOptions[] = [];
  constructor(readonly store: ContentStore) {}
  adoptBlob(path: string, options: AdoptBlobOptions): Promise<BlobInfo> {
    this.calls.push(options);
    return this.store.adoptBlob(path, options);
  }
}

async function withRoot(fn: (root: string, store: ContentStore) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-uploads-'));
  try {
    await fn(root, await ContentStore.open(root));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function* from(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

const sessions = async (root: string): Promise<string[]> => readdir(join(root, 'uploads'));

describe('upload sessions', () => {
  it('hash the bytes as they arrive: finishing hands the store the digest and renames the data in', () =>
    withRoot(async (root, store) => {
      const rec = new RecordingStore(store);
      const uploads = await UploadSessions.open(root, rec);
      const { uuid } = await uploads.create(repo);
      await uploads.append(repo, uuid, from('0123', '45'), { range: { start: 0, end: 5 } });
      const dataIno = (await stat(join(root, 'uploads', uuid, 'data'))).ino;
      // A last chunk with the closing request (a monolithic PUT takes this path alone).
      const digest = sha256Digest('0123456789');
      assert.deepEqual(await uploads.finish(repo, uuid, { digest, last: { source: from('6789') } }), { digest, size: 10 });
      assert.equal(rec.calls.length, 1);
      assert.equal(rec.calls[0]?.computed, digest);
      assert.equal((await store.readBlob(digest)).toString(), '0123456789');
      assert.equal((await stat(join(root, 'blobs', 'sha256', digest.slice(7)))).ino, dataIno, 'renamed, not copied');
      assert.deepEqual(await sessions(root), []);
      assert.deepEqual(await readdir(join(root, 'ingest')), []);
    }));

  it('a chunk that is cut off again does not count in the running hash', () =>
    withRoot(async (root, store) => {
      const rec = new RecordingStore(store);
      const uploads = await UploadSessions.open(root, rec);
      const { uuid } = await uploads.create(repo);
      await uploads.append(repo, uuid, from('abc'));
      async function* broken(): AsyncGenerator<Buffer> {
        yield Buffer.from('XYZ');
        throw new Error('connection reset');
      }
      await assert.rejects(uploads.append(repo, uuid, broken()), /connection reset/);
      await assert.rejects(uploads.append(repo, uuid, from('de', 'fgh'), { range: { start: 3, end: 5 } }), (e) => isEngineError(e) && e.code === 'size-invalid');
      assert.equal((await uploads.status(repo, uuid)).size, 3);
      await uploads.append(repo, uuid, from('def'), { range: { start: 3, end: 5 } });
      const digest = sha256Digest('abcdef');
      await uploads.finish(repo, uuid, { digest });
      assert.equal(rec.calls[0]?.computed, digest);
      assert.equal((await store.readBlob(digest)).toString(), 'abcdef');
    }));

  it('after a restart the data is hashed at finish: the right digest is stored, a wrong one refused', () =>
    withRoot(async (root, store) => {
      const first = await UploadSessions.open(root, store);
      const good = await first.create(repo);
      const bad = await first.create(repo);
      for (const { uuid } of [good, bad]) await first.append(repo, uuid, from('before the restart, '));

      // A new process: no running hashes.
      const rec = new RecordingStore(store);
      const second = await UploadSessions.open(root, rec);
      for (const { uuid } of [good, bad]) await second.append(repo, uuid, from('after it'));
      const digest = sha256Digest('before the restart, after it');
      assert.deepEqual(await second.finish(repo, good.uuid, { digest }), { digest, size: 28 });
      assert.equal(rec.calls[0]?.computed, undefined);
      assert.equal((await store.readBlob(digest)).toString(), 'before the restart, after it');

      await store.deleteBlob(digest);
      const wrong = sha256Digest('something else');
      await assert.rejects(second.finish(repo, bad.uuid, { digest: wrong }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'digest-mismatch');
      assert.equal(rec.calls[1]?.computed, undefined);
      assert.deepEqual(await store.listBlobs(), []);
      assert.deepEqual(await sessions(root), [], 'both sessions are gone');
      await assert.rejects(second.status(repo, bad.uuid), (e) => isEngineError(e) && e.code === 'blob-upload-unknown');
    }));

  it('bytes appended by another instance make the running hash stale: the file is hashed instead', () =>
    withRoot(async (root, store) => {
      const rec = new RecordingStore(store);
      const a = await UploadSessions.open(root, rec);
      const b = await UploadSessions.open(root, store);
      const { uuid } = await a.create(repo);
      await a.append(repo, uuid, from('abc'));
      await b.append(repo, uuid, from('def'));
      const digest = sha256Digest('abcdef');
      await a.finish(repo, uuid, { digest });
      assert.equal(rec.calls[0]?.computed, undefined);
      assert.equal((await store.readBlob(digest)).toString(), 'abcdef');
    }));

  it('a wrong digest with a running hash is refused, stores nothing and ends the session', () =>
    withRoot(async (root, store) => {
      const uploads = await UploadSessions.open(root, store);
      const { uuid } = await uploads.create(repo);
      await uploads.append(repo, uuid, from('some bytes'));
      const wrong: Digest = sha256Digest('other bytes');
      await assert.rejects(uploads.finish(repo, uuid, { digest: wrong }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'digest-mismatch');
      assert.deepEqual(await store.listBlobs(), []);
      assert.deepEqual(await sessions(root), []);
      assert.deepEqual(await readdir(join(root, 'ingest')), []);
    }));

  it('concurrent pushes of the same blob both succeed and store it once', () =>
    withRoot(async (root, store) => {
      const uploads = await UploadSessions.open(root, store);
      const data = Buffer.alloc(3 << 20, 'z');
      const digest = sha256Digest(data);
      const push = async () => {
        const { uuid } = await uploads.create(repo);
        await uploads.append(repo, uuid, (async function* () {
          for (let i = 0; i < data.length; i += 64 << 10) yield data.subarray(i, i + (64 << 10));
        })());
        return uploads.finish(repo, uuid, { digest });
      };
      assert.deepEqual(await Promise.all([push(), push(), push()]), Array(3).fill({ digest, size: data.length }));
      assert.deepEqual(await store.listBlobs(), [digest]);
      assert.ok((await store.readBlob(digest)).equals(data));
      assert.deepEqual(await sessions(root), []);
    }));
});
