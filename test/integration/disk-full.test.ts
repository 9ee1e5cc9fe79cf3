// A disk that fills up in the middle of a pull: berthd's data root is a small tmpfs, the layer
// being pulled does not fit beside what is already there. The pull must fail with the system's
// own words ("no space left on device"), leave no ingest file, no snapshot directory and no
// image, keep the rest of the store usable, and succeed when run again once there is room.
// The same for a build whose RUN step fills the disk.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestRegistry, type TestRegistry } from '../../src/distribution/server/testing.ts';
import { busyboxTarball, leftoverMounts, TestDaemon } from '../helpers/daemon.ts';

const MiB = 1024 * 1024;
let mnt: string;
let d: TestDaemon;
let reg: TestRegistry;
let work: string;

const free = (): number => {
  const out = execFileSync('df', ['-B1', '--output=avail', mnt], { encoding: 'utf8' });
  return Number(out.trim().split('\n')[1]);
};
const ingest = (): string[] => readdirSync(join(mnt, 'content', 'ingest'));
const snapshotDirs = (): string[] => readdirSync(join(mnt, 'snapshots')).filter((n) => /^[0-9a-f]{12}$/.test(n)).sort();

/** Fill the tmpfs until only `leave` bytes are free. */
function fill(leave: number): string {
  const filler = join(mnt, 'filler');
  const n = Math.max(0, free() - leave);
  execFileSync('fallocate', ['-l', String(n), filler]);
  return filler;
}

describe('a disk that fills up', () => {
  before(async () => {
    work = mkdtempSync('/tmp/bt-full-');
    mnt = join(work, 'data');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=160m,mode=0700', 'tmpfs', mnt]);
    d = new TestDaemon({ dataRoot: mnt });
    await d.start();
    d.importBusybox();
    reg = await startTestRegistry();
    // An image with a 48 MiB layer of random bytes (so it does not compress), pushed, then
    // removed here so that pulling it needs the room again.
    const fs = join(work, 'bigfs');
    mkdirSync(fs);
    execFileSync('tar', ['-xf', busyboxTarball(), '-C', fs]);
    writeFileSync(join(fs, 'big'), randomBytes(48 * MiB));
    execFileSync('tar', ['-cf', join(work, 'big.tar'), '-C', fs, '.']);
    rmSync(fs, { recursive: true, force: true });
    const ref = `${reg.host}/full/big:1`;
    let r = d.berth(['import', '--change', 'CMD ["sh"]', join(work, 'big.tar'), ref], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    rmSync(join(work, 'big.tar'));
    r = await d.berthAsync(['push', ref]);
    assert.equal(r.code, 0, r.stderr);
    r = d.berth(['rmi', ref]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await d?.stop().catch((e: unknown) => console.error(e));
    await reg?.close();
    for (const m of leftoverMounts(work).reverse()) spawnSync('umount', ['-l', m]);
    rmSync(work, { recursive: true, force: true });
  });

  test('a pull that runs out of room fails clearly, leaves nothing, and succeeds once there is room', async () => {
    const ref = `${reg.host}/full/big:1`;
    const snaps = snapshotDirs();
    const filler = fill(40 * MiB); // the layer needs 48 MiB unpacked (and as much again as a blob)
    const r = await d.berthAsync(['pull', ref]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /no space left on device/i);
    assert.deepEqual(ingest(), []);
    assert.deepEqual(snapshotDirs(), snaps);
    assert.notEqual(d.berth(['image', 'inspect', ref]).code, 0);
    // The rest of the store still works while the disk is full.
    const ok = d.berth(['run', '--rm', 'busybox', 'echo', 'still-running']);
    assert.equal(ok.stdout, 'still-running\n', ok.stderr);

    rmSync(filler);
    const again = await d.berthAsync(['pull', ref]);
    assert.equal(again.code, 0, again.stderr);
    const run = d.berth(['run', '--rm', ref, 'sh', '-c', 'wc -c < /big']);
    assert.equal(run.stdout.trim(), String(48 * MiB), run.stderr);
    assert.equal(d.berth(['rmi', ref]).code, 0);
  });

  test('a RUN step that fills the disk fails the build and leaves no image, container or layer', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN dd if=/dev/zero of=/fill bs=1M count=200\nCMD ["sh"]\n');
    const snaps = snapshotDirs();
    const r = await d.berthAsync(['build', '-t', 'full-build:1', ctx]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr + r.stdout, /no space left on device/i);
    // dd's own exit code, not 255 (conmon could not have written its exit file on the full disk)
    assert.match(r.stderr + r.stdout, /returned a non-zero code: 1\b/);
    assert.notEqual(d.berth(['image', 'inspect', 'full-build:1']).code, 0);
    assert.equal(d.berth(['ps', '-aq']).stdout.trim(), '');
    assert.deepEqual(snapshotDirs(), snaps);
    assert.deepEqual(ingest(), []);
    assert.ok(free() > 100 * MiB, `room given back: ${free()}`);
  });
});
