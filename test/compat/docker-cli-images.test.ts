// Images and system commands through the real docker CLI: import, images, image inspect, tag,
// rmi, image prune, version, info.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TestDaemon, busyboxTarball, withDaemon } from '../helpers/daemon.ts';
import { cleanup, docker, ok, show, stopDaemon } from './cli.ts';

let d: TestDaemon;
before(async () => {
  d = await withDaemon();
});
after(async () => {
  await stopDaemon(d);
});

const dk = (args: string[], opts: { input?: string | Buffer; timeout?: number } = {}) => docker(d, args, opts);
const imageExists = (ref: string): boolean => dk(['image', 'inspect', ref]).code === 0;
const rmi = (...refs: string[]): void => {
  if (refs.length) dk(['rmi', '-f', ...refs]);
};

describe('docker import', () => {
  test('import -c CMD file.tar name:tag, then run it', (t) => {
    t.after(() => {
      cleanup(d, 'imp-run');
      rmi('imported:v1');
    });
    const r = dk(['import', '-c', 'CMD ["sh"]', '-m', 'from a tarball', busyboxTarball(), 'imported:v1']);
    const id = ok(r).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    assert.equal(ok(dk(['image', 'inspect', '-f', '{{.Id}} {{json .Config.Cmd}} {{json .RepoTags}}', 'imported:v1'])).trim(), `${id} ["sh"] ["imported:v1"]`);
    assert.equal(ok(dk(['image', 'inspect', '-f', '{{.Comment}}', 'imported:v1'])).trim(), 'from a tarball');
    assert.equal(ok(dk(['run', '--rm', 'imported:v1', 'sh', '-c', 'echo from-import; cat /etc/passwd | head -1'])), 'from-import\nroot:x:0:0:root:/root:/bin/sh\n');
    // no command: the image's CMD runs (sh, which ends at once on an empty stdin)
    const run = dk(['run', '--name', 'imp-run', 'imported:v1']);
    assert.equal(run.code, 0, show(run));
    assert.equal(ok(dk(['inspect', '-f', '{{.Path}} {{json .Config.Cmd}} {{.Config.Image}} {{.State.Status}}', 'imp-run'])).trim(), 'sh ["sh"] imported:v1 exited');
  });

  test('import from stdin with several changes; repository without a tag gets :latest', (t) => {
    t.after(() => rmi('imported-stdin:latest'));
    const tar = dk(['import', '-c', 'ENV FOO=bar', '-c', 'WORKDIR /tmp', '-c', 'ENTRYPOINT ["sh", "-c"]', '-', 'imported-stdin'], {
      input: readFileSync(busyboxTarball()),
    });
    ok(tar);
    assert.equal(ok(dk(['image', 'inspect', '-f', '{{json .RepoTags}} {{json .Config.Entrypoint}} {{.Config.WorkingDir}}', 'imported-stdin'])).trim(), '["imported-stdin:latest"] ["sh","-c"] /tmp');
    assert.equal(ok(dk(['run', '--rm', 'imported-stdin', 'echo $FOO $(pwd)'])), 'bar /tmp\n');
  });

  test('import of something that is not a tarball fails', () => {
    const r = dk(['import', '-', 'bad-import:v1'], { input: 'this is not a tar archive\n'.repeat(100) });
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /Error response from daemon/);
    assert.equal(imageExists('bad-import:v1'), false);
  });
});

describe('docker images / image inspect / tag / rmi', () => {
  test('images lists repository, tag, ID, age and size', () => {
    const out = ok(dk(['images']));
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    const id = ok(dk(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
    const row = lines.find((l) => l.startsWith('busybox '));
    assert.ok(row, out);
    assert.match(row ?? '', new RegExp(`^busybox\\s+latest\\s+${id.slice(7, 19)}\\s+.+ago\\s+\\d+(\\.\\d+)?[kM]B$`));
    assert.match(ok(dk(['images', '--format', '{{.Repository}}:{{.Tag}}'])), /^busybox:latest$/m);
    assert.match(ok(dk(['images', '-q'])), new RegExp(`^${id.slice(7, 19)}$`, 'm'));
    assert.match(ok(dk(['images', '-q', '--no-trunc'])), new RegExp(`^${id}$`, 'm'));
    assert.equal(ok(dk(['images', 'busybox', '--format', '{{.Repository}}'])), 'busybox\n');
    assert.equal(ok(dk(['images', 'no-such-repo'])).trimEnd().split('\n').length, 1);
  });

  test('image inspect shows the config; unknown images are errors', () => {
    const arr = JSON.parse(ok(dk(['image', 'inspect', 'busybox']))) as Array<Record<string, any>>;
    assert.equal(arr.length, 1);
    const img = arr[0] ?? {};
    assert.match(img.Id, /^sha256:[a-f0-9]{64}$/);
    assert.deepEqual(img.RepoTags, ['busybox:latest']);
    assert.deepEqual(img.Config.Cmd, ['sh']);
    assert.equal(img.Os, 'linux');
    assert.equal(img.Architecture, 'amd64');
    assert.ok(img.Size > 0);
    assert.equal(img.RootFS.Type, 'layers');
    assert.equal(ok(dk(['image', 'inspect', '-f', '{{.Id}}', img.Id.slice(7, 19)])).trim(), img.Id);
    assert.equal(ok(dk(['inspect', '--type', 'image', '-f', '{{.Os}}', 'busybox:latest'])).trim(), 'linux');
    const r = dk(['image', 'inspect', 'no-such-image:v1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such image: no-such-image:v1/);
  });

  test('tag adds a name for the same image; rmi of one tag only untags', (t) => {
    t.after(() => rmi('tagged:one', 'reg.example:5000/team/tagged:two'));
    const id = ok(dk(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
    assert.equal(ok(dk(['tag', 'busybox', 'tagged:one'])), '');
    ok(dk(['image', 'tag', 'busybox:latest', 'reg.example:5000/team/tagged:two']));
    assert.equal(ok(dk(['image', 'inspect', '-f', '{{.Id}}', 'tagged:one'])).trim(), id);
    assert.equal(ok(dk(['image', 'inspect', '-f', '{{.Id}}', 'reg.example:5000/team/tagged:two'])).trim(), id);
    assert.deepEqual(JSON.parse(ok(dk(['image', 'inspect', '-f', '{{json .RepoTags}}', 'busybox']))).sort(), ['busybox:latest', 'reg.example:5000/team/tagged:two', 'tagged:one']);
    const listed = ok(dk(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']));
    assert.match(listed, new RegExp(`^tagged:one ${id.slice(7, 19)}$`, 'm'));
    assert.match(listed, new RegExp(`^reg\\.example:5000/team/tagged:two ${id.slice(7, 19)}$`, 'm'));

    assert.equal(ok(dk(['rmi', 'tagged:one'])), 'Untagged: tagged:one\n');
    assert.equal(imageExists('tagged:one'), false);
    assert.equal(imageExists('busybox'), true);
    const bad = dk(['tag', 'no-such-image:v1', 'x:y']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /No such image: no-such-image:v1/);
  });

  test('rmi of the last tag deletes the image; rmi of an image in use is refused', (t) => {
    t.after(() => {
      cleanup(d, 'rmi-user');
      rmi('rmi-a:v1', 'rmi-b:v1');
    });
    const a = ok(dk(['import', '-c', 'LABEL which=a', busyboxTarball(), 'rmi-a:v1'])).trim();
    const out = ok(dk(['rmi', 'rmi-a:v1']));
    assert.equal(out, `Untagged: rmi-a:v1\nDeleted: ${a}\n`);
    assert.equal(imageExists(a), false);

    ok(dk(['import', '-c', 'LABEL which=b', busyboxTarball(), 'rmi-b:v1']));
    ok(dk(['create', '--name', 'rmi-user', 'rmi-b:v1', 'true']));
    const r = dk(['rmi', 'rmi-b:v1']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /conflict: unable to (remove repository reference "rmi-b:v1"|delete)/i);
    assert.match(r.stderr, /container [a-f0-9]+ is using its referenced image/);
    assert.equal(imageExists('rmi-b:v1'), true);

    const u = dk(['rmi', 'no-such-image:v1']);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /No such image: no-such-image:v1/);
  });

  test('a re-used tag leaves a dangling image; image prune -f removes dangling images only', (t) => {
    t.after(() => rmi('dangle:v1', 'keep-me:v1'));
    const first = ok(dk(['import', '-c', 'LABEL gen=1', busyboxTarball(), 'dangle:v1'])).trim();
    const second = ok(dk(['import', '-c', 'LABEL gen=2', busyboxTarball(), 'dangle:v1'])).trim();
    assert.notEqual(first, second);
    ok(dk(['import', '-c', 'LABEL unused=yes', busyboxTarball(), 'keep-me:v1']));
    assert.deepEqual(JSON.parse(ok(dk(['image', 'inspect', '-f', '{{json .RepoTags}}', first]))), []);
    const dangling = ok(dk(['images', '--filter', 'dangling=true', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']));
    assert.equal(dangling, `<none>:<none> ${first.slice(7, 19)}\n`);
    assert.match(ok(dk(['images', '-a', '--format', '{{.ID}}'])), new RegExp(`^${first.slice(7, 19)}$`, 'm'));
    const out = ok(dk(['image', 'prune', '-f']));
    assert.match(out, /^Deleted Images:\n/);
    assert.ok(out.includes(`deleted: ${first}\n`), out);
    assert.ok(!out.includes('keep-me'), out);
    assert.equal(imageExists(first), false);
    assert.equal(imageExists('dangle:v1'), true);
    assert.equal(imageExists('keep-me:v1'), true);
  });

  test('a new tag can be run', (t) => {
    t.after(() => rmi('runnable:new'));
    ok(dk(['tag', 'busybox', 'runnable:new']));
    assert.equal(ok(dk(['run', '--rm', 'runnable:new', 'echo', 'tagged-run'])), 'tagged-run\n');
  });

  test('image prune -a -f removes unused images and keeps used ones', (t) => {
    t.after(() => {
      cleanup(d, 'prune-user');
      rmi('prune-unused:v1', 'prune-used:v1');
    });
    const unused = ok(dk(['import', '-c', 'LABEL p=unused', busyboxTarball(), 'prune-unused:v1'])).trim();
    ok(dk(['import', '-c', 'LABEL p=used', busyboxTarball(), 'prune-used:v1']));
    ok(dk(['create', '--name', 'prune-user', 'prune-used:v1', 'true']));
    ok(dk(['create', '--name', 'prune-user-bb', 'busybox', 'true']));
    t.after(() => cleanup(d, 'prune-user-bb'));
    const out = ok(dk(['image', 'prune', '-a', '-f']));
    assert.match(out, /^Deleted Images:\n/);
    assert.match(out, /^untagged: prune-unused:v1$/m);
    assert.ok(out.includes(`deleted: ${unused}\n`), out);
    assert.ok(!out.includes('prune-used'), out);
    assert.ok(!out.includes('busybox'), out);
    assert.match(out, /\nTotal reclaimed space: \d+(\.\d+)?[kM]?B\n$/);
    assert.equal(imageExists('prune-unused:v1'), false);
    assert.equal(imageExists('prune-used:v1'), true);
    assert.equal(imageExists('busybox:latest'), true);
    // nothing left to prune: no "Deleted Images" header
    assert.match(ok(dk(['image', 'prune', '-a', '-f'])), /^Total reclaimed space: 0B\n$/);
  });
});

describe('docker version / info', () => {
  test('version shows client and server', () => {
    const out = ok(dk(['version']));
    assert.match(out, /^Client:/m);
    assert.match(out, /^Server:/m);
    assert.match(out, /^ Engine:\n  Version:\s+\S+/m);
    assert.match(out, /API version:\s+1\.50 \(minimum version 1\.\d+\)/);
    assert.equal(ok(dk(['version', '--format', '{{.Server.APIVersion}}'])), '1.50\n');
    assert.equal(ok(dk(['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}'])), 'linux/amd64\n');
    const j = JSON.parse(ok(dk(['version', '--format', '{{json .}}']))) as { Server: { Version: string } | null };
    assert.ok(j.Server?.Version);
  });

  test('version fills the Engine details the CLI prints (Experimental)', () => {
    // moby puts Details.Experimental ("false"/"true") on the Engine component; without it the CLI
    // prints an empty "Experimental:" line
    const out = ok(dk(['version']));
    assert.match(out, /^  Experimental:\s+(true|false)$/m);
  });

  test('info reports container and image counts', (t) => {
    t.after(() => cleanup(d, 'info-up', 'info-done'));
    ok(dk(['run', '-d', '--name', 'info-up', 'busybox', 'sh', '-c', 'while true; do sleep 0.1; done']));
    ok(dk(['run', '--name', 'info-done', 'busybox', 'true']));
    const out = ok(dk(['info']));
    assert.match(out, /^Server:$/m);
    assert.match(out, /^ Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1$/m);
    assert.match(out, /^ Server Version: \S+$/m);
    assert.match(out, /^ Images: \d+$/m);
    assert.equal(ok(dk(['info', '--format', '{{.ContainersRunning}} {{.ContainersStopped}} {{.OSType}}'])), '1 1 linux\n');
    assert.equal(ok(dk(['info', '--format', '{{.DockerRootDir}}'])).trim(), d.root);
  });
});
