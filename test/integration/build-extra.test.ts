// The classic builder's remaining inputs end to end, against a private berthd on real runc
// containers: a build context read from stdin as an archive (plain, gzip, bzip2, xz, zstd; by
// the berth CLI and by the docker CLI), ADD of local archives in every compression (and files
// that only look like archives), and RUN heredocs whose body starts with `#!` (run as a script
// by the interpreter the shebang names, mounted read-only at /dev/pipes, never in the layer).
// Needs root, runc, conmon, overlayfs, /bin/busybox, and the bzip2, xz and zstd programs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, leftoverMounts, ok, withDaemon, writeTree, type RunResult, type TreeFiles } from '../helpers/daemon.ts';

process.env.DOCKER_BUILDKIT = '0';

let d: TestDaemon;
let work: string;
before(async () => {
  for (const p of ['bzip2', 'xz', 'zstd', 'tar']) {
    assert.equal(spawnSync('which', [p]).status, 0, `${p} is needed (scripts/setup.sh installs it)`);
  }
  d = await withDaemon();
  work = mkdtempSync('/tmp/berth-build-extra-');
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  await d.stop();
});

let count = 0;
/** A directory with these files (path -> content, or content and mode). */
function tree(files: TreeFiles): string {
  return writeTree(join(work, `t${++count}`), files);
}

const COMPRESSORS = {
  none: [] as string[],
  gzip: ['gzip', '-c'],
  bzip2: ['bzip2', '-c'],
  xz: ['xz', '-c'],
  zstd: ['zstd', '-q', '-c'],
} as const;
type Compression = keyof typeof COMPRESSORS;

function compress(data: Buffer, how: Compression): Buffer {
  const argv = COMPRESSORS[how];
  if (argv.length === 0) return data;
  const r = spawnSync(argv[0]!, argv.slice(1), { input: data, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

/** The directory as a tar (GNU tar, entries relative to it), compressed as asked. */
function tarOf(dir: string, how: Compression = 'none'): Buffer {
  const r = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  return compress(r.stdout, how);
}

const build = (args: string[], input?: Buffer | string): RunResult => d.berth(['build', ...args], { timeout: 120000, ...(input !== undefined ? { input } : {}) });
const sh = (image: string, script: string): string => ok(d.berth(['run', '--rm', image, 'sh', '-c', script]));
const tagged = (ref: string): boolean => d.berth(['image', 'inspect', ref]).code === 0;
const images = (): string[] => ok(d.berth(['images', '-a', '-q', '--no-trunc'])).split('\n').filter(Boolean).sort();
const builderTmp = (): string[] => {
  const dir = join(d.root, 'builder', 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
};

/** The files of an image itself (not of a container of it): COPY --from=<image> into busybox, then list. */
function imageFiles(ref: string): string[] {
  const id = ok(build(['-q', tree({ Dockerfile: `FROM busybox\nCOPY --from=${ref} / /image/\n` })])).trim();
  return sh(id, 'cd /image && find . | sort').split('\n').filter(Boolean);
}

function nothingLeft(): void {
  assert.deepEqual(ok(d.berth(['ps', '-aq'])).trim(), '', 'no containers left');
  assert.deepEqual(leftoverMounts(d.root), [], 'no mounts left');
  assert.deepEqual(builderTmp(), [], 'no builder scratch directories left');
}

// ---------------------------------------------------------------------------------------------

describe('build - < context archive', () => {
  const ctx = (word = 'stdin'): string =>
    tree({
      Dockerfile: 'FROM busybox\nCOPY hello.txt sub/ /ctx/\nRUN cat /ctx/hello.txt /ctx/deep.txt\n',
      'hello.txt': `hello from a ${word} context\n`,
      'sub/deep.txt': 'deep file\n',
    });

  for (const how of Object.keys(COMPRESSORS) as Compression[]) {
    test(`a ${how === 'none' ? 'plain' : how} tar on stdin is the build context (berth CLI)`, () => {
      const tag = `stdin-ctx-${how}`;
      const out = ok(build(['-t', tag, '-'], tarOf(ctx(how), how)));
      assert.match(out, /^Step 2\/3 : COPY hello\.txt sub\/ \/ctx\/$/m);
      assert.match(out, new RegExp(`hello from a ${how} context\ndeep file\n`));
      assert.match(out, new RegExp(`^Successfully tagged ${tag}:latest$`, 'm'));
      assert.equal(sh(tag, 'cat /ctx/hello.txt /ctx/deep.txt; ls /ctx | tr "\\n" " "'), `hello from a ${how} context\ndeep file\ndeep.txt hello.txt `);
    });
  }

  test('the docker CLI sends a compressed stdin context as it is; the daemon decompresses it', () => {
    for (const how of ['xz', 'bzip2', 'gzip'] as const) {
      const out = ok(d.docker(['build', '-t', `dk-stdin-${how}`, '-'], { input: tarOf(ctx(`docker ${how}`), how), timeout: 120000 }));
      assert.match(out, new RegExp(`hello from a docker ${how} context`));
      assert.equal(sh(`dk-stdin-${how}`, 'cat /ctx/hello.txt'), `hello from a docker ${how} context\n`);
    }
  });

  test('-f names the Dockerfile inside the archive', () => {
    const dir = tree({ 'build/Alt.dockerfile': 'FROM busybox\nCOPY data /data\n', data: 'alt\n' });
    ok(build(['-t', 'stdin-alt', '-f', 'build/Alt.dockerfile', '-'], tarOf(dir, 'xz')));
    assert.equal(sh('stdin-alt', 'cat /data'), 'alt\n');
    const missing = build(['-f', 'nope.dockerfile', '-'], tarOf(dir, 'gzip'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Cannot locate specified Dockerfile: nope\.dockerfile/);
  });

  test('a Dockerfile on stdin still builds without a context; -f - with - is refused', () => {
    const out = ok(build(['-t', 'stdin-dockerfile', '-'], 'FROM busybox\nRUN echo only-a-dockerfile > /o\n'));
    assert.match(out, /Successfully tagged stdin-dockerfile:latest/);
    assert.equal(sh('stdin-dockerfile', 'cat /o'), 'only-a-dockerfile\n');
    // a Dockerfile shorter than a tar block, and one that starts like nothing in particular
    ok(build(['-t', 'stdin-short', '-'], 'FROM busybox'));
    const both = build(['-f', '-', '-'], 'FROM busybox\n');
    assert.equal(both.code, 1);
    assert.match(both.stderr, /can't use stdin for both build context and dockerfile/);
  });

  test('a corrupt compressed context is a clear error and leaves nothing behind', () => {
    const before = images();
    const good = tarOf(ctx(), 'xz');
    const bad = Buffer.concat([good.subarray(0, 64), Buffer.alloc(4096, 0x55)]);
    const r = build(['-t', 'stdin-corrupt', '-'], bad);
    assert.notEqual(r.code, 0);
    // xz may hand out garbage before it notices the bad data: the tar reader can fail first
    assert.match(r.stderr, /invalid build context: (bad xz data|corrupt tar archive)/);
    const gz = build(['-t', 'stdin-corrupt', '-'], Buffer.concat([tarOf(ctx(), 'gzip').subarray(0, 40), Buffer.alloc(2048, 7)]));
    assert.notEqual(gz.code, 0);
    assert.match(gz.stderr, /invalid build context: (bad gzip data|corrupt tar archive)/);
    assert.equal(tagged('stdin-corrupt'), false);
    assert.deepEqual(images(), before);
    nothingLeft();
  });
});

describe('ADD of a local archive', () => {
  const payload = (): string => tree({ 'top.txt': 'top\n', 'dir/inner.txt': 'inner\n', 'dir/exec.sh': { content: '#!/bin/sh\necho x\n', mode: 0o750 } });

  test('plain, gzip, bzip2, xz and zstd tars are unpacked into the destination', () => {
    const src = payload();
    const files: Record<string, Buffer | string> = {
      'a.tar': tarOf(src, 'none'),
      'b.tar.gz': tarOf(src, 'gzip'),
      'c.tar.bz2': tarOf(src, 'bzip2'),
      'd.tar.xz': tarOf(src, 'xz'),
      'e.tar.zst': tarOf(src, 'zstd'),
      // the name does not matter, the content does
      'f.bin': tarOf(src, 'xz'),
    };
    const lines = Object.keys(files).map((name) => `ADD ${name} /x/${name.split('.')[0]}/`);
    const dir = tree({ ...files, Dockerfile: `FROM busybox\n${lines.join('\n')}\n` });
    ok(build(['-t', 'add-archives', dir]));
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f']) {
      assert.equal(sh('add-archives', `cat /x/${n}/top.txt /x/${n}/dir/inner.txt && stat -c '%a %u:%g' /x/${n}/dir/exec.sh`), 'top\ninner\n750 0:0\n', `archive ${n}`);
      assert.equal(sh('add-archives', `ls /x/${n} | sort | tr '\\n' ' '`), 'dir top.txt ', `archive ${n} is unpacked, not copied`);
    }
  });

  test('files that are not tars are copied as they are, whatever their names', () => {
    const text = 'not an archive at all\n';
    const dir = tree({
      'fake.tar.xz': text,
      'fake.tar.gz': text,
      // compressed, but what is inside is no tar
      'data.xz': compress(Buffer.from('xz text\n'), 'xz'),
      'data.bz2': compress(Buffer.from('bzip2 text\n'), 'bzip2'),
      'data.gz': compress(Buffer.from('gzip text\n'), 'gzip'),
      // an xz magic followed by garbage
      'broken.tar.xz': Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(600, 1)]),
      Dockerfile: 'FROM busybox\nADD fake.tar.xz fake.tar.gz data.xz data.bz2 data.gz broken.tar.xz /files/\n',
    });
    ok(build(['-t', 'add-not-archives', dir]));
    assert.equal(sh('add-not-archives', 'cat /files/fake.tar.xz /files/fake.tar.gz'), text + text);
    assert.equal(sh('add-not-archives', 'xz -dc /files/data.xz; bzip2 -dc /files/data.bz2; gzip -dc /files/data.gz'), 'xz text\nbzip2 text\ngzip text\n');
    assert.equal(sh('add-not-archives', 'stat -c %s /files/broken.tar.xz'), '606\n');
    assert.equal(sh('add-not-archives', 'ls /files | sort | tr "\\n" " "'), 'broken.tar.xz data.bz2 data.gz data.xz fake.tar.gz fake.tar.xz ');
  });

  test('COPY never unpacks; a cached ADD of an archive is reused', () => {
    const dir = tree({ 'p.tar.bz2': tarOf(payload(), 'bzip2'), Dockerfile: 'FROM busybox\nCOPY p.tar.bz2 /copied/\nADD p.tar.bz2 /added/\n' });
    ok(build(['-t', 'add-copy', dir]));
    assert.equal(sh('add-copy', 'ls /copied; cat /added/top.txt'), 'p.tar.bz2\ntop\n');
    const again = ok(build(['-t', 'add-copy', dir]));
    assert.equal((again.match(/---> Using cache/g) ?? []).length, 2);
    nothingLeft();
  });

  test('a truncated compressed archive fails the step clearly', () => {
    const whole = tarOf(tree({ 'big.bin': Buffer.alloc(256 * 1024, 3), 'x.txt': 'x\n' }), 'xz');
    const dir = tree({ 'cut.tar.xz': whole.subarray(0, Math.floor(whole.length / 2)), Dockerfile: 'FROM busybox\nADD cut.tar.xz /cut/\n' });
    const r = build(['-t', 'add-cut', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /ADD failed: .*xz/);
    assert.equal(tagged('add-cut'), false);
    nothingLeft();
  });
});

describe('RUN heredoc with a #! line', () => {
  test('runs as a script with the interpreter the shebang names; nothing of it is in the layer', () => {
    const df = [
      'FROM busybox',
      'RUN <<EOF',
      '#!/bin/sh',
      'echo "script $0 run by $(readlink /proc/$$/exe)"',
      'echo made > /made-by-script',
      'EOF',
      'RUN <<SCRIPT',
      '#!/usr/bin/awk -f',
      'BEGIN { print "awk says " 6*7 > "/awk-out"; print "awk ran" }',
      'SCRIPT',
      'RUN <<-EOT',
      '\t#!/usr/bin/env sh',
      '\techo "env found sh: $0"',
      '\tEOT',
      '',
    ].join('\n');
    const out = ok(build(['-t', 'heredoc-shebang', tree({ Dockerfile: df })]));
    assert.match(out, /^Step 2\/4 : RUN <<EOF$/m);
    assert.match(out, /^script \/dev\/pipes\/EOF run by \/bin\/busybox$/m);
    assert.match(out, /^awk ran$/m);
    assert.match(out, /^env found sh: \/dev\/pipes\/EOT$/m);
    assert.equal(sh('heredoc-shebang', 'cat /made-by-script /awk-out; ls /dev/pipes 2>&1 || true'), 'made\nawk says 42\nls: /dev/pipes: No such file or directory\n');
    const files = imageFiles('heredoc-shebang');
    assert.ok(files.includes('./made-by-script') && files.includes('./awk-out'), files.join(' '));
    assert.deepEqual(files.filter((f) => /pipes|EOF|EOT|SCRIPT/.test(f)), []);
    const history = ok(d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'heredoc-shebang']));
    assert.match(history, /^\/bin\/sh -c \/dev\/pipes\/EOF$/m);
    nothingLeft();
  });

  test('the script is read-only, runs for a non-root USER, and its exit code fails the build', () => {
    const df = 'FROM busybox\nUSER 65534\nRUN <<EOF\n#!/bin/sh\nid -u\ntest -x "$0" && echo executable\n{ echo change >> "$0"; } 2>/dev/null || echo read-only\nEOF\n';
    const out = ok(build(['-t', 'heredoc-user', tree({ Dockerfile: df })]));
    assert.match(out, /^65534\nexecutable\nread-only$/m);
    const fail = build(['-t', 'heredoc-fail', tree({ Dockerfile: 'FROM busybox\nRUN <<EOF\n#!/bin/sh\necho failing\nexit 3\nEOF\n' })]);
    assert.equal(fail.code, 3);
    assert.match(fail.stdout, /failing/);
    assert.match(fail.stderr, /The command '\/bin\/sh -c \/dev\/pipes\/EOF' returned a non-zero code: 3/);
    assert.equal(tagged('heredoc-fail'), false);
    nothingLeft();
  });

  test('the cache keys on the script: the same body hits, a changed body runs again', () => {
    const body = (word: string): string => `FROM busybox\nRUN <<EOF\n#!/bin/sh\necho ${word} > /word\nEOF\n`;
    ok(build(['-t', 'heredoc-cache', tree({ Dockerfile: body('one') })]));
    const again = ok(build(['-t', 'heredoc-cache', tree({ Dockerfile: body('one') })]));
    assert.match(again, /---> Using cache/);
    const changed = ok(build(['-t', 'heredoc-cache', tree({ Dockerfile: body('two') })]));
    assert.doesNotMatch(changed, /---> Using cache/);
    assert.equal(sh('heredoc-cache', 'cat /word'), 'two\n');
  });

  test('a heredoc without #! still runs in the shell; with a command before it, the body is its stdin', () => {
    const df = 'FROM busybox\nRUN <<EOF\necho plain heredoc > /plain\nEOF\nRUN cat > /fed <<EOF\n#!/bin/sh\nnot run\nEOF\n';
    ok(build(['-t', 'heredoc-plain', tree({ Dockerfile: df })]));
    assert.equal(sh('heredoc-plain', 'cat /plain /fed'), 'plain heredoc\n#!/bin/sh\nnot run\n');
  });
});
