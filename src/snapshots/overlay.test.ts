import assert from 'node:assert/strict';
import { chmod, link, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import type { Digest } from '../core/digest.ts';
import { isEngineError } from '../core/errors.ts';
import { diffLayer, SnapshotStore, unmount } from './index.ts';
import * as native from './native.ts';
import { overlayOptions } from './overlay.ts';
import { readTar, type TarHeader } from './tar-reader.ts';
import { buildTar, treeOf, withTempDir } from './testing.ts';

async function headersOf(tar: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readTar((async function* () {
    yield tar;
  })())) out.push(e.header);
  return out;
}

interface Env {
  readonly store: SnapshotStore;
  readonly dir: string;
  /** Make fresh upper, work and target directories for a mount. */
  dirs(name: string): Promise<{ upperDir: string; workDir: string; target: string }>;
}

async function env(fn: (e: Env) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(join(dir, 'snapshots'));
    const targets: string[] = [];
    const dirs = async (name: string) => {
      const base = join(dir, 'mounts', name);
      const d = { upperDir: join(base, 'upper'), workDir: join(base, 'work'), target: join(base, 'merged') };
      for (const p of Object.values(d)) await mkdir(p, { recursive: true });
      targets.push(d.target);
      return d;
    };
    try {
      await fn({ store, dir, dirs });
    } finally {
      for (const t of targets) await unmount(t);
    }
  });
}

const LOWER = [
  { name: 'a/' },
  { name: 'a/1', content: 'one' },
  { name: 'a/2', content: 'two' },
  { name: 'b/' },
  { name: 'b/x', content: 'x' },
  { name: 'b/sub/y', content: 'y' },
  { name: 'c', content: 'c' },
  { name: 'keep', content: 'kept' },
];
const MIDDLE = [
  { name: '.wh.c', content: '' },
  { name: 'a/.wh.1', content: '' },
  { name: 'b/' },
  { name: 'b/.wh..wh..opq', content: '' },
  { name: 'b/new', content: 'new' },
];

async function twoLayers(store: SnapshotStore): Promise<Digest[]> {
  const l1 = await store.applyLayer(await buildTar(LOWER));
  const l2 = await store.applyLayer(await buildTar(MIDDLE), { parentChainId: l1.chainId });
  return [l2.chainId, l1.chainId]; // top first
}

describe('overlay mounts of snapshots', () => {
  it('whiteouts and opaque directories hide what the lower layers hold', () =>
    env(async ({ store, dirs }) => {
      const lowers = await twoLayers(store);
      const d = await dirs('view');
      await store.mountOverlay({ lowerChainIds: lowers, ...d });
      try {
        assert.deepEqual(await treeOf(d.target), [
          'a 755 0:0 dir',
          'a/2 644 0:0 x1 = two',
          'b 755 0:0 dir',
          'b/new 644 0:0 x1 = new',
          'keep 644 0:0 x1 = kept',
        ]);
      } finally {
        await store.unmount(d.target);
      }
      assert.equal(await native.isMountPoint(d.target), false);
    }));

  it('diffs the upper directory into .wh. entries that rebuild the same view', () =>
    env(async ({ store, dirs }) => {
      const lowers = await twoLayers(store);
      const d = await dirs('container');
      let expected: string[];
      await store.mountOverlay({ lowerChainIds: lowers, ...d });
      try {
        const m = d.target;
        await rm(join(m, 'a', '2')); // whiteout of a lower file
        await rm(join(m, 'keep'));
        await writeFile(join(m, 'd'), 'dee');
        await chmod(join(m, 'd'), 0o4750);
        await link(join(m, 'd'), join(m, 'd2')); // hardlink inside the upper dir
        await mkdir(join(m, 'e', 'f'), { recursive: true });
        await symlink('../d', join(m, 'e', 'link'));
        await rm(join(m, 'b'), { recursive: true }); // a lower dir removed then recreated: opaque
        await mkdir(join(m, 'b'));
        await writeFile(join(m, 'b', 'z'), 'zed');
        await rename(join(m, 'd2'), join(m, 'e', 'd2'));
        expected = await treeOf(m);
      } finally {
        await store.unmount(d.target);
      }

      const tar = await buffer(diffLayer(d.upperDir));
      const headers = await headersOf(tar);
      const names = headers.map((h) => h.name);
      assert.deepEqual(names, ['a/', 'a/.wh.2', 'b/', 'b/.wh..wh..opq', 'b/z', 'd', 'e/', 'e/d2', 'e/f/', 'e/link', '.wh.keep'].sort(sortLikeDiff));
      const byName = new Map(headers.map((h) => [h.name, h]));
      assert.equal(byName.get('e/d2')?.type, 'link');
      assert.equal(byName.get('e/d2')?.linkname, 'd');
      assert.equal(byName.get('d')?.mode, 0o4750);
      assert.equal(byName.get('a/.wh.2')?.type, 'file');
      assert.equal(byName.get('e/link')?.linkname, '../d');
      assert.ok(!names.some((n) => n.startsWith('c') || n.includes('.wh.c')), 'nothing about c, deleted by a lower layer');

      // Apply the diff as a new layer and mount the three read-only: the same view.
      const top = await store.applyLayer(tar, { parentChainId: lowers[0] });
      const ro = await dirs('readonly');
      await store.mountOverlay({ lowerChainIds: [top.chainId, ...lowers], target: ro.target });
      try {
        assert.deepEqual(await treeOf(ro.target), expected);
        await assert.rejects(writeFile(join(ro.target, 'x'), 'x'), (e) => (e as { code?: string }).code === 'EROFS');
      } finally {
        await store.unmount(ro.target);
      }
    }));

  it('mounts an image with no layers over an empty lower', () =>
    env(async ({ store, dirs }) => {
      const d = await dirs('scratch');
      await store.mountOverlay({ lowerChainIds: [], ...d });
      try {
        assert.deepEqual(await readdir(d.target), []);
        await writeFile(join(d.target, 'hello'), 'world');
        assert.equal(await readFile(join(d.upperDir, 'hello'), 'utf8'), 'world');
      } finally {
        await store.unmount(d.target);
      }
      assert.deepEqual(await readdir(join(store.root, 'empty')), []);
      // No layer and no upper directory (COPY --from a FROM scratch stage): an empty read-only view.
      const none = await dirs('none-readonly');
      await store.mountOverlay({ lowerChainIds: [], target: none.target });
      try {
        assert.deepEqual(await readdir(none.target), []);
        await assert.rejects(writeFile(join(none.target, 'x'), 'x'), (e) => (e as { code?: string }).code === 'EROFS');
      } finally {
        await store.unmount(none.target);
      }
      const one = await store.applyLayer(await buildTar([{ name: 'only', content: '1' }]));
      const ro = await dirs('one-readonly');
      await store.mountOverlay({ lowerChainIds: [one.chainId], target: ro.target });
      try {
        assert.deepEqual(await readdir(ro.target), ['only']);
      } finally {
        await store.unmount(ro.target);
      }
    }));

  it('stacks 150 layers within one page of mount options', () =>
    env(async ({ store, dirs }) => {
      let parent: Digest | undefined;
      const chain: Digest[] = [];
      for (let i = 0; i < 150; i++) {
        const r = await store.applyLayer(await buildTar([{ name: `layer-${i}`, content: String(i) }, { name: 'top', content: String(i) }]), { parentChainId: parent });
        parent = r.chainId;
        chain.unshift(r.chainId);
      }
      const d = await dirs('tall');
      await store.mountOverlay({ lowerChainIds: chain, ...d });
      try {
        assert.equal((await readdir(d.target)).length, 151);
        assert.equal(await readFile(join(d.target, 'layer-0'), 'utf8'), '0');
        assert.equal(await readFile(join(d.target, 'top'), 'utf8'), '149');
      } finally {
        await store.unmount(d.target);
      }
      // Absolute paths would not have fitted: 150 * ~80 bytes.
      assert.ok(150 * (store.root.length + 20) > 4096);
    }));

  it('refuses option strings longer than a page, and unsafe upper paths', () => {
    const lowers = Array.from({ length: 400 }, (_, i) => `l/${String(i).padStart(8, 'A')}`);
    assert.throws(() => overlayOptions({ lowers }), (e) => isEngineError(e, 'invalid-parameter') && /too many layers/.test(e.message));
    assert.throws(() => overlayOptions({ lowers: ['l/A'], upperDir: '/x,lowerdir=/', workDir: '/w' }), (e) => isEngineError(e, 'invalid-parameter'));
    assert.throws(() => overlayOptions({ lowers: ['l/A'], upperDir: '/x' }), (e) => isEngineError(e, 'invalid-parameter'));
  });

  it('unmount is a no-op on a directory that is not mounted, or missing', () =>
    withTempDir(async (dir) => {
      await unmount(dir);
      await unmount(join(dir, 'missing'));
    }));
});

/** Order of names as diffLayer emits them: depth-first, siblings sorted by entry name. */
function sortLikeDiff(a: string, b: string): number {
  const pa = a.replace(/\/$/, '').split('/');
  const pb = b.replace(/\/$/, '').split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}
