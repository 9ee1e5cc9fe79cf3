import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256Digest } from '../core/digest.ts';
import { isEngineError } from '../core/errors.ts';
import { chainIdOf, chainIds, SnapshotStore } from './index.ts';
import { buildTar, withTempDir } from './testing.ts';

const layer = (name: string, content = name) => buildTar([{ name, content }]);

describe('snapshot store', () => {
  it('keys snapshots by chain ID (image-spec config.md)', () =>
    withTempDir(async (dir) => {
      const store = await SnapshotStore.open(join(dir, 's'));
      const t1 = await layer('one');
      const t2 = await layer('two');
      const a = await store.applyLayer(t1);
      const b = await store.applyLayer(t2, { parentChainId: a.chainId });
      assert.equal(a.chainId, sha256Digest(t1));
      assert.equal(b.diffId, sha256Digest(t2));
      assert.equal(b.chainId, sha256Digest(`${sha256Digest(t1)} ${sha256Digest(t2)}`));
      assert.deepEqual(chainIds([a.diffId, b.diffId]), [a.chainId, b.chainId]);
      assert.equal(chainIdOf(null, a.diffId), a.diffId);
      assert.deepEqual(
        store.listSnapshots().map((s) => [s.chainId, s.parent]).sort(),
        [
          [a.chainId, null],
          [b.chainId, a.chainId],
        ].sort(),
      );
      // The same changeset on another parent is another snapshot.
      const c = await store.applyLayer(t2);
      assert.notEqual(c.chainId, b.chainId);
      assert.equal(c.chainId, c.diffId);
    }));

  it('recognises an existing snapshot: by expected diff ID without extracting, else after', () =>
    withTempDir(async (dir) => {
      const root = join(dir, 's');
      const store = await SnapshotStore.open(root);
      const t = await layer('file');
      const first = await store.applyLayer(t);
      assert.equal(first.created, true);
      const dirsBefore = (await readdir(root)).sort();
      const again = await store.applyLayer(t, { diffId: first.diffId });
      assert.deepEqual(again, { ...first, created: false });
      const unannounced = await store.applyLayer(t);
      assert.deepEqual(unannounced, { ...first, created: false });
      assert.deepEqual((await readdir(root)).sort(), dirsBefore);
      // A stream that is not what it claims to be is refused, whether or not the chain exists.
      const other = await layer('other');
      await assert.rejects(store.applyLayer(other, { diffId: first.diffId }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'diff-id-mismatch');
      await assert.rejects(store.applyLayer(t, { diffId: sha256Digest('nope') }), (e) => isEngineError(e, 'invalid-parameter') && e.code === 'diff-id-mismatch');
      assert.deepEqual((await readdir(root)).sort(), dirsBefore);
    }));

  it('commits concurrent applies of one layer once', () =>
    withTempDir(async (dir) => {
      const root = join(dir, 's');
      const store = await SnapshotStore.open(root);
      const t = await layer('same');
      const results = await Promise.all([store.applyLayer(t), store.applyLayer(t), store.applyLayer(t)]);
      assert.equal(new Set(results.map((r) => r.chainId)).size, 1);
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(store.listSnapshots().length, 1);
      assert.equal((await readdir(root)).filter((n) => /^[0-9a-f]{12}$/.test(n)).length, 1);
      assert.equal((await readdir(join(root, 'l'))).length, 1);
    }));

  it('refuses an unknown parent', () =>
    withTempDir(async (dir) => {
      const store = await SnapshotStore.open(join(dir, 's'));
      await assert.rejects(store.applyLayer(await layer('x'), { parentChainId: sha256Digest('missing') }), (e) => isEngineError(e, 'not-found'));
      assert.throws(() => store.snapshotPath(sha256Digest('missing')), (e) => isEngineError(e, 'not-found'));
    }));

  it('rebuilds its index at open and sweeps incomplete snapshots and stray links', () =>
    withTempDir(async (dir) => {
      const root = join(dir, 's');
      const store = await SnapshotStore.open(root);
      const a = await store.applyLayer(await layer('a'));
      const b = await store.applyLayer(await layer('b'), { parentChainId: a.chainId });
      const pathB = store.snapshotPath(b.chainId);

      // What a crash leaves: a directory without meta.json, a link to nothing; a lost link.
      await mkdir(join(root, 'abcdef012345', 'fs', 'half'), { recursive: true });
      await writeFile(join(root, 'abcdef012345', 'fs', 'half', 'file'), 'partial');
      await symlink('../abcdef012345/fs', join(root, 'l', 'ZZZZZZZZ'));
      const lost = (await readdir(join(root, 'l'))).filter((l) => l !== 'ZZZZZZZZ');
      await rm(join(root, 'l', lost[0]!));

      const reopened = await SnapshotStore.open(root);
      assert.deepEqual(
        reopened.listSnapshots().map((s) => s.chainId).sort(),
        [a.chainId, b.chainId].sort(),
      );
      assert.equal(reopened.getSnapshot(b.chainId)?.parent, a.chainId);
      assert.equal(reopened.snapshotPath(b.chainId), pathB);
      assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('abcdef')), []);
      const after = (await readdir(join(root, 'l'))).sort();
      assert.equal(after.length, 2);
      assert.ok(!after.includes('ZZZZZZZZ'));
      for (const l of after) assert.match(await readlink(join(root, 'l', l)), /^\.\.\/[0-9a-f]{12}\/fs$/);
      assert.equal((await lstat(root)).mode & 0o777, 0o700);
    }));

  it('removes snapshots children first, with their links', () =>
    withTempDir(async (dir) => {
      const root = join(dir, 's');
      const store = await SnapshotStore.open(root);
      const a = await store.applyLayer(await layer('a'));
      const b = await store.applyLayer(await layer('b'), { parentChainId: a.chainId });
      await assert.rejects(store.removeSnapshot(a.chainId), (e) => isEngineError(e, 'conflict'));
      await store.removeSnapshot(b.chainId);
      await store.removeSnapshot(a.chainId);
      await assert.rejects(store.removeSnapshot(a.chainId), (e) => isEngineError(e, 'not-found'));
      assert.deepEqual(store.listSnapshots(), []);
      assert.deepEqual((await readdir(root)).sort(), ['empty', 'l']);
      assert.deepEqual(await readdir(join(root, 'l')), []);
      // And it can be applied again.
      assert.equal((await store.applyLayer(await layer('a'))).created, true);
    }));

  it('beforeCommit: a rejection after unpacking leaves no snapshot; a resolution commits', () =>
    withTempDir(async (dir) => {
      const root = join(dir, 's');
      const store = await SnapshotStore.open(root);
      const t = await layer('gated');
      const before = (await readdir(root)).sort();
      await assert.rejects(
        store.applyLayer(t, { diffId: sha256Digest(t), beforeCommit: () => Promise.reject(new Error('blob write failed')) }),
        /blob write failed/,
      );
      assert.deepEqual((await readdir(root)).sort(), before);
      assert.deepEqual(store.listSnapshots(), []);
      let asked = 0;
      const ok = await store.applyLayer(t, { diffId: sha256Digest(t), beforeCommit: async () => void asked++ });
      assert.equal(ok.created, true);
      assert.equal(asked, 1);
      assert.equal(store.listSnapshots().length, 1);
    }));
});
