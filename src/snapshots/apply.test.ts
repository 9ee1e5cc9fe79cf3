import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256Digest } from '../core/digest.ts';
import { isEngineError } from '../core/errors.ts';
import * as native from './native.ts';
import { SnapshotStore } from './index.ts';
import { encodeHeader, END_OF_ARCHIVE } from './tar-writer.ts';
import { buildTar, T0, withTempDir, type TestEntry } from './testing.ts';

const CAPABILITY = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

interface Sandbox {
  readonly store: SnapshotStore;
  readonly root: string;
  /** A directory outside the store that no layer may touch. */
  readonly victim: string;
}

async function sandbox(fn: (s: Sandbox) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const victim = join(dir, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'secret'), 'original');
    const root = join(dir, 'snapshots');
    await fn({ store: await SnapshotStore.open(root), root, victim });
  });
}

async function victimState(victim: string): Promise<string> {
  const names = (await readdir(victim)).sort();
  const st = await stat(join(victim, 'secret'));
  const xattr = native.getXattr(victim, 'trusted.overlay.opaque');
  return JSON.stringify({ names, secret: await readFile(join(victim, 'secret'), 'utf8'), nlink: st.nlink, mode: st.mode, xattr: xattr?.toString() });
}

/** The layer is refused with a clear error, writes nothing outside and leaves no half snapshot. */
async function assertRefused(s: Sandbox, entries: readonly TestEntry[], message: RegExp): Promise<void> {
  const before = await victimState(s.victim);
  const passwd = await readFile('/etc/passwd');
  await assert.rejects(s.store.applyLayer(await buildTar(entries)), (e) => {
    assert.ok(isEngineError(e, 'invalid-parameter'), `expected invalid-parameter, got ${String(e)}`);
    assert.match(e.message, /^invalid layer: /);
    assert.match(e.message, message);
    return true;
  });
  assert.equal(await victimState(s.victim), before);
  assert.deepEqual(await readFile('/etc/passwd'), passwd);
  assert.deepEqual(s.store.listSnapshots(), []);
  assert.deepEqual((await readdir(s.root)).sort(), ['empty', 'l']);
  assert.deepEqual(await readdir(join(s.root, 'l')), []);
}

describe('applyLayer: extraction never escapes the layer directory', () => {
  it('refuses names that climb above the root (../x, a/../../x)', () =>
    sandbox(async (s) => {
      await assertRefused(s, [{ name: '../../../x', content: 'out' }], /path "..\/..\/..\/x" escapes the layer root/);
      await assertRefused(s, [{ name: 'a/../../victim/secret', content: 'out' }], /escapes/);
    }));

  it('joins absolute names under the root (/abs lands at abs)', () =>
    sandbox(async (s) => {
      const before = await victimState(s.victim);
      const { chainId } = await s.store.applyLayer(await buildTar([{ name: `${s.victim}/secret`, content: 'inside' }, { name: '/../../top', content: 't' }]));
      const fs = s.store.snapshotPath(chainId);
      assert.equal(await readFile(join(fs, s.victim, 'secret'), 'utf8'), 'inside');
      assert.equal(await readFile(join(fs, 'top'), 'utf8'), 't');
      assert.equal(await victimState(s.victim), before);
    }));

  it('refuses to write through a symlink of the layer (absolute or relative target)', () =>
    sandbox(async (s) => {
      await assertRefused(
        s,
        [
          { name: 'a', type: 'symlink', linkname: s.victim },
          { name: 'a/secret', content: 'pwned' },
        ],
        /path "a\/secret" \(through the symlink "a"\) escapes/,
      );
      await assertRefused(
        s,
        [
          { name: 'b', type: 'symlink', linkname: '../../victim' },
          { name: 'b/new', content: 'pwned' },
        ],
        /escapes/,
      );
      await assertRefused(
        s,
        [
          { name: 'd/', type: 'directory' },
          { name: 'd/e', type: 'symlink', linkname: '/' },
          { name: `d/e${s.victim}/new/`, type: 'directory' },
        ],
        /through the symlink "d\/e"/,
      );
    }));

  it('refuses a symlink to /etc followed by a file under it', () =>
    sandbox(async (s) => {
      await assertRefused(
        s,
        [
          { name: 'etc', type: 'symlink', linkname: '/etc' },
          { name: 'etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
        ],
        /escapes/,
      );
    }));

  it('refuses hardlinks to files outside the layer', () =>
    sandbox(async (s) => {
      await assertRefused(s, [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], /hardlink target "..\/..\/etc\/passwd" escapes/);
      await assertRefused(s, [{ name: 'h', type: 'link', linkname: `${s.victim}/secret` }], /not in the layer/);
      await assertRefused(
        s,
        [
          { name: 's', type: 'symlink', linkname: s.victim },
          { name: 'h', type: 'link', linkname: 's/secret' },
        ],
        /link target "s\/secret" \(through the symlink "s"\) escapes/,
      );
    }));

  it('refuses whiteouts and opaque markers through a symlink', () =>
    sandbox(async (s) => {
      await assertRefused(
        s,
        [
          { name: 'a', type: 'symlink', linkname: s.victim },
          { name: 'a/.wh.secret', content: '' },
        ],
        /escapes/,
      );
      await assertRefused(
        s,
        [
          { name: 'a', type: 'symlink', linkname: s.victim },
          { name: 'a/.wh..wh..opq', content: '' },
        ],
        /escapes/,
      );
    }));

  it('replaces a symlink by a later file or directory instead of following it', () =>
    sandbox(async (s) => {
      const before = await victimState(s.victim);
      const { chainId } = await s.store.applyLayer(
        await buildTar([
          { name: 'f', type: 'symlink', linkname: `${s.victim}/secret` },
          { name: 'f', content: 'replaced' },
          { name: 'd', type: 'symlink', linkname: s.victim },
          { name: 'd/', type: 'directory' },
          { name: 'd/new', content: 'inside' },
        ]),
      );
      const fs = s.store.snapshotPath(chainId);
      assert.ok((await lstat(join(fs, 'f'))).isFile());
      assert.equal(await readFile(join(fs, 'f'), 'utf8'), 'replaced');
      assert.ok((await lstat(join(fs, 'd'))).isDirectory());
      assert.equal(await readFile(join(fs, 'd', 'new'), 'utf8'), 'inside');
      assert.equal(await victimState(s.victim), before);
    }));

  it('keeps symlinks as they are: any target, never followed', () =>
    sandbox(async (s) => {
      const { chainId } = await s.store.applyLayer(
        await buildTar([
          { name: 'abs', type: 'symlink', linkname: '/etc/shadow' },
          { name: 'up', type: 'symlink', linkname: '../../../../..' },
        ]),
      );
      const fs = s.store.snapshotPath(chainId);
      assert.equal(await readlink(join(fs, 'abs')), '/etc/shadow');
      assert.equal(await readlink(join(fs, 'up')), '../../../../..');
    }));

  it('a corrupt archive, a bad gzip stream or an abort leaves no half snapshot', () =>
    sandbox(async (s) => {
      const good = await buildTar([{ name: 'a', content: 'x'.repeat(3000) }, { name: 'b', content: 'y' }]);
      await assert.rejects(s.store.applyLayer(good.subarray(0, 2000)), (e) => isEngineError(e, 'invalid-parameter'));
      const gz = gzipSync(good);
      await assert.rejects(s.store.applyLayer(gz.subarray(0, gz.length - 20)), (e) => isEngineError(e, 'invalid-parameter'));
      const ac = new AbortController();
      async function* aborting(): AsyncGenerator<Buffer> {
        yield good.subarray(0, 1024);
        ac.abort();
        yield good.subarray(1024);
      }
      await assert.rejects(s.store.applyLayer(aborting(), { signal: ac.signal }), (e) => (e as Error).name === 'AbortError');
      assert.deepEqual(s.store.listSnapshots(), []);
      assert.deepEqual((await readdir(s.root)).sort(), ['empty', 'l']);
    }));
});

describe('applyLayer: contents and attributes', () => {
  it('keeps modes (setuid too), owners, times, links, devices and xattrs', () =>
    sandbox(async (s) => {
      const t1 = new Date('2001-02-03T04:05:06Z');
      const tar = await buildTar([
        { name: 'bin/', mode: 0o755, mtime: t1 },
        { name: 'bin/su', content: 'su', mode: 0o4755, uid: 0, gid: 0 },
        { name: 'bin/wall', content: 'wall', mode: 0o2755, uid: 0, gid: 5 },
        { name: 'tmp/', mode: 0o1777 },
        { name: 'home/user/', mode: 0o700, uid: 1000, gid: 1001, mtime: t1 },
        { name: 'home/user/file', content: 'mine', mode: 0o640, uid: 1000, gid: 1001 },
        { name: 'home/user/link', type: 'symlink', linkname: 'file', uid: 1000, gid: 1001 },
        { name: 'home/user/hard', type: 'link', linkname: 'home/user/file' },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
        { name: 'run/fifo', type: 'fifo', mode: 0o620 },
        { name: 'x', content: 'x', pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
      ]);
      const { chainId } = await s.store.applyLayer(tar);
      const fs = s.store.snapshotPath(chainId);
      const st = (p: string) => lstat(join(fs, p));

      assert.equal((await st('bin/su')).mode & 0o7777, 0o4755);
      assert.equal((await st('bin/wall')).mode & 0o7777, 0o2755);
      assert.equal((await st('bin/wall')).gid, 5);
      assert.equal((await st('tmp')).mode & 0o7777, 0o1777);
      const home = await st('home/user');
      assert.deepEqual([home.mode & 0o7777, home.uid, home.gid, home.mtimeMs], [0o700, 1000, 1001, t1.getTime()]);
      // Directory times are set after their content was written.
      assert.equal((await st('bin')).mtimeMs, t1.getTime());
      const file = await st('home/user/file');
      assert.deepEqual([file.mode & 0o7777, file.uid, file.gid, file.mtimeMs], [0o640, 1000, 1001, T0.getTime()]);
      const link = await st('home/user/link');
      assert.ok(link.isSymbolicLink());
      assert.deepEqual([link.uid, link.gid, link.mtimeMs], [1000, 1001, T0.getTime()]);
      assert.equal((await st('home/user/hard')).ino, file.ino);
      assert.equal(file.nlink, 2);
      const nul = await st('dev/null');
      assert.ok(nul.isCharacterDevice());
      assert.equal(nul.rdev, (1 << 8) | 3);
      assert.equal(nul.mode & 0o7777, 0o666);
      const loop = await st('dev/loop0');
      assert.ok(loop.isBlockDevice());
      assert.equal(loop.rdev, 7 << 8);
      assert.equal(loop.gid, 6);
      assert.ok((await st('run/fifo')).isFIFO());
      assert.equal((await st('run/fifo')).mode & 0o7777, 0o620);
      assert.equal(native.getXattr(join(fs, 'x'), 'user.note')?.toString(), 'hello');
      assert.equal(native.getXattr(join(fs, 'x'), 'trusted.overlay.redirect'), undefined, 'overlay xattrs never come from a layer');
    }));

  it('applies a binary security.capability xattr after chown (which would clear it)', () =>
    sandbox(async (s) => {
      // (tar-stream cannot write this archive: it encodes PAX values as UTF-8 strings.)
      const archive = Buffer.concat([
        encodeHeader({ name: 'ping', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 1, mtime: 5, xattrs: new Map([['security.capability', CAPABILITY]]) }),
        Buffer.from('p'),
        Buffer.alloc(511),
        END_OF_ARCHIVE,
      ]);
      const { chainId } = await s.store.applyLayer(archive);
      assert.deepEqual(native.getXattr(join(s.store.snapshotPath(chainId), 'ping'), 'security.capability'), CAPABILITY);
      // A malformed capability is the layer's fault, not the system's.
      const bad = Buffer.concat([
        encodeHeader({ name: 'bad', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 5, xattrs: new Map([['security.capability', Buffer.from('junk')]]) }),
        END_OF_ARCHIVE,
      ]);
      await assert.rejects(s.store.applyLayer(bad), (e) => isEngineError(e, 'invalid-parameter') && /xattr security.capability of "bad"/.test(e.message));
      assert.equal(s.store.listSnapshots().length, 1);
    }));

  it('computes the diff ID over the uncompressed tar, gzip or not, streamed or not', () =>
    sandbox(async (s) => {
      const tar = await buildTar([{ name: 'a/b', content: 'c'.repeat(100_000) }]);
      const diffId = sha256Digest(tar);
      const plain = await s.store.applyLayer(Readable.from([tar.subarray(0, 7), tar.subarray(7)]));
      assert.equal(plain.diffId, diffId);
      assert.equal(plain.chainId, diffId);
      assert.equal(plain.size, 100_000);
      const gz = await s.store.applyLayer(Readable.from([gzipSync(tar)]));
      assert.deepEqual([gz.diffId, gz.chainId, gz.created], [diffId, diffId, false]);
    }));

  it('applies an empty layer: end-of-archive blocks only, or no bytes at all', () =>
    sandbox(async (s) => {
      const empty = await buildTar([]);
      const a = await s.store.applyLayer(empty);
      assert.equal(a.diffId, sha256Digest(empty));
      assert.deepEqual(await readdir(s.store.snapshotPath(a.chainId)), []);
      const b = await s.store.applyLayer(Buffer.alloc(0), { parentChainId: a.chainId });
      assert.equal(b.diffId, sha256Digest(''));
      assert.equal(s.store.getSnapshot(b.chainId)?.parent, a.chainId);
    }));

  it('turns whiteouts into overlay whiteouts and opaque markers into the opaque xattr', () =>
    sandbox(async (s) => {
      const { chainId } = await s.store.applyLayer(
        await buildTar([
          { name: 'etc/.wh.motd', content: '' },
          { name: '.wh.srv', content: '' },
          { name: 'var/.wh..wh..opq', content: '' }, // before its directory's entry, as allowed
          { name: 'var/', mode: 0o711 },
          { name: 'var/new', content: 'n' },
          { name: 'kept', content: 'same layer' },
          { name: '.wh.kept', content: '' }, // does not hide an entry of its own layer
          { name: '.wh.redone', content: '' },
          { name: 'redone/', mode: 0o755 }, // deleted then recreated in one layer: opaque
          { name: '.wh.file', content: '' },
          { name: 'file', content: 'recreated' },
          { name: '.wh..wh.plnk/123', content: 'aufs metadata' },
        ]),
      );
      const fs = s.store.snapshotPath(chainId);
      for (const p of ['etc/motd', 'srv']) {
        const st = await lstat(join(fs, p));
        assert.ok(st.isCharacterDevice() && st.rdev === 0, `${p} is a whiteout`);
      }
      assert.equal(native.getXattr(join(fs, 'var'), 'trusted.overlay.opaque')?.toString(), 'y');
      assert.equal((await lstat(join(fs, 'var'))).mode & 0o7777, 0o711);
      assert.equal(await readFile(join(fs, 'kept'), 'utf8'), 'same layer');
      assert.ok((await lstat(join(fs, 'redone'))).isDirectory());
      assert.equal(native.getXattr(join(fs, 'redone'), 'trusted.overlay.opaque')?.toString(), 'y');
      assert.equal(await readFile(join(fs, 'file'), 'utf8'), 'recreated');
      assert.equal(native.getXattr(join(fs, 'etc'), 'trusted.overlay.opaque'), undefined);
      assert.deepEqual((await readdir(fs)).sort(), ['etc', 'file', 'kept', 'redone', 'srv', 'var']);
    }));

  it('extracts 5000 small files (timing printed, not asserted)', () =>
    sandbox(async (s) => {
      const entries: TestEntry[] = [];
      for (let d = 0; d < 50; d++) {
        entries.push({ name: `d${d}/` });
        for (let f = 0; f < 100; f++) entries.push({ name: `d${d}/f${f}`, content: `file ${d}/${f}\n`.repeat(20) });
      }
      const tar = await buildTar(entries);
      const t0 = performance.now();
      const { chainId } = await s.store.applyLayer(tar);
      const ms = performance.now() - t0;
      const fs = s.store.snapshotPath(chainId);
      assert.equal((await readdir(join(fs, 'd49'))).length, 100);
      assert.equal(createHash('sha256').update(await readFile(join(fs, 'd7/f42'))).digest('hex'), createHash('sha256').update('file 7/42\n'.repeat(20)).digest('hex'));
      console.log(`# 5000 files, ${(tar.length / 1e6).toFixed(1)} MB tar: ${ms.toFixed(0)} ms (${Math.round(5000 / (ms / 1000))} files/s)`);
    }));
});
