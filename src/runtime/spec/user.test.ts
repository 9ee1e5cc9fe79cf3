import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isEngineError } from '../../core/errors.ts';
import { resolveInRoot } from './in-root.ts';
import { resolveUser } from './user.ts';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

  app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
audio:x:29:app
app:x:1000:
staff:x:50:
nogroup:x:65534:
`;

let tmp: string;
let rootfs: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'berth-user-'));
  rootfs = join(tmp, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc/group'), GROUP);
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveUser', () => {
  test('empty or absent user is root, with root\'s supplementary groups', async () => {
    assert.deepEqual(await resolveUser(rootfs, ''), { uid: 0, gid: 0, additionalGids: [10] });
    assert.deepEqual(await resolveUser(rootfs, undefined), { uid: 0, gid: 0, additionalGids: [10] });
  });

  test('name, uid', async () => {
    assert.deepEqual(await resolveUser(rootfs, 'app'), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
    assert.deepEqual(await resolveUser(rootfs, '1000'), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
    assert.deepEqual(await resolveUser(rootfs, 'daemon'), { uid: 1, gid: 1, additionalGids: [] });
  });

  test('numeric uid without a passwd entry keeps gid 0', async () => {
    assert.deepEqual(await resolveUser(rootfs, '4242'), { uid: 4242, gid: 0, additionalGids: [] });
  });

  test('name:group, uid:gid, uid:groupname; an explicit group drops supplementary groups', async () => {
    assert.deepEqual(await resolveUser(rootfs, 'app:staff'), { uid: 1000, gid: 50, additionalGids: [] });
    assert.deepEqual(await resolveUser(rootfs, '1000:50'), { uid: 1000, gid: 50, additionalGids: [] });
    assert.deepEqual(await resolveUser(rootfs, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [] });
    assert.deepEqual(await resolveUser(rootfs, '4242:audio'), { uid: 4242, gid: 29, additionalGids: [] });
  });

  test('unknown names are invalid-parameter with Docker\'s messages', async () => {
    await assert.rejects(
      resolveUser(rootfs, 'ghost'),
      (e) => isEngineError(e, 'invalid-parameter') && e.message === 'unable to find user ghost: no matching entries in passwd file',
    );
    await assert.rejects(
      resolveUser(rootfs, 'app:ghosts'),
      (e) => isEngineError(e, 'invalid-parameter') && e.message === 'unable to find group ghosts: no matching entries in group file',
    );
  });

  test('ids out of range', async () => {
    await assert.rejects(resolveUser(rootfs, '-1'), (e) => isEngineError(e, 'invalid-parameter'));
    await assert.rejects(resolveUser(rootfs, '0:2147483648'), (e) => isEngineError(e, 'invalid-parameter'));
  });

  test('an image without /etc/passwd accepts numeric users only', async () => {
    const bare = join(tmp, 'bare');
    await mkdir(bare);
    assert.deepEqual(await resolveUser(bare, ''), { uid: 0, gid: 0, additionalGids: [] });
    assert.deepEqual(await resolveUser(bare, '1000:1000'), { uid: 1000, gid: 1000, additionalGids: [] });
    await assert.rejects(resolveUser(bare, 'app'), (e) => isEngineError(e, 'invalid-parameter'));
  });

  test('symlinks are resolved inside the rootfs, never on the host', async () => {
    const r = join(tmp, 'links');
    await mkdir(join(r, 'etc'), { recursive: true });
    await mkdir(join(r, 'lib'), { recursive: true });
    // host-looking targets: absolute and climbing; both must land inside r
    await writeFile(join(r, 'lib/passwd'), 'evil:x:7:7::/:/bin/sh\n');
    await symlink('/../../../../../../lib/passwd', join(r, 'etc/passwd'));
    await writeFile(join(r, 'lib/group'), 'grp:x:77:evil\n');
    await symlink('../../../../../../../lib/group', join(r, 'etc/group'));
    assert.deepEqual(await resolveUser(r, 'evil'), { uid: 7, gid: 7, additionalGids: [77] });
    // /etc/passwd pointing at the host's real file would find "root"; inside r it is absent
    await rm(join(r, 'etc/passwd'));
    await symlink('/etc/passwd-host', join(r, 'etc/passwd'));
    await assert.rejects(resolveUser(r, 'root'), (e) => isEngineError(e, 'invalid-parameter'));
  });

  test('resolveInRoot clamps .. and absolute links to the root, and stops link loops', async () => {
    const r = join(tmp, 'clamp');
    await mkdir(join(r, 'a'), { recursive: true });
    await symlink('/a', join(r, 'up'));
    await symlink('loop2', join(r, 'loop1'));
    await symlink('loop1', join(r, 'loop2'));
    assert.equal(await resolveInRoot(r, '/../../etc/x'), join(r, 'etc/x'));
    assert.equal(await resolveInRoot(r, '/up/../../b'), join(r, 'b'));
    await assert.rejects(resolveInRoot(r, '/loop1'), (e) => (e as { code?: string }).code === 'ELOOP');
  });

  test('a FIFO in place of /etc/group is treated as absent, not read', async () => {
    const r = join(tmp, 'fifo');
    await mkdir(join(r, 'etc'), { recursive: true });
    await writeFile(join(r, 'etc/passwd'), PASSWD);
    execFileSync('mkfifo', [join(r, 'etc/group')]);
    assert.deepEqual(await resolveUser(r, 'app'), { uid: 1000, gid: 1000, additionalGids: [] });
  });
});
