// The classic builder end to end: `berth build` and `docker build` (DOCKER_BUILDKIT=0, POST
// /build) against a private berthd, on real runc containers. Every instruction and form, the
// layer cache (hits, misses, survival across a daemon restart), multi-stage builds, contexts
// (.dockerignore, -f, stdin), bad input (each a clear error, nothing left behind), image
// management around builds, and a dozen real-world-style Dockerfiles kept as fixtures in
// test/fixtures/dockerfiles whose config and file tree are checked against what Docker's
// classic builder documents (dockerfile-reference.md). Needs root, runc, conmon, overlayfs and
// /bin/busybox (busybox-static) on the host.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BERTH, REPO, TestDaemon, busyboxTarball, leftoverMounts, ok, until, withDaemon, writeTree, type RunResult, type TreeFiles } from '../helpers/daemon.ts';

// the docker CLI's classic builder, without the BuildKit notice
process.env.DOCKER_BUILDKIT = '0';

const FIXTURES = join(REPO, 'test/fixtures/dockerfiles');

let d: TestDaemon;
let work: string;
before(async () => {
  d = await withDaemon();
  work = mkdtempSync('/tmp/berth-build-test-');
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  await d.stop();
});

let ctxCount = 0;
/** A build context in a fresh directory: path -> content (a string, or a file with a mode). */
function context(files: TreeFiles): string {
  return writeTree(join(work, `ctx${++ctxCount}`), files);
}

/** A copy of a fixture directory, safe to change. */
function fixture(name: string): string {
  const dir = join(work, `fx-${name}-${++ctxCount}`);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

const build = (dir: string, args: string[] = []): RunResult => d.berth(['build', ...args, dir], { timeout: 120000 });
const buildOk = (dir: string, args: string[] = []): string => ok(build(dir, args));
/** `run --rm image sh -c script`: its stdout. */
const sh = (image: string, script: string): string => ok(d.berth(['run', '--rm', image, 'sh', '-c', script]));
const inspect = (ref: string, format: string): string => ok(d.berth(['image', 'inspect', '-f', format, ref])).trim();

interface RunConfigView {
  User: string;
  Env: string[] | null;
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  WorkingDir: string;
  ExposedPorts?: Record<string, object>;
  Volumes: Record<string, object> | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  OnBuild: string[] | null;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
}
const config = (ref: string): RunConfigView => JSON.parse(inspect(ref, '{{json .Config}}')) as RunConfigView;

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The steps of a classic builder's output: the instruction and whether the cache answered. */
function steps(out: string): { step: string; cached: boolean }[] {
  return out
    .split(/^Step \d+\/\d+ : /m)
    .slice(1)
    .map((s) => ({ step: s.split('\n')[0] ?? '', cached: s.includes(' ---> Using cache') }));
}
const cachedSteps = (out: string): string[] => steps(out).filter((s) => s.cached).map((s) => s.step);
const rebuiltSteps = (out: string): string[] => steps(out).filter((s) => !s.cached && !s.step.startsWith('FROM') && !s.step.startsWith('ARG')).map((s) => s.step);

/** The host's static busybox (the busybox image's own binary), for FROM scratch contexts. */
function busyboxBinary(): Buffer {
  return readFileSync('/bin/busybox');
}

/**
 * The files of an image itself (not of a container of it, which also has the runtime's mount
 * points): COPY --from=<image> / into a busybox image, then list.
 */
function imageFiles(ref: string): string {
  const id = buildOk(context({ Dockerfile: `FROM busybox\nCOPY --from=${ref} / /image/\n` }), ['-q']).trim();
  return sh(id, 'cd /image && find . | sort');
}

const tagged = (ref: string): boolean => d.berth(['image', 'inspect', ref]).code === 0;
const allImageIds = (): string[] => ok(d.berth(['images', '-a', '-q', '--no-trunc'])).split('\n').filter(Boolean);

// ---------------------------------------------------------------------------------------------

describe('FROM', () => {
  test('an image: its filesystem and config are the base; the step prints the base ID', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo layered > /layered\n' });
    const out = buildOk(dir, ['-t', 'from-image']);
    const baseId = inspect('busybox', '{{.Id}}').slice(7, 19);
    assert.match(out, new RegExp(`^Step 1/2 : FROM busybox\\n ---> ${baseId}\\n`, 'm'));
    assert.match(out, /^Successfully built [0-9a-f]{12}\nSuccessfully tagged from-image:latest\n$/m);
    assert.equal(sh('from-image', 'cat /layered; ls /bin/busybox'), 'layered\n/bin/busybox\n');
    assert.deepEqual(config('from-image').Cmd, ['sh'], 'the base CMD is inherited');
    const files = imageFiles('from-image');
    assert.match(files, /^\.\/layered$/m);
    assert.doesNotMatch(files, /^\.\/etc\/(hosts|hostname|resolv\.conf)$/m, 'the RUN layer has none of the runtime\'s bind-mount targets');
  });

  test('scratch: COPY a static busybox in, then RUN it in exec form', () => {
    const dir = context({
      Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\nRUN ["/bin/busybox", "sh", "-c", "echo from-scratch > /made"]\n',
      busybox: { content: busyboxBinary(), mode: 0o755 },
    });
    const out = buildOk(dir, ['-t', 'from-scratch']);
    assert.match(out, /^Step 1\/4 : FROM scratch\nStep 2\/4 : COPY busybox \/bin\/busybox\n/m);
    assert.equal(ok(d.berth(['run', '--rm', 'from-scratch', '/bin/busybox', 'cat', '/made'])), 'from-scratch\n');
    assert.equal(imageFiles('from-scratch'), '.\n./bin\n./bin/busybox\n./made\n', 'nothing but what the Dockerfile put there (no runtime mount points)');
    const c = config('from-scratch');
    assert.deepEqual(c.Env, [DEFAULT_PATH], 'a scratch stage gets the default PATH');
    assert.equal(c.Cmd, null);
    assert.equal(c.Entrypoint, null);
  });

  test('AS name, and ARG before FROM used in FROM (printed as steps of their own)', () => {
    const dir = context({ Dockerfile: 'ARG BASE=busybox\nARG TAG=latest\nFROM ${BASE}:${TAG} AS Base\nARG TAG\nRUN echo "tag=$TAG" > /tag\n' });
    const out = buildOk(dir, ['-t', 'from-arg']);
    assert.match(out, /^Step 1\/5 : ARG BASE=busybox\nStep 2\/5 : ARG TAG=latest\nStep 3\/5 : FROM \$\{BASE\}:\$\{TAG\} AS Base\n ---> [0-9a-f]{12}\n/m);
    assert.equal(sh('from-arg', 'cat /tag'), 'tag=latest\n', 'a stage sees a global ARG after declaring it');
    const other = build(dir, ['--build-arg', 'BASE=nosuchbase']);
    assert.equal(other.code, 1, 'a --build-arg changes what FROM names');
    assert.match(other.stdout, /^Step 3\/5 : FROM \$\{BASE\}:\$\{TAG\} AS Base$/m);
    assert.match(other.stderr, /nosuchbase:latest/);
  });
});

describe('RUN and SHELL', () => {
  test('shell form runs through /bin/sh -c, exec form does not; SHELL changes the shell', () => {
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'ENV WHO=world',
        'RUN echo "shell $WHO" > /shell-form',
        'RUN ["echo", "exec $WHO"]',
        'RUN ["sh", "-c", "echo \\"exec-sh $WHO\\" > /exec-form"]',
        'SHELL ["/bin/sh", "-e", "-c"]',
        'RUN echo "$0 $-" > /shell-flags',
        'CMD echo from-cmd',
        '',
      ].join('\n'),
    });
    const out = buildOk(dir, ['-t', 'run-forms']);
    assert.match(out, /^exec \$WHO$/m, 'exec form: no variable expansion');
    assert.equal(sh('run-forms', 'cat /shell-form /exec-form'), 'shell world\nexec-sh world\n');
    assert.match(sh('run-forms', 'cat /shell-flags'), /^\/bin\/sh .*e/);
    const c = config('run-forms');
    assert.deepEqual(c.Cmd, ['/bin/sh', '-e', '-c', 'echo from-cmd'], 'shell-form CMD uses the SHELL of its time');
    const hist = ok(d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'run-forms']));
    assert.match(hist, /^\/bin\/sh -e -c echo "\$0 \$-" > \/shell-flags$/m);
    assert.match(hist, /^\/bin\/sh -e -c #\(nop\)  SHELL \[\/bin\/sh -e -c\]$/m, 'SHELL commits with the new shell, as Docker does');
    assert.match(hist, /^\/bin\/sh -c echo "shell \$WHO" > \/shell-form$/m);
    assert.match(hist, /^echo exec \$WHO$/m);
  });

  test('RUN output is shown between "Running in" and the step result', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo visible-out; echo visible-err >&2\n' });
    const out = buildOk(dir, ['--no-cache']);
    assert.match(out, / ---> Running in [0-9a-f]{12}\n[^]*visible-out\n[^]*visible-err\n[^]* ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/);
    assert.equal(ok(d.berth(['ps', '-aq'])), '', 'intermediate containers are removed');
  });

  test('heredoc: RUN <<EOF runs the lines as one script, with build args', () => {
    const dir = context({
      Dockerfile: ['FROM busybox', 'ARG NAME=heredoc', 'RUN <<EOF', 'echo "line one" > /hd', 'echo "line two $NAME" >> /hd', 'EOF', 'RUN cat <<EOT > /quoted', 'a $NAME b', 'EOT', ''].join('\n'),
    });
    buildOk(dir, ['-t', 'heredoc', '--build-arg', 'NAME=given']);
    assert.equal(sh('heredoc', 'cat /hd /quoted'), 'line one\nline two given\na given b\n');
  });

  test('RUN runs as USER, in WORKDIR, with ENV and ARGs in its environment', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nARG A=arg-a\nENV E=env-e\nWORKDIR /work/here\nUSER nobody\nRUN echo "$(id -u) $(pwd) $E $A" > /tmp/ctx\n' });
    buildOk(dir, ['-t', 'run-env']);
    assert.equal(sh('run-env', 'cat /tmp/ctx'), '65534 /work/here env-e arg-a\n');
    assert.equal(sh('run-env', 'stat -c %u /tmp/ctx'), '65534\n');
    assert.equal(sh('run-env', 'echo ${A:-unset}'), 'unset\n', 'ARGs are not in the image');
  });
});

describe('COPY and ADD', () => {
  let dir: string;
  before(() => {
    dir = context({
      'a.txt': 'a\n',
      'b.txt': 'b\n',
      'c.md': 'c\n',
      'dir/one.txt': '1\n',
      'dir/nested/two.txt': '2\n',
      'tool.sh': { content: '#!/bin/sh\necho tool\n', mode: 0o700 },
      Dockerfile: [
        'FROM busybox',
        'COPY a.txt /renamed',
        'COPY a.txt /newdir/',
        'COPY a.txt /tmp',
        'COPY a.txt b.txt /multi/',
        'COPY *.txt /glob/',
        'COPY ?.md /glob-q/',
        'COPY dir /dir-contents',
        'COPY dir/ /dir-slash/',
        'COPY dir/*/two.txt /deep/',
        'COPY tool.sh /keepmode/',
        'WORKDIR /wd',
        'COPY a.txt .',
        'COPY a.txt rel/',
        'COPY a.txt relfile',
        'COPY ["b.txt", "json form.txt"]',
        '',
      ].join('\n'),
    });
    buildOk(dir, ['-t', 'copy-forms']);
  });

  const tree = (paths: string): string => sh('copy-forms', `cd / && find ${paths} | sort`);

  test('a file: to a new name, into a new directory (trailing /), into an existing directory', () => {
    assert.equal(sh('copy-forms', 'cat /renamed; test -f /renamed && echo file'), 'a\nfile\n');
    assert.equal(tree('newdir'), 'newdir\nnewdir/a.txt\n');
    assert.equal(sh('copy-forms', 'cat /tmp/a.txt'), 'a\n', '/tmp exists as a directory: the file goes inside');
  });

  test('several sources and globs into a directory', () => {
    assert.equal(tree('multi'), 'multi\nmulti/a.txt\nmulti/b.txt\n');
    assert.equal(tree('glob'), 'glob\nglob/a.txt\nglob/b.txt\n');
    assert.equal(tree('glob-q'), 'glob-q\nglob-q/c.md\n');
    assert.equal(tree('deep'), 'deep\ndeep/two.txt\n');
  });

  test('a directory copies its contents (with or without a trailing slash)', () => {
    assert.equal(tree('dir-contents'), 'dir-contents\ndir-contents/nested\ndir-contents/nested/two.txt\ndir-contents/one.txt\n');
    assert.equal(tree('dir-slash'), 'dir-slash\ndir-slash/nested\ndir-slash/nested/two.txt\ndir-slash/one.txt\n');
  });

  test('files are root-owned, keep their mode, and relative destinations follow WORKDIR', () => {
    assert.equal(sh('copy-forms', 'stat -c "%a %u:%g" /keepmode/tool.sh /renamed /newdir'), '700 0:0\n644 0:0\n755 0:0\n');
    assert.equal(sh('copy-forms', 'cd /wd && find . | sort'), '.\n./a.txt\n./json form.txt\n./rel\n./rel/a.txt\n./relfile\n');
  });

  test('several sources to a destination without a trailing slash is an error', () => {
    const bad = context({ 'a.txt': 'a', 'b.txt': 'b', Dockerfile: 'FROM busybox\nCOPY a.txt b.txt /notadir\n' });
    const r = build(bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /When using COPY with more than one source file, the destination must be a directory and end with a \//);
  });

  test('--chown=nobody:nogroup and --chmod=0755 (new directories get the owner too)', () => {
    const c = context({
      'a.txt': 'a\n',
      'd/x.txt': 'x\n',
      Dockerfile: [
        'FROM busybox',
        'COPY --chown=nobody:nogroup a.txt /owned/',
        'COPY --chown=65534:65534 d /owned-dir',
        'COPY --chmod=0755 a.txt /moded',
        'ADD --chown=nobody:nogroup --chmod=0640 a.txt /both',
        '',
      ].join('\n'),
    });
    buildOk(c, ['-t', 'copy-owner']);
    assert.equal(
      sh('copy-owner', 'stat -c "%n %a %U:%G" /owned /owned/a.txt /owned-dir /owned-dir/x.txt /moded /both'),
      '/owned 755 nobody:nogroup\n/owned/a.txt 644 nobody:nogroup\n/owned-dir 755 nobody:nogroup\n/owned-dir/x.txt 644 nobody:nogroup\n/moded 755 root:root\n/both 640 nobody:nogroup\n',
    );
    const hist = ok(d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'copy-owner']));
    assert.match(hist, /COPY --chown=nobody:nogroup file:[0-9a-f]{64} in \/owned\/ $/m);
    assert.match(hist, /COPY --chmod=0755 file:[0-9a-f]{64} in \/moded $/m);
  });

  test('COPY --from=stage, --from=index and --from=image keep the owners of the source', () => {
    const c = context({
      Dockerfile: [
        'FROM busybox AS first',
        'RUN mkdir /out && echo built > /out/artifact && chown -R nobody:nogroup /out',
        'FROM busybox',
        'RUN echo second > /second',
        'FROM busybox',
        'COPY --from=first /out/artifact /by-name',
        'COPY --from=1 /second /by-index',
        'COPY --from=from-image /layered /by-image',
        'COPY --from=first --chown=0:0 /out /rechowned/',
        '',
      ].join('\n'),
    });
    buildOk(c, ['-t', 'copy-from']);
    assert.equal(sh('copy-from', 'cat /by-name /by-index /by-image'), 'built\nsecond\nlayered\n');
    assert.equal(sh('copy-from', 'stat -c "%n %U" /by-name /rechowned/artifact'), '/by-name nobody\n/rechowned/artifact root\n');
  });

  test('ADD of a local .tar and .tar.gz unpacks them; COPY does not', () => {
    const src = join(work, 'tarsrc');
    mkdirSync(join(src, 'inner'), { recursive: true });
    writeFileSync(join(src, 'f1'), 't1\n');
    writeFileSync(join(src, 'inner/f2'), 't2\n');
    const c = context({
      Dockerfile: 'FROM busybox\nADD plain.tar /plain/\nADD packed.tar.gz /gz\nCOPY plain.tar /copied/\nADD notatar.tar /kept/\nADD text.gz /kept/\n',
      'notatar.tar': 'just text, named like an archive\n',
    });
    assert.equal(spawnSync('sh', ['-c', `echo gzipped text | gzip > ${join(c, 'text.gz')}`]).status, 0);
    assert.equal(spawnSync('tar', ['-cf', join(c, 'plain.tar'), '-C', src, '.']).status, 0);
    assert.equal(spawnSync('tar', ['-czf', join(c, 'packed.tar.gz'), '-C', src, '.']).status, 0);
    buildOk(c, ['-t', 'add-tar']);
    assert.equal(sh('add-tar', 'cd / && find plain gz copied | sort'), 'copied\ncopied/plain.tar\ngz\ngz/f1\ngz/inner\ngz/inner/f2\nplain\nplain/f1\nplain/inner\nplain/inner/f2\n');
    assert.equal(sh('add-tar', 'cat /gz/inner/f2'), 't2\n');
    assert.equal(sh('add-tar', 'cat /kept/notatar.tar; gunzip -c /kept/text.gz'), 'just text, named like an archive\ngzipped text\n', 'files that are not tar archives are copied as they are');
  });

  test('ADD of a URL downloads it (mode 0600); a changed remote file invalidates the step', async () => {
    let body = 'remote v1\n';
    const server = http.createServer((req, res) => {
      if (req.url === '/files/page.txt') {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end('not found');
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const c = context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/files/page.txt /dl/\nADD http://127.0.0.1:${port}/files/page.txt /dl-file\nRUN echo after-add\n` });
      // async: this process serves the file while the build runs
      const first = await d.berthAsync(['build', '-t', 'add-url', c]);
      ok(first);
      assert.equal(sh('add-url', 'cat /dl/page.txt /dl-file'), 'remote v1\nremote v1\n');
      assert.equal(sh('add-url', 'stat -c "%a %u %Y" /dl/page.txt'), `600 0 ${Date.UTC(2024, 0, 1) / 1000}\n`, 'mode 0600, mtime from Last-Modified');
      const again = await d.berthAsync(['build', '-t', 'add-url', c]);
      assert.deepEqual(rebuiltSteps(ok(again)), [], 'same content: all cached');
      body = 'remote v2\n';
      const changed = await d.berthAsync(['build', '-t', 'add-url', c]);
      assert.deepEqual(rebuiltSteps(ok(changed)), [`ADD http://127.0.0.1:${port}/files/page.txt /dl/`, `ADD http://127.0.0.1:${port}/files/page.txt /dl-file`, 'RUN echo after-add']);
      assert.equal(sh('add-url', 'cat /dl/page.txt'), 'remote v2\n');
      const missing = await d.berthAsync(['build', context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/nope.txt /\n` })]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /ADD failed: .*404/);
    } finally {
      server.close();
    }
  });

  test('COPY <<EOF writes an inline file', () => {
    const c = context({ Dockerfile: 'FROM busybox\nARG WHO=inline\nCOPY <<EOF /etc/greeting\nhello $WHO\nEOF\n' });
    buildOk(c, ['-t', 'copy-heredoc']);
    assert.equal(sh('copy-heredoc', 'cat /etc/greeting'), 'hello inline\n');
  });
});

describe('WORKDIR, ENV, ARG, LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL, HEALTHCHECK', () => {
  test('WORKDIR creates the directory; a relative WORKDIR continues the previous one; ENV is substituted', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nWORKDIR rel\nENV BASE=/srv\nWORKDIR $BASE/app\nWORKDIR sub\nRUN pwd > /pwd\n' });
    buildOk(dir, ['-t', 'workdir']);
    assert.equal(config('workdir').WorkingDir, '/srv/app/sub');
    assert.equal(sh('workdir', 'cat /pwd; stat -c "%a %U" /rel /srv/app/sub'), '/srv/app/sub\n755 root\n755 root\n');
    assert.equal(ok(d.berth(['run', '--rm', 'workdir', 'pwd'])), '/srv/app/sub\n');
  });

  test('ENV in both forms; a variable is substituted with its value before the instruction', () => {
    // the reference's example: def gets hello (abc's value before this ENV), ghi gets bye
    const dir = context({ Dockerfile: 'FROM busybox\nENV LEGACY value with spaces\nENV abc=hello\nENV abc=bye def=$abc B="two words"\nENV ghi=$abc\nENV PATH=/opt/bin:$PATH\n' });
    buildOk(dir, ['-t', 'env']);
    assert.deepEqual(config('env').Env, [DEFAULT_PATH.replace('PATH=', 'PATH=/opt/bin:'), 'LEGACY=value with spaces', 'abc=bye', 'def=hello', 'B=two words', 'ghi=bye']);
    assert.equal(sh('env', 'echo "$LEGACY|$B|$def|$ghi"'), 'value with spaces|two words|hello|bye\n');
  });

  test('ARG defaults, --build-arg overrides; an undeclared --build-arg is ignored with a warning', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nARG GREETING=hello\nARG EMPTY\nRUN echo "$GREETING|${EMPTY:-none}|${UNDECLARED:-none}" > /args\n' });
    const def = buildOk(dir, ['-t', 'args-default']);
    assert.doesNotMatch(def, /\[Warning\]/);
    assert.equal(sh('args-default', 'cat /args'), 'hello|none|none\n');
    const given = buildOk(dir, ['-t', 'args-given', '--build-arg', 'GREETING=howdy', '--build-arg', 'EMPTY=set', '--build-arg', 'UNDECLARED=x']);
    assert.match(given, /^\[Warning\] One or more build-args \[UNDECLARED\] were not consumed$/m);
    assert.equal(sh('args-given', 'cat /args'), 'howdy|set|none\n');
    const hist = ok(d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args-given']));
    assert.match(hist, /^\|2 EMPTY=set GREETING=howdy \/bin\/sh -c echo/m, 'the RUN records the build args it ran with');
  });

  test('LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL are stored in the config', () => {
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'ARG V=2.0',
        'LABEL org.opencontainers.image.title="My App" version=$V',
        'LABEL multi.word="a b" \\',
        '      other=1',
        'EXPOSE 80 443/tcp 53/udp',
        'EXPOSE 8000-8001',
        'USER nobody:nogroup',
        'VOLUME /data',
        'VOLUME ["/cache", "/logs"]',
        'STOPSIGNAL SIGUSR1',
        '',
      ].join('\n'),
    });
    buildOk(dir, ['-t', 'meta', '--label', 'from.cli=yes']);
    const c = config('meta');
    assert.deepEqual(c.Labels, { 'org.opencontainers.image.title': 'My App', version: '2.0', 'multi.word': 'a b', other: '1', 'from.cli': 'yes' });
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['443/tcp', '53/udp', '80/tcp', '8000/tcp', '8001/tcp'].sort());
    assert.equal(c.User, 'nobody:nogroup');
    assert.deepEqual(Object.keys(c.Volumes ?? {}).sort(), ['/cache', '/data', '/logs']);
    assert.equal(c.StopSignal, 'SIGUSR1');
    assert.equal(ok(d.berth(['run', '--rm', 'meta', 'id', '-un'])), 'nobody\n');
  });

  test('VOLUME: changes a later RUN makes below it are discarded (classic builder)', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN mkdir /vol && echo before > /vol/before\nVOLUME /vol\nRUN echo after > /vol/after && rm /vol/before && echo kept > /kept\n' });
    buildOk(dir, ['-t', 'volume-discard']);
    assert.equal(sh('volume-discard', 'ls /vol; cat /kept'), 'before\nkept\n');
  });

  // The builder stores Healthcheck in the image config (the blob has it); image inspect does not
  // show it yet: src/api/types/image.ts builds .Config without Healthcheck (nor Shell).
  test('HEALTHCHECK is stored in the config (durations in nanoseconds); NONE disables it', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nHEALTHCHECK --interval=30s --timeout=5s --start-period=1s --retries=3 CMD wget -q -O- http://localhost/ || exit 1\n' });
    const out = buildOk(dir, ['-t', 'health']);
    assert.match(out, /Step 2\/2 : HEALTHCHECK --interval=30s/);
    assert.deepEqual(config('health').Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'], Interval: 30e9, Timeout: 5e9, StartPeriod: 1e9, Retries: 3 });
    const none = context({ Dockerfile: 'FROM health\nHEALTHCHECK NONE\n' });
    buildOk(none, ['-t', 'health-none']);
    assert.deepEqual(config('health-none').Healthcheck, { Test: ['NONE'] });
  });
});

describe('ENTRYPOINT and CMD', () => {
  const cases: { name: string; df: string; entrypoint: string[] | null; cmd: string[] | null; output?: string }[] = [
    { name: 'last CMD wins', df: 'CMD ["echo", "one"]\nCMD ["echo", "two"]', entrypoint: null, cmd: ['echo', 'two'], output: 'two\n' },
    { name: 'base CMD inherited', df: 'ENV X=1', entrypoint: null, cmd: ['sh'] },
    { name: 'ENTRYPOINT resets the inherited CMD', df: 'ENTRYPOINT ["echo", "ep"]', entrypoint: ['echo', 'ep'], cmd: null, output: 'ep\n' },
    { name: 'ENTRYPOINT exec form + CMD gives default args', df: 'ENTRYPOINT ["echo"]\nCMD ["default-arg"]', entrypoint: ['echo'], cmd: ['default-arg'], output: 'default-arg\n' },
    { name: 'a CMD of this Dockerfile before ENTRYPOINT is kept', df: 'CMD ["kept"]\nENTRYPOINT ["echo"]', entrypoint: ['echo'], cmd: ['kept'], output: 'kept\n' },
    { name: 'ENTRYPOINT shell form ignores CMD', df: 'ENTRYPOINT echo shell-ep\nCMD ["ignored"]', entrypoint: ['/bin/sh', '-c', 'echo shell-ep'], cmd: ['ignored'], output: 'shell-ep\n' },
    { name: 'last ENTRYPOINT wins', df: 'ENTRYPOINT ["echo", "first"]\nENTRYPOINT ["echo", "second"]', entrypoint: ['echo', 'second'], cmd: null, output: 'second\n' },
    { name: 'shell-form CMD', df: 'CMD echo "shell $HOME"', entrypoint: null, cmd: ['/bin/sh', '-c', 'echo "shell $HOME"'], output: 'shell /root\n' },
  ];
  for (const [i, c] of cases.entries()) {
    test(c.name, () => {
      const tag = `ep-${i}`;
      buildOk(context({ Dockerfile: `FROM busybox\n${c.df}\n` }), ['-t', tag]);
      const cfg = config(tag);
      assert.deepEqual(cfg.Entrypoint, c.entrypoint);
      assert.deepEqual(cfg.Cmd, c.cmd);
      if (c.output !== undefined) assert.equal(ok(d.berth(['run', '--rm', tag])), c.output);
    });
  }

  test('an image with neither: run says "No command specified"', () => {
    buildOk(context({ Dockerfile: 'FROM busybox\nENTRYPOINT []\n' }), ['-t', 'ep-none']);
    const cfg = config('ep-none');
    assert.equal(cfg.Entrypoint, null);
    assert.equal(cfg.Cmd, null);
    const r = d.berth(['run', '--rm', 'ep-none']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No command specified/);
    assert.equal(ok(d.berth(['ps', '-aq'])), '');
  });
});

describe('ONBUILD', () => {
  test('the triggers are stored, and run by a child image\'s build before its own steps', () => {
    buildOk(context({ Dockerfile: 'FROM busybox\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY . /app/\n' }), ['-t', 'onbuild-parent']);
    assert.deepEqual(config('onbuild-parent').OnBuild, ['RUN echo triggered > /onbuild', 'COPY . /app/']);
    const child = context({ Dockerfile: 'FROM onbuild-parent\nRUN cat /onbuild && ls /app\n', 'file.txt': 'x' });
    const out = buildOk(child, ['-t', 'onbuild-child']);
    assert.match(out, /# Executing 2 build triggers\n/);
    assert.match(out, /^triggered\nDockerfile\nfile.txt$/m);
    assert.equal(sh('onbuild-child', 'cat /onbuild'), 'triggered\n');
    const inherited = config('onbuild-child').OnBuild;
    assert.ok(inherited === null || inherited.length === 0, 'the triggers do not pass on to grandchildren');
  });
});

// ---------------------------------------------------------------------------------------------

describe('cache', () => {
  let dir: string;
  const DF = ['FROM busybox', 'COPY static.txt /static.txt', 'RUN echo static-run > /s', 'COPY app.txt /app.txt', 'ARG VER=1', 'RUN echo "ver $VER" > /ver', 'RUN echo after > /after', ''].join('\n');
  before(() => {
    dir = context({ Dockerfile: DF, 'static.txt': 'static\n', 'app.txt': 'v1\n' });
    buildOk(dir, ['-t', 'cache-app']);
  });

  test('a second build is all "Using cache" and gives the same image', () => {
    const id = inspect('cache-app', '{{.Id}}');
    const out = buildOk(dir, ['-t', 'cache-app']);
    assert.equal(steps(out).filter((s) => !s.step.startsWith('FROM')).every((s) => s.cached), true, out);
    assert.equal(cachedSteps(out).length, 6);
    assert.equal(inspect('cache-app', '{{.Id}}'), id);
  });

  test('touching a file (mtime only) keeps the cache', () => {
    const later = new Date(Date.now() + 3600_000);
    utimesSync(join(dir, 'app.txt'), later, later);
    utimesSync(join(dir, 'static.txt'), later, later);
    assert.deepEqual(rebuiltSteps(buildOk(dir, ['-t', 'cache-app'])), []);
  });

  test('a content change invalidates its COPY and every later step, not the earlier ones', () => {
    writeFileSync(join(dir, 'app.txt'), 'v2\n');
    const out = buildOk(dir, ['-t', 'cache-app']);
    assert.deepEqual(cachedSteps(out), ['COPY static.txt /static.txt', 'RUN echo static-run > /s']);
    assert.deepEqual(rebuiltSteps(out), ['COPY app.txt /app.txt', 'RUN echo "ver $VER" > /ver', 'RUN echo after > /after']);
    assert.equal(sh('cache-app', 'cat /app.txt'), 'v2\n');
    assert.deepEqual(rebuiltSteps(buildOk(dir, ['-t', 'cache-app'])), [], 'and the new steps are cached in turn');
  });

  test('a mode change invalidates the COPY too', () => {
    chmodSync(join(dir, 'app.txt'), 0o600);
    assert.deepEqual(rebuiltSteps(buildOk(dir)), ['COPY app.txt /app.txt', 'RUN echo "ver $VER" > /ver', 'RUN echo after > /after']);
    chmodSync(join(dir, 'app.txt'), 0o644);
  });

  test('changing a --build-arg invalidates the RUNs that see it, not the steps before its ARG', () => {
    const out = buildOk(dir, ['-t', 'cache-app', '--build-arg', 'VER=2']);
    assert.deepEqual(rebuiltSteps(out), ['RUN echo "ver $VER" > /ver', 'RUN echo after > /after']);
    assert.ok(cachedSteps(out).includes('COPY app.txt /app.txt'));
    assert.equal(sh('cache-app', 'cat /ver'), 'ver 2\n');
    assert.deepEqual(rebuiltSteps(buildOk(dir, ['--build-arg', 'VER=2'])), [], 'the same value hits the cache');
    assert.deepEqual(rebuiltSteps(buildOk(dir, ['--build-arg', 'VER=1'])), [], 'and so does the earlier one');
  });

  test('reordering steps misses the cache from the first moved step on', () => {
    const reordered = DF.replace('RUN echo static-run > /s\nCOPY app.txt /app.txt', 'COPY app.txt /app.txt\nRUN echo static-run > /s');
    writeFileSync(join(dir, 'Dockerfile'), reordered);
    try {
      const out = buildOk(dir);
      assert.deepEqual(cachedSteps(out), ['COPY static.txt /static.txt']);
      assert.deepEqual(rebuiltSteps(out), ['COPY app.txt /app.txt', 'RUN echo static-run > /s', 'RUN echo "ver $VER" > /ver', 'RUN echo after > /after']);
    } finally {
      writeFileSync(join(dir, 'Dockerfile'), DF);
    }
  });

  test('--no-cache runs every step', () => {
    const out = buildOk(dir, ['--no-cache']);
    assert.deepEqual(cachedSteps(out), []);
    assert.equal(rebuiltSteps(out).length, 5);
  });

  test('the cache survives a berthd restart', async () => {
    buildOk(dir, ['-t', 'cache-app']);
    const id = inspect('cache-app', '{{.Id}}');
    await d.crash();
    await d.start();
    const out = buildOk(dir, ['-t', 'cache-app']);
    assert.equal(cachedSteps(out).length, 6, out);
    assert.equal(inspect('cache-app', '{{.Id}}'), id);
  });
});

describe('multi-stage', () => {
  const DF = [
    'FROM busybox AS deps',
    'RUN echo deps > /deps',
    'FROM busybox AS unused',
    'RUN echo UNUSED-STAGE-RAN && echo unused > /unused',
    'FROM deps AS builder',
    'RUN echo BUILDER-STAGE-RAN && cat /deps > /artifact && echo built >> /artifact',
    'FROM busybox AS tester',
    'RUN echo TESTER-STAGE-RAN > /tested',
    'FROM busybox',
    'COPY --from=builder /artifact /artifact',
    '',
  ].join('\n');

  test('the final stage builds only the stages it needs', () => {
    const out = buildOk(context({ Dockerfile: DF }), ['-t', 'ms-final']);
    assert.doesNotMatch(out, /UNUSED-STAGE-RAN|TESTER-STAGE-RAN/);
    assert.match(out, /BUILDER-STAGE-RAN/);
    assert.equal(sh('ms-final', 'cat /artifact; ls /unused /tested 2>&1 | wc -l'), 'deps\nbuilt\n2\n');
  });

  test('--target builds that stage and what it depends on, nothing after it', () => {
    const out = buildOk(context({ Dockerfile: DF }), ['-t', 'ms-builder', '--target', 'builder', '--no-cache']);
    assert.doesNotMatch(out, /UNUSED-STAGE-RAN|TESTER-STAGE-RAN/);
    assert.match(out, /^Step 1\/4 : FROM busybox AS deps$/m);
    assert.equal(sh('ms-builder', 'cat /artifact'), 'deps\nbuilt\n');
    const t = buildOk(context({ Dockerfile: DF }), ['-t', 'ms-tester', '--target', 'TESTER']);
    assert.doesNotMatch(t, /UNUSED-STAGE-RAN|BUILDER-STAGE-RAN/);
    assert.equal(sh('ms-tester', 'cat /tested'), 'TESTER-STAGE-RAN\n');
  });

  test('an unknown --target is an error naming it', () => {
    const r = build(context({ Dockerfile: DF }), ['--target', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /target stage "nope" could not be found/);
  });
});

describe('build context', () => {
  test('.dockerignore excludes files, `!` re-includes; the Dockerfile may be excluded and still used', () => {
    const dir = context({
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
      '.dockerignore': '# comment\nDockerfile\nsecret.txt\nlogs/*.log\n!logs/important.log\n**/*.tmp\n',
      'keep.txt': 'keep',
      'secret.txt': 'secret',
      'logs/a.log': 'a',
      'logs/important.log': 'important',
      'deep/x/y.tmp': 'tmp',
      'deep/x/z.txt': 'z',
    });
    buildOk(dir, ['-t', 'ignore']);
    assert.equal(sh('ignore', 'cd /ctx && find . | sort'), '.\n./.dockerignore\n./deep\n./deep/x\n./deep/x/z.txt\n./keep.txt\n./logs\n./logs/important.log\n');
    const r = build(context({ Dockerfile: 'FROM busybox\nCOPY secret.txt /\n', '.dockerignore': 'secret.txt\n', 'secret.txt': 's' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /COPY failed: file not found in build context or excluded by \.dockerignore: stat secret\.txt: file does not exist/);
  });

  test('-f another Dockerfile (inside or outside the context)', () => {
    const dir = context({ 'other.Dockerfile': 'FROM busybox\nCOPY data.txt /data\nLABEL which=other\n', 'data.txt': 'data\n' });
    buildOk(dir, ['-t', 'other-df', '-f', join(dir, 'other.Dockerfile')]);
    assert.equal(sh('other-df', 'cat /data'), 'data\n');
    const outside = join(work, 'outside.Dockerfile');
    writeFileSync(outside, 'FROM busybox\nCOPY data.txt /outside-data\n');
    buildOk(dir, ['-t', 'outside-df', '-f', outside]);
    assert.equal(sh('outside-df', 'cat /outside-data; ls / | grep -c dockerfile || true'), 'data\n0\n');
  });

  test('-f - reads the Dockerfile from stdin with a directory context', () => {
    const dir = context({ 'data.txt': 'stdin-ctx\n' });
    ok(d.berth(['build', '-t', 'stdin-df', '-f', '-', dir], { input: 'FROM busybox\nCOPY . /ctx/\n' }));
    assert.equal(sh('stdin-df', 'ls -A /ctx; cat /ctx/data.txt'), 'data.txt\nstdin-ctx\n');
  });

  test('`berth build - < Dockerfile`: no context at all', () => {
    const out = ok(d.berth(['build', '-t', 'stdin-only', '-'], { input: 'FROM busybox\nRUN echo no-context > /n\n' }));
    assert.match(out, /Successfully tagged stdin-only:latest/);
    assert.equal(sh('stdin-only', 'cat /n'), 'no-context\n');
    const r = d.berth(['build', '-'], { input: 'FROM busybox\nCOPY file.txt /\n' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /file not found in build context/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('bad input', () => {
  const noContainers = (): void => assert.equal(ok(d.berth(['ps', '-aq'])), '', 'no containers left behind');

  test('an unknown instruction: the error names the file and line', () => {
    const dir = context({ 'bad.Dockerfile': 'FROM busybox\nRUN true\nFOOBAR baz\n' });
    const r = build(dir, ['-f', join(dir, 'bad.Dockerfile'), '-t', 'bad-instr']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.Dockerfile:3: .*unknown instruction: FOOBAR/i);
    assert.equal(tagged('bad-instr'), false);
  });

  test('bad syntax and a bad value are located too', () => {
    const r = build(context({ Dockerfile: 'FROM busybox\nENV A=${B\n' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Dockerfile:2: .*missing '}'/);
    const r2 = build(context({ Dockerfile: 'FROM busybox\n\nCOPY --chmod=999 a /\n', a: 'a' }));
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /Dockerfile:3: invalid chmod parameter: '999'/);
  });

  test('COPY of a missing source, of a pattern that matches nothing, of a path outside the context', () => {
    const dir = context({ 'x.txt': 'x' });
    writeFileSync(join(work, 'outside-secret'), 'secret');
    symlinkSync('/etc/passwd', join(dir, 'abs-link'));
    symlinkSync('../outside-secret', join(dir, 'rel-link'));
    const cases: [string, RegExp][] = [
      ['COPY missing.txt /', /COPY failed: file not found in build context or excluded by \.dockerignore: stat missing\.txt: file does not exist/],
      ['COPY *.nomatch /', /COPY failed: no source files were specified/],
      ['COPY ../outside-secret /', /COPY failed: forbidden path outside the build context: \.\.\/outside-secret \(\)/],
      ['ADD ../../etc/passwd /', /ADD failed: forbidden path outside the build context/],
      // symlinks are followed inside the context only: never to the host's files
      ['COPY abs-link /x', /COPY failed: file not found in build context or excluded by \.dockerignore: stat abs-link: file does not exist/],
      ['COPY rel-link /x', /COPY failed: file not found in build context or excluded by \.dockerignore: stat rel-link: file does not exist/],
    ];
    for (const [line, re] of cases) {
      writeFileSync(join(dir, 'Dockerfile'), `FROM busybox\n${line}\n`);
      const r = build(dir, ['-t', 'bad-copy']);
      assert.equal(r.code, 1, line);
      assert.match(r.stderr, re, line);
      assert.match(r.stdout, new RegExp(`^Step 2/2 : ${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
    assert.equal(tagged('bad-copy'), false);
    noContainers();
  });

  test('a failed RUN: its output shown, its exit code propagated, nothing tagged, no containers left', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo before-fail; echo to-stderr >&2; exit 7\nRUN echo never\n' });
    const r = build(dir, ['-t', 'run-fails']);
    assert.equal(r.code, 7);
    assert.match(r.stdout, /before-fail\nto-stderr\n/);
    assert.doesNotMatch(r.stdout, /never|Successfully/);
    assert.match(r.stderr, /The command '\/bin\/sh -c echo before-fail; echo to-stderr >&2; exit 7' returned a non-zero code: 7/);
    assert.equal(tagged('run-fails'), false);
    noContainers();
    const missingCmd = build(context({ Dockerfile: 'FROM busybox\nRUN ["/nonexistent"]\n' }), ['--force-rm']);
    assert.notEqual(missingCmd.code, 0);
    noContainers();
  });

  test('unknown stage in --from, index out of range, unknown base image', () => {
    const r = build(context({ Dockerfile: 'FROM busybox\nCOPY --from=nosuchstage /x /\n' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nosuchstage/);
    const r2 = build(context({ Dockerfile: 'FROM busybox\nCOPY --from=3 /x /\n' }));
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /Dockerfile:2: invalid from flag value 3: index out of bounds/);
    const r3 = build(context({ Dockerfile: 'FROM busybox AS a\nCOPY --from=b /x /\nFROM busybox AS b\n' }));
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /cannot copy from stage "b", it needs to be defined before current stage "a"/);
    const r4 = build(context({ Dockerfile: 'FROM nosuchimage:1.0\nRUN true\n' }), ['-t', 'no-base']);
    assert.equal(r4.code, 1);
    assert.match(r4.stdout, /^Step 1\/2 : FROM nosuchimage:1\.0$/m);
    assert.match(r4.stderr, /nosuchimage/);
    assert.equal(tagged('no-base'), false);
    noContainers();
  });

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    test(`an interrupted build (${signal} to the client during RUN): no containers or mounts left, a rerun succeeds`, async () => {
      const dir = context({ Dockerfile: `FROM busybox\nRUN echo started-${signal}; sleep 5; echo done > /done\n` });
      const p = spawn(process.execPath, [BERTH, 'build', '-t', `interrupted-${signal.toLowerCase()}`, dir], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const closed = once(p, 'close');
      await until(() => /Running in [0-9a-f]{12}/.test(out), 'the RUN step to start', 20000);
      await until(() => ok(d.berth(['ps', '-q'])) !== '', 'the RUN container to be running');
      p.kill(signal);
      await closed;
      const started = Date.now();
      await until(() => ok(d.berth(['ps', '-aq'])) === '', 'the RUN container to be removed', 4000);
      assert.ok(Date.now() - started < 4000, 'removed well before the sleep would end');
      await until(() => leftoverMounts(d.root).length === 0, `no mounts under ${d.root}`);
      assert.equal(tagged(`interrupted-${signal.toLowerCase()}`), false);
      const rerun = buildOk(dir, ['-t', `interrupted-${signal.toLowerCase()}`]);
      assert.match(rerun, new RegExp(`started-${signal}`));
      assert.equal(sh(`interrupted-${signal.toLowerCase()}`, 'cat /done'), 'done\n');
      noContainers();
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('docker CLI (classic builder, POST /build)', () => {
  test('the same Dockerfile through docker build: output, -t, --build-arg, --label, --iidfile', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nARG VER=1\nCOPY a.txt /a.txt\nRUN echo "ver $VER" > /ver\nCMD ["cat", "/ver"]\n', 'a.txt': 'a\n' });
    const iid = join(work, 'iidfile');
    const r = d.docker(['build', '-t', 'dk-app:1.0', '--build-arg', 'VER=9', '--label', 'a=b', '--label', 'c=d', '--iidfile', iid, dir]);
    const out = ok(r);
    assert.match(out, /^Sending build context to Docker daemon/m);
    assert.match(out, /^Step 1\/7 : FROM busybox\n ---> [0-9a-f]{12}\n/m);
    assert.match(out, /^Step 6\/7 : LABEL a=b$/m);
    assert.match(out, /^Successfully tagged dk-app:1\.0$/m);
    const id = readFileSync(iid, 'utf8');
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(inspect('dk-app:1.0', '{{.Id}}'), id);
    assert.equal(ok(d.docker(['run', '--rm', 'dk-app:1.0'])), 'ver 9\n');
    assert.deepEqual(JSON.parse(ok(d.docker(['image', 'inspect', '-f', '{{json .Config.Labels}}', 'dk-app:1.0']))), { a: 'b', c: 'd' });
    // the berth CLI hits the cache docker filled, and vice versa
    assert.equal(cachedSteps(buildOk(dir, ['--build-arg', 'VER=9', '--label', 'a=b', '--label', 'c=d'])).length, 6);
  });

  test('-q prints only the image ID', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo quiet > /q\n' });
    const out = ok(d.docker(['build', '-q', dir]));
    assert.match(out, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(sh(out.trim(), 'cat /q'), 'quiet\n');
    const iid = join(work, 'berth-iidfile');
    const berthQ = buildOk(dir, ['-q', '--iidfile', iid]);
    assert.equal(berthQ, out, 'berth build -q prints the same (cached) ID');
    assert.equal(readFileSync(iid, 'utf8'), out.trim());
  });

  test('a failed RUN: docker exits with its code', () => {
    const r = d.docker(['build', context({ Dockerfile: 'FROM busybox\nRUN echo dk-fail && exit 3\n' })]);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /dk-fail/);
    assert.match(r.stderr, /returned a non-zero code: 3/);
    assert.equal(ok(d.berth(['ps', '-aq'])), '');
  });

  test('-f - and a Dockerfile outside the context (the CLI injects it, unpadded, into the context tar)', () => {
    const dir = context({ 'data.txt': 'dk-data\n' });
    ok(d.docker(['build', '-t', 'dk-stdin', '-f', '-', dir], { input: 'FROM busybox\nCOPY . /ctx/\n' }));
    assert.equal(sh('dk-stdin', 'ls -A /ctx'), 'data.txt\n');
    const outside = join(work, 'dk-outside.Dockerfile');
    writeFileSync(outside, 'FROM busybox\nCOPY data.txt /d\n');
    ok(d.docker(['build', '-t', 'dk-outside', '-f', outside, dir]));
    assert.equal(sh('dk-outside', 'cat /d'), 'dk-data\n');
    ok(d.docker(['build', '--compress', '-t', 'dk-outside-gz', '-f', outside, dir]));
    assert.equal(inspect('dk-outside-gz', '{{.Id}}'), inspect('dk-outside', '{{.Id}}'), 'a gzipped context: the same build, all cached');
    ok(d.docker(['build', '-t', 'dk-only', '-'], { input: 'FROM busybox\nRUN echo only > /only\n' }));
    assert.equal(sh('dk-only', 'cat /only'), 'only\n');
  });

  test('real-world fixtures give the same config and files through docker build --no-cache as through berth build', () => {
    for (const name of ['static-website', 'wait-for', 'tiny-web', 'docker-gc', 'versioned-app', 'docs-site']) {
      const dir = fixture(name);
      buildOk(dir, ['-t', `cmp-berth-${name}`]);
      ok(d.docker(['build', '--no-cache', '-t', `cmp-docker-${name}`, dir]));
      assert.deepEqual(config(`cmp-docker-${name}`), config(`cmp-berth-${name}`), name);
      const ls = (ref: string): string => ok(d.berth(['run', '--rm', '--entrypoint', 'sh', ref, '-c', 'find / -xdev -newer /bin/busybox \\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hosts -o -path /etc/hostname -o -path /etc/resolv.conf \\) -prune -o -print | sort']));
      assert.equal(ls(`cmp-docker-${name}`), ls(`cmp-berth-${name}`), name);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('real-world Dockerfiles (test/fixtures/dockerfiles)', () => {
  test('static-website (lipanski/docker-static-website): non-root httpd, .dockerignore', () => {
    buildOk(fixture('static-website'), ['-t', 'rw-static']);
    const c = config('rw-static');
    assert.equal(c.User, 'static');
    assert.equal(c.WorkingDir, '/home/static');
    assert.deepEqual(c.Cmd, ['busybox', 'httpd', '-f', '-v', '-p', '3000']);
    assert.equal(c.Entrypoint, null);
    assert.deepEqual(c.ExposedPorts, { '3000/tcp': {} });
    assert.deepEqual(c.Env, [DEFAULT_PATH]);
    assert.equal(sh('rw-static', 'find . | sort'), '.\n./LICENSE.md\n./css\n./css/style.css\n./index.html\n');
    assert.equal(sh('rw-static', 'stat -c "%U %a" . index.html css; id -u'), 'static 755\nroot 644\nroot 755\n1000\n');
  });

  test('hello-scratch (docker-library/hello-world): one binary on scratch', () => {
    const dir = fixture('hello-scratch');
    copyFileSync('/bin/busybox', join(dir, 'busybox'));
    chmodSync(join(dir, 'busybox'), 0o755);
    buildOk(dir, ['-t', 'rw-hello']);
    const c = config('rw-hello');
    assert.deepEqual(c.Cmd, ['/busybox', 'echo', 'Hello from Docker!']);
    assert.equal(c.WorkingDir, '');
    assert.equal(ok(d.berth(['run', '--rm', 'rw-hello'])), 'Hello from Docker!\n');
    assert.equal(imageFiles('rw-hello'), '.\n./busybox\n');
    assert.equal((JSON.parse(inspect('rw-hello', '{{json .RootFS.Layers}}')) as string[]).length, 1);
  });

  test('scratch-multistage: build stage, then FROM scratch with the artifacts only', () => {
    buildOk(fixture('scratch-multistage'), ['-t', 'rw-scratch-ms']);
    const c = config('rw-scratch-ms');
    assert.deepEqual(c.Entrypoint, ['/bin/busybox', 'sh', '/app']);
    assert.deepEqual(c.Cmd, ['--port', '8080']);
    assert.equal(c.User, 'nobody');
    assert.equal(ok(d.berth(['run', '--rm', 'rw-scratch-ms'])), 'app --port 8080 as uid 65534\n');
    assert.equal(imageFiles('rw-scratch-ms'), '.\n./app\n./bin\n./bin/busybox\n./etc\n./etc/passwd\n');
  });

  test('wait-for (eficode/wait-for): ENTRYPOINT tool with a default CMD', () => {
    buildOk(fixture('wait-for'), ['-t', 'rw-wait-for']);
    const c = config('rw-wait-for');
    assert.deepEqual(c.Entrypoint, ['wait-for']);
    assert.deepEqual(c.Cmd, ['--help']);
    assert.match(ok(d.berth(['run', '--rm', 'rw-wait-for'])), /^Usage: wait-for host:port/);
    assert.equal(d.berth(['run', '--rm', 'rw-wait-for', '127.0.0.1:1', '-t', '1']).code, 1);
    assert.equal(sh2('rw-wait-for', 'stat -c %a /usr/local/bin/wait-for'), '755\n');
  });

  test('rootfs-tarball (docker-library/busybox): ADD rootfs.tar.gz / on scratch', () => {
    const dir = fixture('rootfs-tarball');
    assert.equal(spawnSync('sh', ['-c', `gzip -c < ${busyboxTarball()} > ${join(dir, 'rootfs.tar.gz')}`]).status, 0);
    buildOk(dir, ['-t', 'rw-rootfs']);
    assert.deepEqual(config('rw-rootfs').Cmd, ['sh']);
    assert.equal(sh('rw-rootfs', 'ls /bin/busybox /etc/passwd; stat -c %a /tmp'), '/bin/busybox\n/etc/passwd\n1777\n');
    assert.equal((JSON.parse(inspect('rw-rootfs', '{{json .RootFS.Layers}}')) as string[]).length, 1);
  });

  test('crond: crontab copied in with its mode fixed, LABEL maintainer', () => {
    buildOk(fixture('crond'), ['-t', 'rw-crond']);
    const c = config('rw-crond');
    assert.deepEqual(c.Cmd, ['crond', '-f', '-l', '8']);
    assert.deepEqual(c.Labels, { maintainer: 'ops@example.com' });
    assert.equal(sh('rw-crond', 'stat -c "%a %U" /var/spool/cron/crontabs/root; grep -c heartbeat /var/spool/cron/crontabs/root'), '600 root\n1\n');
  });

  test('tiny-web: OCI labels from a build arg, ENV-substituted COPY --chown/EXPOSE, HEALTHCHECK, USER', () => {
    buildOk(fixture('tiny-web'), ['-t', 'rw-tiny-web', '--build-arg', 'VERSION=1.2.3']);
    const c = config('rw-tiny-web');
    assert.deepEqual(c.Labels, { 'org.opencontainers.image.title': 'tiny-web', 'org.opencontainers.image.version': '1.2.3', 'org.opencontainers.image.source': 'https://example.com/tiny-web' });
    assert.deepEqual(c.Env, [DEFAULT_PATH, 'PORT=8080', 'DOCROOT=/var/www']);
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {} });
    assert.equal(c.User, 'nobody');
    assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'httpd -f -p ${PORT} -h ${DOCROOT}'], 'CMD is not substituted at build time');
    assert.equal(sh('rw-tiny-web', 'cd /var/www && stat -c "%n %U:%G" . * | sort'), '. nobody:nogroup\nhealth.txt nobody:nogroup\nindex.html nobody:nogroup\n');
  });

  test('tiny-web: its HEALTHCHECK in .Config.Healthcheck', () => {
    assert.deepEqual(config('rw-tiny-web').Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:${PORT}/ || exit 1'], Interval: 10e9, Timeout: 3e9, Retries: 2 });
  });

  test('onbuild-base and onbuild-app (node:onbuild): the child build runs the triggers', () => {
    buildOk(fixture('onbuild-base'), ['-t', 'fixture-onbuild-base']);
    assert.deepEqual(config('fixture-onbuild-base').OnBuild, ['COPY . /usr/src/app/', 'RUN sh ./build.sh']);
    const out = buildOk(fixture('onbuild-app'), ['-t', 'rw-onbuild-app']);
    assert.match(out, /# Executing 2 build triggers/);
    const c = config('rw-onbuild-app');
    assert.equal(c.WorkingDir, '/usr/src/app');
    assert.deepEqual(c.Cmd, ['sh', './start.sh']);
    assert.deepEqual(c.Env, [DEFAULT_PATH, 'GREETING=hello']);
    assert.equal(ok(d.berth(['run', '--rm', 'rw-onbuild-app'])), 'hello: built at build time\n');
    assert.equal(sh('rw-onbuild-app', 'ls'), 'Dockerfile\nbuild.out\nbuild.sh\nstart.sh\n');
  });

  test('data-volume (database images): VOLUMEs, STOPSIGNAL, entrypoint script, changes after VOLUME discarded', () => {
    buildOk(fixture('data-volume'), ['-t', 'rw-data-volume']);
    const c = config('rw-data-volume');
    assert.deepEqual(c.Volumes, { '/var/lib/app': {}, '/var/log/app': {} });
    assert.equal(c.StopSignal, 'SIGQUIT');
    assert.equal(c.User, 'nobody:nogroup');
    assert.deepEqual(c.Entrypoint, ['entrypoint.sh']);
    assert.deepEqual(c.Cmd, ['serve']);
    assert.deepEqual(c.ExposedPorts, { '5432/tcp': {} });
    assert.equal(ok(d.berth(['run', '--rm', 'rw-data-volume'])), 'serving seed.db from /var/lib/app as nobody\n');
    assert.equal(sh2('rw-data-volume', 'stat -c "%U %a" /var/lib/app /usr/local/bin/entrypoint.sh'), 'nobody 755\nroot 755\n');
  });

  test('docker-gc (spotify/docker-gc): ENV in both forms, script CMD, state VOLUME', () => {
    buildOk(fixture('docker-gc'), ['-t', 'rw-docker-gc']);
    const c = config('rw-docker-gc');
    assert.deepEqual(c.Env, [DEFAULT_PATH, 'GRACE_PERIOD_SECONDS=3600', 'STATE_DIR=/var/lib/docker-gc', 'DRY_RUN=0']);
    assert.deepEqual(c.Cmd, ['/docker-gc']);
    assert.deepEqual(c.Volumes, { '/var/lib/docker-gc': {} });
    assert.equal(ok(d.berth(['run', '--rm', 'rw-docker-gc'])), 'grace=3600 state=/var/lib/docker-gc dry_run=0\n');
  });

  test('versioned-app: ARG before FROM, version plumbing through ARG/ENV/LABEL, PATH, WORKDIR', () => {
    buildOk(fixture('versioned-app'), ['-t', 'rw-versioned', '--build-arg', 'APP_VERSION=2.5.0', '--build-arg', 'BUILD_DATE=2024-01-01']);
    const c = config('rw-versioned');
    assert.deepEqual(c.Env, [`PATH=/opt/app/bin:${DEFAULT_PATH.slice(5)}`, 'APP_VERSION=2.5.0', 'APP_HOME=/opt/app']);
    assert.deepEqual(c.Labels, { version: '2.5.0', 'build-date': '2024-01-01' });
    assert.equal(c.WorkingDir, '/opt/app');
    assert.deepEqual(c.Entrypoint, ['app']);
    assert.equal(c.Cmd, null);
    assert.equal(ok(d.berth(['run', '--rm', 'rw-versioned', 'x'])), 'app 2.5.0 in /opt/app: 2.5.0 x\n');
  });

  test('docs-site: generate in one stage, serve from another; the failing lint stage is never built', () => {
    const out = buildOk(fixture('docs-site'), ['-t', 'rw-docs']);
    assert.doesNotMatch(out, /LINT-STAGE-RAN/);
    const c = config('rw-docs');
    assert.deepEqual(c.Cmd, ['httpd', '-f', '-v', '-p', '80', '-h', '/www']);
    assert.deepEqual(c.ExposedPorts, { '80/tcp': {} });
    assert.equal(sh('rw-docs', 'cd /www && ls && cat index.html'), 'about.html\nindex.html\n<html><body>Welcome</body></html>\n');
    const lint = build(fixture('docs-site'), ['--target', 'lint']);
    assert.equal(lint.code, 1, 'the lint stage itself fails when asked for');
    assert.match(lint.stdout, /LINT-STAGE-RAN/);
  });
});

/** sh with the entrypoint replaced (for images whose ENTRYPOINT is not a shell). */
function sh2(image: string, script: string): string {
  return ok(d.berth(['run', '--rm', '--entrypoint', 'sh', image, '-c', script]));
}

// ---------------------------------------------------------------------------------------------

describe('image management around builds', () => {
  test('images hides intermediate images, images -a shows them; history lists the steps with sizes', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN printf 0123456789 > /ten\nENV MGMT=1\nCOPY f.txt /f.txt\nCMD ["cat", "/ten"]\n', 'f.txt': 'abc' });
    const out = buildOk(dir, ['-t', 'mgmt-app']);
    const ids = [...out.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1] ?? '');
    const final = inspect('mgmt-app', '{{.Id}}').slice(7, 19);
    const intermediate = ids.slice(1, -1); // not the base, not the final image
    assert.equal(intermediate.length, 3);
    const listed = ok(d.berth(['images', '--format', '{{.ID}}']));
    const listedAll = ok(d.berth(['images', '-a', '--format', '{{.ID}}']));
    assert.match(listed, new RegExp(`^${final}$`, 'm'));
    for (const id of intermediate) {
      assert.doesNotMatch(listed, new RegExp(`^${id}$`, 'm'), `images hides ${id}`);
      assert.match(listedAll, new RegExp(`^${id}$`, 'm'), `images -a shows ${id}`);
    }
    const hist = ok(d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'mgmt-app'])).trim().split('\n');
    assert.equal(hist.length, 5, hist.join('\n'));
    assert.match(hist[0] ?? '', /^\/bin\/sh -c #\(nop\)  CMD \["cat" "\/ten"\]\|0B$/);
    assert.match(hist[1] ?? '', /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \/f\.txt \|3B$/);
    assert.match(hist[2] ?? '', /^\/bin\/sh -c #\(nop\)  ENV MGMT=1\|0B$/);
    assert.equal(hist[3], '/bin/sh -c printf 0123456789 > /ten|10B');
    const ids2 = ok(d.berth(['history', '-q', 'mgmt-app'])).trim().split('\n');
    assert.equal(ids2[0], final);
  });

  test('rmi removes the image and its untagged parents, not tagged or shared ones', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo rmi-unique-1 > /u\nRUN echo rmi-unique-2 >> /u\nLABEL rmi=yes\n' });
    const before = new Set(allImageIds());
    buildOk(dir, ['-t', 'rmi-app']);
    const created = allImageIds().filter((id) => !before.has(id));
    assert.equal(created.length, 3);
    const busyboxId = inspect('busybox', '{{.Id}}');
    const r = ok(d.berth(['rmi', 'rmi-app']));
    assert.match(r, /^Untagged: rmi-app:latest$/m);
    assert.equal((r.match(/^Deleted: sha256:/gm) ?? []).length, 3);
    const after = new Set(allImageIds());
    for (const id of created) assert.equal(after.has(id), false, `${id} deleted`);
    assert.ok(after.has(busyboxId), 'the base image stays');
    assert.equal(tagged('rmi-app'), false);
  });

  test('image prune removes dangling images only; image prune -a every image without a container', () => {
    const dir = context({ Dockerfile: 'FROM busybox\nLABEL prune=v1\n' });
    buildOk(dir, ['-t', 'prune-app']);
    const v1 = inspect('prune-app', '{{.Id}}');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nLABEL prune=v2\n');
    buildOk(dir, ['-t', 'prune-app']);
    const dangling = ok(d.berth(['images', '-f', 'dangling=true', '-q', '--no-trunc']));
    assert.match(dangling, new RegExp(v1.slice(7)));
    const pruned = ok(d.berth(['image', 'prune', '-f']));
    assert.match(pruned, new RegExp(`deleted: ${v1}`));
    assert.equal(ok(d.berth(['images', '-f', 'dangling=true', '-q'])), '');
    assert.ok(tagged('prune-app') && tagged('busybox') && tagged('mgmt-app'), 'tagged images stay');

    const child = context({ Dockerfile: 'FROM mgmt-app\nRUN echo child > /child\n' });
    buildOk(child, ['-t', 'child-of-kept']);
    ok(d.berth(['create', '--name', 'keeps-image', 'mgmt-app']));
    const all = ok(d.berth(['image', 'prune', '-a', '-f']));
    assert.match(all, /Total reclaimed space/);
    assert.equal(tagged('prune-app'), false);
    assert.equal(tagged('child-of-kept'), false);
    assert.equal(tagged('mgmt-app'), true, 'an image a container uses stays');
    // the cache still names the pruned child: the rebuild misses it and runs the step again
    const rebuilt = buildOk(child, ['-t', 'child-of-kept']);
    assert.deepEqual(rebuiltSteps(rebuilt), ['RUN echo child > /child']);
    assert.equal(sh('child-of-kept', 'cat /child'), 'child\n');
    ok(d.berth(['rm', 'keeps-image']));
    d.importBusybox();
  });
});
