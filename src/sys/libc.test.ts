import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  MNT_DETACH,
  MS_BIND,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REMOUNT,
  S_IFCHR,
  XATTR_CREATE,
  errnoName,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  makedev,
  mknod,
  mount,
  mountAsync,
  syncFilesystem,
  syncfs,
  umount2,
  umount2Async,
} from './libc.ts';

// trusted.* xattrs need CAP_SYS_ADMIN and a filesystem that stores them (ext4 /tmp here; tmpfs
// only since Linux 6.6). Tests run as root, like the engine.
let dir = '';
before(() => {
  dir = mkdtempSync('/tmp/berth-libc-');
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return 'no error';
}

/** Run a TypeScript script in a child node (with tsx), killed after 10 s. */
async function runChild(script: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  return { code, out, err };
}

describe('libc', () => {
  test('errnoName maps errno numbers to codes', () => {
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(111), 'ECONNREFUSED');
    assert.equal(errnoName(11), 'EAGAIN');
    assert.equal(errnoName(61), 'ENODATA');
  });

  test('makedev matches glibc', () => {
    assert.equal(makedev(0, 0), 0n);
    assert.equal(makedev(1, 3), 259n); // /dev/null
    assert.equal(makedev(259, 70000), (259n << 8n) | 0x70n | ((70000n & 0xffffff00n) << 12n));
  });

  test('mknod makes an overlay whiteout (char device 0:0); errors carry errno codes', () => {
    const wh = join(dir, 'whiteout');
    mknod(wh, S_IFCHR, makedev(0, 0));
    const st = lstatSync(wh);
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, 0);
    assert.equal(st.mode & 0o7777, 0);
    assert.equal(codeOf(() => mknod(wh, S_IFCHR, 0)), 'EEXIST');
    assert.equal(codeOf(() => mknod(join(dir, 'no/such/dir/x'), S_IFCHR, 0)), 'ENOENT');
    assert.throws(
      () => mknod(wh, S_IFCHR, 0),
      (e: NodeJS.ErrnoException) => e.errno === -17 && e.syscall === 'mknod' && e.path === wh && /^EEXIST: file already exists, mknod '/.test(e.message),
    );
  });

  test('trusted.overlay.opaque round-trips with lsetxattr/lgetxattr/lremovexattr', () => {
    const d = join(dir, 'opaque-dir');
    mkdirSync(d);
    assert.equal(lgetxattr(d, 'trusted.overlay.opaque'), null);
    lsetxattr(d, 'trusted.overlay.opaque', 'y');
    assert.equal(lgetxattr(d, 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(codeOf(() => lsetxattr(d, 'trusted.overlay.opaque', 'y', XATTR_CREATE)), 'EEXIST');
    const big = Buffer.alloc(3000, 7);
    lsetxattr(d, 'user.berth.big', big);
    assert.deepEqual(lgetxattr(d, 'user.berth.big'), big);
    lsetxattr(d, 'user.berth.empty', Buffer.alloc(0));
    assert.equal(lgetxattr(d, 'user.berth.empty')?.length, 0);
    lremovexattr(d, 'trusted.overlay.opaque');
    assert.equal(lgetxattr(d, 'trusted.overlay.opaque'), null);
    assert.equal(codeOf(() => lremovexattr(d, 'trusted.overlay.opaque')), 'ENODATA');
    assert.equal(codeOf(() => lgetxattr(join(dir, 'missing'), 'trusted.x')), 'ENOENT');
    // l*: the attribute is on the symlink itself; trusted.* is allowed on symlinks, user.* is not.
    const link = join(dir, 'link');
    symlinkSync(d, link);
    lsetxattr(link, 'trusted.berth.l', 'on-link');
    assert.equal(lgetxattr(link, 'trusted.berth.l')?.toString(), 'on-link');
    assert.equal(lgetxattr(d, 'trusted.berth.l'), null);
  });

  test('llistxattr lists the names set on the path itself, no more, no fewer', () => {
    const f = join(dir, 'listed');
    writeFileSync(f, '');
    const base = llistxattr(f); // whatever an LSM put there
    assert.ok(!base.some((n) => n.startsWith('user.') || n.startsWith('trusted.')), String(base));
    const names = ['user.a', 'user.berth.empty', `user.${'x'.repeat(200)}`, 'trusted.overlay.opaque', 'user.é'];
    for (const n of names) lsetxattr(f, n, n === 'user.berth.empty' ? '' : 'v');
    assert.deepEqual(llistxattr(f).sort(), [...base, ...names].sort());
    lremovexattr(f, 'user.a');
    assert.deepEqual(llistxattr(f).sort(), [...base, ...names.filter((n) => n !== 'user.a')].sort());
    // The symlink's own attributes, not its target's.
    const link = join(dir, 'listed-link');
    symlinkSync(f, link);
    assert.deepEqual(llistxattr(link).filter((n) => n.startsWith('trusted.') || n.startsWith('user.')), []);
    lsetxattr(link, 'trusted.berth.on-link', '1');
    assert.ok(llistxattr(link).includes('trusted.berth.on-link'));
    assert.ok(!llistxattr(f).includes('trusted.berth.on-link'));
    assert.equal(codeOf(() => llistxattr(join(dir, 'missing'))), 'ENOENT');
  });

  test('syncfs and syncFilesystem flush off the event loop; errors carry the errno of the call', async () => {
    await syncFilesystem(dir);
    const fd = openSync(dir, 'r');
    try {
      await syncfs(fd);
    } finally {
      closeSync(fd);
    }
    // The failing call's errno, not the one a later call on this thread left behind.
    const bad = syncfs(-1);
    assert.equal(codeOf(() => mknod(dir, S_IFCHR, 0)), 'EEXIST');
    await assert.rejects(bad, (e: NodeJS.ErrnoException) => e.code === 'EBADF' && e.syscall === 'syncfs');
    await assert.rejects(syncFilesystem(join(dir, 'missing')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    writeFileSync(join(dir, 'plain'), '');
    await assert.rejects(syncFilesystem(join(dir, 'plain')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
  });

  test('mountAsync and umount2Async: bind mount and unmount on the threadpool', async () => {
    const src = join(dir, 'async-src');
    const dst = join(dir, 'async-dst');
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, 'f'), 'bound');
    await mountAsync(src, dst, null, MS_BIND);
    try {
      assert.equal(readFileSync(join(dst, 'f'), 'utf8'), 'bound');
    } finally {
      await umount2Async(dst);
    }
    assert.equal(existsSync(join(dst, 'f')), false);
    await assert.rejects(umount2Async(dst), (e: NodeJS.ErrnoException) => e.code === 'EINVAL' && e.syscall === 'umount2' && e.path === dst);
    await assert.rejects(umount2Async(dst, MNT_DETACH), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
    await assert.rejects(mountAsync(join(dir, 'nope'), dst, null, MS_BIND), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.syscall === 'mount');
  });

  test('bind mount, read-only remount, detach unmount', () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, 'f'), 'bound');
    mount(src, dst, null, MS_BIND);
    try {
      mount(null, dst, null, MS_PRIVATE);
      assert.equal(readFileSync(join(dst, 'f'), 'utf8'), 'bound');
      mount(null, dst, null, MS_REMOUNT | MS_BIND | MS_RDONLY);
      assert.equal(codeOf(() => writeFileSync(join(dst, 'g'), 'x')), 'EROFS');
    } finally {
      umount2(dst, MNT_DETACH);
    }
    assert.equal(existsSync(join(dst, 'f')), false);
    assert.equal(codeOf(() => umount2(dst)), 'EINVAL'); // not a mount point
    assert.equal(codeOf(() => mount(join(dir, 'nope'), dst, null, MS_BIND)), 'ENOENT');
  });

  test('importing the module loads no native code; the first call does', async () => {
    const libcUrl = new URL('./libc.ts', import.meta.url).href;
    const script = join(dir, 'lazy.mts');
    writeFileSync(
      script,
      `
import { createRequire } from 'node:module';
const koffiLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/koffi/'));
const libc = await import(${JSON.stringify(libcUrl)});
const before = koffiLoaded();
libc.llistxattr(${JSON.stringify(dir)});
console.log(JSON.stringify({ before, after: koffiLoaded() }));
`,
    );
    const { code, out, err } = await runChild(script);
    assert.equal(code, 0, err);
    assert.deepEqual(JSON.parse(out), { before: false, after: true });
  });

  test('an exception in a poll listener is rethrown from the loop and polling goes on', async () => {
    // In a child process: the rethrow is an uncaught exception by design.
    const libcUrl = new URL('./libc.ts', import.meta.url).href;
    const script = join(dir, 'poll-throw.mts');
    writeFileSync(
      script,
      `
import { pollFd, mknod, S_IFIFO, UV_READABLE, openPollCount } from ${JSON.stringify(libcUrl)};
import { openSync, readSync, writeSync, writeFileSync, watch, constants } from 'node:fs';
const dir = ${JSON.stringify(dir)};
const fifo = dir + '/fifo';
mknod(fifo, S_IFIFO | 0o600);
const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
const caught: string[] = [];
let events = 0;
process.on('uncaughtException', (e) => { caught.push(e.message); });
const poll = pollFd(fd, (status, ev) => {
  events++;
  readSync(fd, Buffer.alloc(64));
  if (events === 1) { setTimeout(() => writeSync(fd, 'b'), 20); throw new Error('boom-in-callback'); }
  poll.close();
}, () => {
  const w = watch(dir, () => {
    w.close();
    console.log(JSON.stringify({ events, caught, open: openPollCount() }));
  });
  writeFileSync(dir + '/touched', 'x');
});
poll.start(UV_READABLE);
writeSync(fd, 'a');
`,
    );
    const { code, out, err } = await runChild(script);
    assert.equal(code, 0, err);
    assert.deepEqual(JSON.parse(out), { events: 2, caught: ['boom-in-callback'], open: 0 });
  });
});
