import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, link, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buffer } from 'node:stream/consumers';
import { diffLayer, SnapshotStore } from './index.ts';
import * as native from './native.ts';
import { treeOf, withTempDir } from './testing.ts';

/** A small root filesystem with the awkward cases: setuid, owners, links, devices, long names. */
async function sampleTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await writeFile(join(dir, 'bin', 'busybox'), 'ELF...');
  await chmod(join(dir, 'bin', 'busybox'), 0o4755);
  await symlink('busybox', join(dir, 'bin', 'sh'));
  await link(join(dir, 'bin', 'busybox'), join(dir, 'bin', 'ls'));
  await writeFile(join(dir, 'bin', 'ping'), 'ping');
  native.setXattr(join(dir, 'bin', 'ping'), 'security.capability', Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  const deep = join(dir, 'usr', 'share', 'x'.repeat(120), 'y'.repeat(120));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, 'z'.repeat(150)), 'deep');
  await mkdir(join(dir, 'home', 'user'), { recursive: true });
  await writeFile(join(dir, 'home', 'user', 'notes'), 'n'.repeat(70_000));
  await chown(join(dir, 'home', 'user'), 1000, 1000);
  await chown(join(dir, 'home', 'user', 'notes'), 1000, 1000);
  await chmod(join(dir, 'home', 'user'), 0o700);
  await mkdir(join(dir, 'tmp'));
  await chmod(join(dir, 'tmp'), 0o1777);
  await mkdir(join(dir, 'dev'));
  await native.mknod(join(dir, 'dev', 'null'), 'char', 1, 3, 0o666);
  await native.mknod(join(dir, 'dev', 'fifo'), 'fifo', 0, 0, 0o600);
  await writeFile(join(dir, 'ünï'), 'utf-8 name');
  const t = new Date('2019-05-06T07:08:09Z');
  for (const p of ['bin/busybox', 'home/user/notes', 'ünï', 'dev/null']) await utimes(join(dir, p), t, t);
  await lutimes(join(dir, 'bin', 'sh'), t, t);
  for (const p of ['bin', 'home/user', 'usr/share', 'tmp', 'dev', '']) await utimes(join(dir, p), t, t);
}

describe('interoperability with GNU tar', () => {
  it('applies a gzipped GNU tar of a tree (./ entries, PAX xattrs) to the same tree', () =>
    withTempDir(async (dir) => {
      const src = join(dir, 'src');
      await mkdir(src);
      await sampleTree(src);
      const tgz = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-czf', '-', '.'], { maxBuffer: 1 << 26 });
      const store = await SnapshotStore.open(join(dir, 'snapshots'));
      const { chainId } = await store.applyLayer(tgz);
      const fs = store.snapshotPath(chainId);
      assert.deepEqual(await treeOf(fs, { mtimes: true }), await treeOf(src, { mtimes: true }));
      assert.deepEqual(native.getXattr(join(fs, 'bin', 'ping'), 'security.capability'), native.getXattr(join(src, 'bin', 'ping'), 'security.capability'));
    }));

  it('writes a diff GNU tar extracts to the same tree', () =>
    withTempDir(async (dir) => {
      const src = join(dir, 'src');
      await mkdir(src);
      await sampleTree(src);
      const tar = await buffer(diffLayer(src));
      const out = join(dir, 'out');
      await mkdir(out);
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', out, '-xpf', '-'], { input: tar, maxBuffer: 1 << 26 });
      await utimes(out, new Date('2019-05-06T07:08:09Z'), new Date('2019-05-06T07:08:09Z')); // the root is not an entry
      assert.deepEqual(await treeOf(out, { mtimes: true }), await treeOf(src, { mtimes: true }));
      assert.deepEqual(native.getXattr(join(out, 'bin', 'ping'), 'security.capability'), native.getXattr(join(src, 'bin', 'ping'), 'security.capability'));
    }));
});
