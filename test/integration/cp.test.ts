// `cp` both ways, on running and stopped containers, with the berth CLI and the docker CLI,
// against an Engine API server built here (engine + the container, image, system and archive
// routers on a private socket) so that this file does not depend on the daemon's wiring.
// Needs root, runc, conmon and overlayfs, like the other integration tests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, createReadStream, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import http from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import tar from 'tar-stream';
import { Engine } from '../../src/engine/engine.ts';
import { defaultPaths } from '../../src/engine/paths.ts';
import { Router, createApiServer } from '../../src/api/server.ts';
import { systemRoutes } from '../../src/api/routes/system.ts';
import { containerRoutes } from '../../src/api/routes/containers.ts';
import { imageRoutes } from '../../src/api/routes/images.ts';
import { archiveRoutes } from '../../src/api/routes/archive.ts';
import { DOCKER, REPO, busyboxTarball, leftoverMounts } from '../helpers/daemon.ts';

/** tsx's loader, by URL: the CLI runs from other working directories. */
const TSX = import.meta.resolve('tsx');

interface Result {
  readonly code: number;
  readonly stdout: Buffer;
  readonly out: string;
  readonly err: string;
}

let base: string;
let socket: string;
let engine: Engine;
let server: Server;
let driver: string;
let work: string;

/** Run a program without blocking this process's event loop (the daemon runs here). */
function run(cmd: string, args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd ?? work, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    p.stdin.on('error', () => undefined);
    p.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code: code ?? 1, stdout, out: stdout.toString('utf8'), err: Buffer.concat(err).toString('utf8') });
    });
  });
}

const docker = (args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): Promise<Result> =>
  run(DOCKER, ['-H', `unix://${socket}`, ...args], { ...opts, env: { ...process.env, DOCKER_CONFIG: join(base, 'docker-config') } });

/** `berth cp` through a small driver that calls the command module as main.ts would. */
const berthCp = (args: string[], opts: { input?: Buffer | string; cwd?: string; host?: string } = {}): Promise<Result> =>
  run(process.execPath, ['--import', TSX, driver, ...args], {
    ...opts,
    env: { ...process.env, BERTH_HOST: `unix://${opts.host ?? socket}` },
  });

type Client = 'berth' | 'docker';
/** `cp` with either CLI; options first, as `cp [OPTIONS] SRC DEST`. */
const cp = (client: Client, args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): Promise<Result> =>
  client === 'berth' ? berthCp(args, opts) : docker(['cp', ...args], opts);

function ok(r: Result, what = ''): string {
  assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r.out;
}

async function sh(container: string, script: string): Promise<string> {
  return ok(await docker(['exec', container, 'sh', '-c', script]), `exec ${script}`);
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A raw Engine API call on the socket. */
function api(method: string, path: string, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path, headers: body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  readonly content?: string;
  readonly linkname?: string;
  readonly mode?: number;
}

async function makeTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: e.linkname, mtime: new Date('2021-02-03T04:05:06Z') },
        Buffer.from(e.content ?? ''),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function tarNames(buf: Buffer): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      names.push(entry.header.name);
      entry.resume();
    }
  })();
  extract.end(buf);
  await done;
  return names;
}

before(async () => {
  if (process.getuid?.() !== 0) throw new Error('cp integration tests need root (runc, overlayfs)');
  // short paths: conmon's attach socket path must stay under 108 bytes
  base = mkdtempSync('/tmp/bcp-');
  work = join(base, 'work');
  mkdirSync(work);
  const paths = { ...defaultPaths(), dataRoot: join(base, 'data'), runRoot: join(base, 'run'), socket: join(base, 'run', 'berth.sock') };
  socket = paths.socket;
  engine = await Engine.open(paths);
  await engine.importImage(createReadStream(busyboxTarball()), { changes: ['CMD ["sh"]'], tag: 'busybox:latest' });
  const r = new Router();
  systemRoutes(r, engine);
  containerRoutes(r, engine);
  imageRoutes(r, engine);
  archiveRoutes(r, engine);
  server = createApiServer(r);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  driver = join(base, 'cp-driver.mjs');
  writeFileSync(
    driver,
    `import cp from ${JSON.stringify(join(REPO, 'src/cli/commands/container/cp.ts'))};
import { closeClient } from ${JSON.stringify(join(REPO, 'src/cli/context.ts'))};
import { ExitStatus } from ${JSON.stringify(join(REPO, 'src/cli/exit-codes.ts'))};
const args = process.argv.slice(2);
const opts = {};
while (args[0]?.startsWith('-') && args[0] !== '-') {
  const a = args.shift();
  for (const f of a.startsWith('--') ? [a] : a.slice(1).split('').map((c) => '-' + c)) {
    opts[{ '-a': 'archive', '--archive': 'archive', '-L': 'followLink', '--follow-link': 'followLink', '-q': 'quiet', '--quiet': 'quiet' }[f]] = true;
  }
}
let code = 0;
try {
  await cp(opts, args, { host: process.env.BERTH_HOST });
} catch (e) {
  if (e instanceof ExitStatus) code = e.code;
  else { process.stderr.write('berth: ' + (e?.message ?? e) + '\\n'); code = 125; }
}
closeClient();
process.stdout.write('', () => process.exit(code));
`,
  );
});

after(async () => {
  const ids = (await docker(['ps', '-aq'])).out.split('\n').filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]);
  engine?.close();
  await new Promise((r) => server?.close(r));
  const leftovers = leftoverMounts(base);
  for (const m of leftovers.reverse()) await run('umount', ['-l', m]);
  rmSync(base, { recursive: true, force: true });
  assert.deepEqual(leftovers, [], 'mounts left behind');
});

/** Running container `name` with a small tree under /d and a few symlinks. */
async function runningContainer(name: string, extra: string[] = []): Promise<void> {
  ok(await docker(['run', '-d', '--name', name, ...extra, 'busybox', 'sleep', '100000']), 'run');
  await sh(name, 'mkdir -p /d/sub && echo a > /d/a && echo b > /d/sub/b && ln -s /d/a /d/ln && ln -s /etc /x && ln -s / /root2 && ln -s ../../../../../../etc /up');
}

/** A host tree: f.txt, dir/{one,sub/two}. */
function hostTree(dir: string): void {
  mkdirSync(join(dir, 'dir', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'f.txt'), 'hello\n');
  writeFileSync(join(dir, 'dir', 'one'), 'one\n');
  writeFileSync(join(dir, 'dir', 'sub', 'two'), 'two\n');
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d).sort()) {
      const r = rel ? `${rel}/${e}` : e;
      out.push(r);
      if (lstatSync(join(d, e)).isDirectory()) walk(join(d, e), r);
    }
  };
  walk(dir, '');
  return out;
}

for (const client of ['berth', 'docker'] as const) {
  describe(`${client} cp`, () => {
    const c = `${client}-run`;
    const s = `${client}-stopped`;
    let dir: string;

    before(async () => {
      dir = join(work, client);
      mkdirSync(dir);
      hostTree(dir);
      await runningContainer(c);
      ok(await docker(['create', '--name', s, 'busybox', 'sleep', '100000']), 'create');
    });

    test('host to running container: a file into a directory, to a new name, over a file', async () => {
      ok(await cp(client, ['f.txt', `${c}:/tmp/`], { cwd: dir }));
      assert.equal(await sh(c, 'cat /tmp/f.txt'), 'hello\n');
      ok(await cp(client, ['f.txt', `${c}:/tmp/renamed`], { cwd: dir }));
      assert.equal(await sh(c, 'cat /tmp/renamed'), 'hello\n');
      await sh(c, 'echo old > /tmp/over');
      ok(await cp(client, [join(dir, 'f.txt'), `${c}:/tmp/over`]));
      assert.equal(await sh(c, 'cat /tmp/over'), 'hello\n');
    });

    test('host to running container: directory rules (into an existing dir, to a new name, "/." for contents)', async () => {
      await sh(c, 'mkdir -p /h1 /h3');
      ok(await cp(client, ['dir', `${c}:/h1`], { cwd: dir }));
      assert.equal(await sh(c, 'cd /h1 && find . | sort'), '.\n./dir\n./dir/one\n./dir/sub\n./dir/sub/two\n');
      ok(await cp(client, ['dir', `${c}:/h2`], { cwd: dir }));
      assert.equal(await sh(c, 'cd /h2 && find . | sort'), '.\n./one\n./sub\n./sub/two\n');
      ok(await cp(client, ['dir/.', `${c}:/h3`], { cwd: dir }));
      assert.equal(await sh(c, 'cd /h3 && find . | sort'), '.\n./one\n./sub\n./sub/two\n');
      ok(await cp(client, ['dir/', `${c}:/h3/`], { cwd: dir }));
      assert.equal(await sh(c, 'cd /h3 && find . | sort'), '.\n./dir\n./dir/one\n./dir/sub\n./dir/sub/two\n./one\n./sub\n./sub/two\n');
    });

    test('host to container errors: missing parent, dir over a file, file to "dir/" that does not exist, dir over file in the tree', async () => {
      let r = await cp(client, ['f.txt', `${c}:/nonexistent/sub/`], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.err, /no such directory/);
      r = await cp(client, ['dir', `${c}:/d/a`], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.err, /cannot copy directory/);
      r = await cp(client, ['f.txt', `${c}:/nonexistent/f.txt`], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.err, /Could not find the file \/nonexistent in container/);
      r = await cp(client, ['missing-file', `${c}:/tmp/`], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.err, /lstat .*missing-file: no such file or directory/);
      // a file in the archive over a directory of the container: noOverwriteDirNonDir
      await sh(c, 'mkdir -p /clash/one');
      r = await cp(client, ['dir/.', `${c}:/clash`], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.err, /cannot overwrite directory "\/clash\/one" with non-directory "\/clash"/);
    });

    test('running container to host: file, new name, directory, "/." contents, "dir/"', async () => {
      const out = join(dir, 'from-run');
      mkdirSync(out);
      ok(await cp(client, [`${c}:/d/a`, out]));
      assert.equal(readFileSync(join(out, 'a'), 'utf8'), 'a\n');
      ok(await cp(client, [`${c}:/d/a`, join(out, 'a2')]));
      assert.equal(readFileSync(join(out, 'a2'), 'utf8'), 'a\n');
      ok(await cp(client, [`${c}:/d`, join(out, 'dcopy')]));
      assert.deepEqual(listTree(join(out, 'dcopy')), ['a', 'ln', 'sub', 'sub/b']);
      ok(await cp(client, [`${c}:/d`, out]));
      assert.deepEqual(listTree(join(out, 'd')), ['a', 'ln', 'sub', 'sub/b']);
      mkdirSync(join(out, 'contents'));
      ok(await cp(client, [`${c}:/d/.`, join(out, 'contents')]));
      assert.deepEqual(listTree(join(out, 'contents')), ['a', 'ln', 'sub', 'sub/b']);
      ok(await cp(client, [`${c}:/d/sub/`, join(out, 'subcopy')]));
      assert.deepEqual(listTree(join(out, 'subcopy')), ['b']);
      // a symlink is copied as a symlink
      assert.equal(readlinkSync(join(out, 'd', 'ln')), '/d/a');
      // Docker's view: the container's own /etc/hosts, not the empty file in its rootfs
      ok(await cp(client, [`${c}:/etc/hosts`, join(out, 'hosts')]));
      assert.match(readFileSync(join(out, 'hosts'), 'utf8'), /localhost/);
    });

    test('container to host errors: missing path, not a directory, file to a missing "dir/", dir over a file', async () => {
      const out = join(dir, 'from-err');
      mkdirSync(out);
      let r = await cp(client, [`${c}:/nonexistent`, out]);
      assert.equal(r.code, 1);
      assert.equal(r.err.trim(), `Error response from daemon: Could not find the file /nonexistent in container ${c}`);
      r = await cp(client, [`${c}:/d/a/`, out]);
      assert.equal(r.code, 1);
      assert.match(r.err, /not a directory/);
      r = await cp(client, [`${c}:/d/a`, join(out, 'nodir') + '/']);
      assert.equal(r.code, 1);
      assert.match(r.err, /no such directory/);
      writeFileSync(join(out, 'file'), 'x');
      r = await cp(client, [`${c}:/d`, join(out, 'file')]);
      assert.equal(r.code, 1);
      assert.match(r.err, /cannot copy directory/);
      r = await cp(client, [`${c}:/d/a`, join(out, 'missing', 'deeper')]);
      assert.equal(r.code, 1);
      assert.match(r.err, /does not exist|no such file or directory/);
    });

    test('stopped container: both directions, files and directories; no mount or view left behind', async () => {
      ok(await cp(client, ['f.txt', `${s}:/tmp/`], { cwd: dir }));
      ok(await cp(client, ['dir', `${s}:/`], { cwd: dir }));
      ok(await cp(client, ['dir/.', `${s}:/tmp/contents`], { cwd: dir }));
      const out = join(dir, 'from-stopped');
      mkdirSync(out);
      ok(await cp(client, [`${s}:/tmp/f.txt`, join(out, 'f')]));
      assert.equal(readFileSync(join(out, 'f'), 'utf8'), 'hello\n');
      ok(await cp(client, [`${s}:/dir`, join(out, 'dir')]));
      assert.deepEqual(listTree(join(out, 'dir')), ['one', 'sub', 'sub/two']);
      ok(await cp(client, [`${s}:/bin/busybox`, join(out, 'bb')]));
      assert.equal(sha256(join(out, 'bb')), sha256('/bin/busybox'));
      // nothing mounted for the stopped container, no view directory left
      const id = ok(await docker(['inspect', '-f', '{{.Id}}', s])).trim();
      const cdir = join(base, 'data', 'containers', id);
      assert.deepEqual(readdirSync(cdir).filter((e) => e.startsWith('archive-')), []);
      assert.deepEqual(leftoverMounts(cdir), []);
      // what was copied in is in the container's writable layer: the container sees it
      ok(await docker(['start', s]));
      assert.equal(await sh(s, 'cat /tmp/f.txt /dir/sub/two /tmp/contents/one'), 'hello\ntwo\none\n');
      ok(await docker(['stop', '-t', '0', s]));
    });

    test('-a: archive owners are kept without it; with it a container with a USER gets that user (moby)', async () => {
      const owned = join(dir, 'owned');
      writeFileSync(owned, 'mine\n');
      chownSync(owned, 1234, 5678);
      ok(await cp(client, ['owned', `${c}:/tmp/owned-plain`], { cwd: dir }));
      assert.equal(await sh(c, 'stat -c %u:%g /tmp/owned-plain'), '1234:5678\n');
      ok(await cp(client, ['-a', 'owned', `${c}:/tmp/owned-a`], { cwd: dir }));
      assert.equal(await sh(c, 'stat -c %u:%g /tmp/owned-a'), '1234:5678\n');
      const u = `${client}-user`;
      ok(await docker(['run', '-d', '--name', u, '-u', '33:33', 'busybox', 'sleep', '100000']));
      ok(await cp(client, ['-a', 'owned', `${u}:/tmp/owned-a`], { cwd: dir }));
      ok(await cp(client, ['owned', `${u}:/tmp/owned-plain`], { cwd: dir }));
      assert.equal(await sh(u, 'stat -c %u:%g /tmp/owned-a /tmp/owned-plain'), '33:33\n1234:5678\n');
      // container to host: files belong to whoever runs cp (root here), with or without -a
      await sh(c, 'echo z > /tmp/z && chown 4321:8765 /tmp/z');
      ok(await cp(client, ['-a', `${c}:/tmp/z`, join(dir, 'z')]));
      assert.equal(`${statSync(join(dir, 'z')).uid}:${statSync(join(dir, 'z')).gid}`, '0:0');
    });

    test('modes (setuid, setgid), hardlinks, symlinks and mtimes survive the trip both ways', async () => {
      const m = join(dir, 'modes');
      mkdirSync(join(m, 'g'), { recursive: true });
      writeFileSync(join(m, 'suid'), 'x\n');
      chmodSync(join(m, 'suid'), 0o4751);
      linkSync(join(m, 'suid'), join(m, 'suid-hard'));
      chmodSync(join(m, 'g'), 0o2750);
      symlinkSync('suid', join(m, 'ln'));
      utimesSync(join(m, 'suid'), 1577872800, 1577872800);
      ok(await cp(client, ['modes', `${c}:/`], { cwd: dir }));
      assert.equal(
        await sh(c, 'cd /modes && stat -c "%n %a %h %Y" suid suid-hard g && readlink ln'),
        'suid 4751 2 1577872800\nsuid-hard 4751 2 1577872800\ng 2750 2 ' + String(Math.floor(statSync(join(m, 'g')).mtimeMs / 1000)) + '\nsuid\n',
      );
      ok(await cp(client, [`${c}:/modes`, join(dir, 'modes-back')]));
      const back = (p: string): Stats => statSync(join(dir, 'modes-back', p));
      assert.equal(back('suid').mode & 0o7777, 0o4751);
      assert.equal(back('suid').ino, back('suid-hard').ino);
      assert.equal(back('suid').mtimeMs, 1577872800000);
      assert.equal(back('g').mode & 0o7777, 0o2750);
      assert.equal(readlinkSync(join(dir, 'modes-back', 'ln')), 'suid');
    });

    test('-L follows a symlink in the source, in both directions', async () => {
      const out = join(dir, 'links');
      mkdirSync(out);
      ok(await cp(client, [`${c}:/d/ln`, join(out, 'plain')]));
      assert.equal(readlinkSync(join(out, 'plain')), '/d/a');
      ok(await cp(client, ['-L', `${c}:/d/ln`, join(out, 'followed')]));
      assert.equal(readFileSync(join(out, 'followed'), 'utf8'), 'a\n');
      assert.ok(lstatSync(join(out, 'followed')).isFile());
      ok(await cp(client, ['-L', `${c}:/d/ln`, out]));
      assert.equal(readFileSync(join(out, 'ln'), 'utf8'), 'a\n');
      symlinkSync(join(dir, 'f.txt'), join(dir, 'hostlink'));
      ok(await cp(client, ['hostlink', `${c}:/tmp/hl-plain`], { cwd: dir }));
      assert.equal(await sh(c, 'readlink /tmp/hl-plain'), `${join(dir, 'f.txt')}\n`);
      ok(await cp(client, ['-L', 'hostlink', `${c}:/tmp/hl-followed`], { cwd: dir }));
      assert.equal(await sh(c, 'cat /tmp/hl-followed'), 'hello\n');
    });

    test('"-": a tar on stdout, a tar from stdin into a directory', async () => {
      const r = await cp(client, [`${c}:/d`, '-']);
      ok(r);
      assert.deepEqual((await tarNames(r.stdout)).sort(), ['d/', 'd/a', 'd/ln', 'd/sub/', 'd/sub/b']);
      const input = await makeTar([
        { name: 'in/', type: 'directory' },
        { name: 'in/x', content: 'from stdin\n' },
      ]);
      ok(await cp(client, ['-', `${c}:/tmp`], { input }));
      assert.equal(await sh(c, 'cat /tmp/in/x'), 'from stdin\n');
      const bad = await cp(client, ['-', `${c}:/d/a`], { input });
      assert.equal(bad.code, 1);
      assert.match(bad.err, new RegExp(`destination "${c}:/d/a" must be a directory`));
    });

    test('the summary line goes to stderr on a terminal only, unless -q', async () => {
      const cmd =
        client === 'berth'
          ? `BERTH_HOST=unix://${socket} ${process.execPath} --import ${TSX} ${driver}`
          : `DOCKER_CONFIG=${join(base, 'docker-config')} ${DOCKER} -H unix://${socket} cp`;
      const tty = await run('script', ['-qec', `${cmd} f.txt ${c}:/tmp/`, '/dev/null'], { cwd: dir });
      ok(tty);
      assert.match(tty.out, new RegExp(`Successfully copied 2\\.05kB to ${c}:/tmp/`));
      const quiet = await run('script', ['-qec', `${cmd} -q f.txt ${c}:/tmp/`, '/dev/null'], { cwd: dir });
      ok(quiet);
      assert.doesNotMatch(quiet.out, /Successfully copied/);
      const piped = await cp(client, ['f.txt', `${c}:/tmp/`], { cwd: dir });
      assert.equal(ok(piped), '');
      assert.equal(piped.err, '');
    });

    test('escapes: a container symlink never leads to the host', async () => {
      // /x -> /etc in the container: the container's passwd changes, the host's does not
      const before = sha256('/etc/passwd');
      writeFileSync(join(dir, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
      ok(await cp(client, ['passwd', `${c}:/x/passwd`], { cwd: dir }));
      assert.equal(sha256('/etc/passwd'), before);
      assert.equal(await sh(c, 'cat /etc/passwd'), 'evil:x:0:0::/:/bin/sh\n');
      ok(await cp(client, ['passwd', `${c}:/up/passwd2`], { cwd: dir }));
      assert.equal(existsSync('/etc/passwd2'), false);
      assert.equal(await sh(c, 'cat /etc/passwd2'), 'evil:x:0:0::/:/bin/sh\n');
      // /root2 -> / and /up -> ../../..: reading through them reads the container's files
      ok(await cp(client, [`${c}:/root2/etc/passwd`, join(dir, 'out-passwd')]));
      assert.equal(readFileSync(join(dir, 'out-passwd'), 'utf8'), 'evil:x:0:0::/:/bin/sh\n');
      ok(await cp(client, [`${c}:/up/group`, join(dir, 'out-group')]));
      assert.equal(readFileSync(join(dir, 'out-group'), 'utf8'), await sh(c, 'cat /etc/group'));
      assert.notEqual(readFileSync(join(dir, 'out-group'), 'utf8'), readFileSync('/etc/group', 'utf8'));
    });
  });
}

describe('archive API', () => {
  const c = 'api-run';
  before(async () => {
    await runningContainer(c);
    await sh(c, 'chmod 4755 /d/a && mkdir -p /d/sticky && chmod 1777 /d/sticky');
  });

  const stat = (h: http.IncomingHttpHeaders): { name: string; size: number; mode: number; mtime: string; linkTarget: string } =>
    JSON.parse(Buffer.from(String(h['x-docker-container-path-stat']), 'base64').toString('utf8')) as never;

  test('HEAD: X-Docker-Container-Path-Stat is standard base64 JSON with a Go FileMode', async () => {
    let r = await api('HEAD', `/v1.50/containers/${c}/archive?path=${encodeURIComponent('/tmp/')}`);
    assert.equal(r.status, 200);
    const tmp = stat(r.headers);
    assert.equal(tmp.name, 'tmp');
    assert.equal(tmp.mode, 2 ** 31 + 2 ** 20 + 0o777); // ModeDir | ModeSticky | 0777
    assert.match(tmp.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    assert.equal(tmp.linkTarget, '');
    r = await api('HEAD', `/containers/${c}/archive?path=/d/ln`);
    assert.deepEqual({ ...stat(r.headers), mtime: '' }, { name: 'ln', size: 4, mode: 2 ** 27 + 0o777, mtime: '', linkTarget: '/d/a' });
    r = await api('HEAD', `/containers/${c}/archive?path=/d/a`);
    assert.equal(stat(r.headers).mode, 2 ** 23 + 0o755); // ModeSetuid | 0755
    r = await api('HEAD', `/containers/${c}/archive?path=/root2`);
    assert.equal(Math.floor(stat(r.headers).mode / 2 ** 27) % 2, 1, 'a symlink without a trailing "/"');
    r = await api('HEAD', `/containers/${c}/archive?path=/root2/`);
    assert.equal(Math.floor(stat(r.headers).mode / 2 ** 31), 1, 'followed with a trailing "/"');
    r = await api('HEAD', `/containers/${c}/archive?path=/x`);
    assert.equal(stat(r.headers).linkTarget, '/etc');
    r = await api('HEAD', `/containers/${c}/archive?path=/nonexistent`);
    assert.equal(r.status, 404);
  });

  test('errors: 404 with Docker\'s message, 400 for a missing path or a file as extraction point', async () => {
    let r = await api('GET', `/containers/${c}/archive?path=/nonexistent`);
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body.toString()).message, `Could not find the file /nonexistent in container ${c}`);
    r = await api('GET', `/containers/nosuch/archive?path=/`);
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body.toString()).message, 'No such container: nosuch');
    r = await api('GET', `/containers/${c}/archive`);
    assert.equal(r.status, 400);
    const t = await makeTar([{ name: 'f', content: 'x' }]);
    r = await api('PUT', `/containers/${c}/archive?path=/d/a`, t);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body.toString()).message, 'extraction point is not a directory');
    r = await api('PUT', `/containers/${c}/archive?path=/nonexistent`, t);
    assert.equal(r.status, 404);
  });

  test('GET names entries after the basename; "/." gives "./"', async () => {
    let r = await api('GET', `/containers/${c}/archive?path=/d/sub`);
    assert.equal(r.headers['content-type'], 'application/x-tar');
    assert.deepEqual(await tarNames(r.body), ['sub/', 'sub/b']);
    r = await api('GET', `/containers/${c}/archive?path=/d/sub/.`);
    assert.deepEqual(await tarNames(r.body), ['./', './b']);
    assert.equal(stat(r.headers).name, '.');
  });

  test('PUT refuses names that climb out, links that leave, and never writes through to the host', async () => {
    rmSync('/tmp/berth-cp-escape', { force: true, recursive: true });
    let r = await api('PUT', `/containers/${c}/archive?path=/tmp`, await makeTar([{ name: '../escape', content: 'x' }]));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body.toString()).message, '"../escape" is outside of "/tmp"');
    assert.equal(await sh(c, 'ls /escape 2>&1 || true'), 'ls: /escape: No such file or directory\n');
    r = await api('PUT', `/containers/${c}/archive?path=/tmp`, await makeTar([{ name: 'hl', type: 'link', linkname: '../etc/passwd' }]));
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body.toString()).message, /^invalid hardlink/);
    r = await api('PUT', `/containers/${c}/archive?path=/tmp`, await makeTar([{ name: 'sl', type: 'symlink', linkname: '../../etc' }]));
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body.toString()).message, /^invalid symlink/);
    // an absolute symlink in the archive, then a file through it: lands in the container
    r = await api(
      'PUT',
      `/containers/${c}/archive?path=/tmp`,
      await makeTar([
        { name: 'lnk', type: 'symlink', linkname: '/' },
        { name: 'lnk/tmp/berth-cp-escape', content: 'inside\n' },
        { name: '/abs/name', content: 'abs\n' },
      ]),
    );
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(existsSync('/tmp/berth-cp-escape'), false);
    assert.equal(await sh(c, 'cat /tmp/berth-cp-escape /tmp/abs/name'), 'inside\nabs\n');
  });

  test('a stopped container: concurrent calls share its temporary view; a stale view is swept; nothing is left', async () => {
    const name = 'api-stopped';
    const id = ok(await docker(['create', '--name', name, 'busybox', 'true'])).trim();
    const cdir = join(base, 'data', 'containers', id);
    mkdirSync(join(cdir, 'archive-stale', 'root'), { recursive: true });
    mkdirSync(join(cdir, 'archive-stale', 'work', 'work'), { recursive: true });
    const tars = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => makeTar([{ name: `p${i}`, content: `${i}\n` }])));
    const results = await Promise.all([
      ...tars.map((t) => api('PUT', `/containers/${name}/archive?path=/tmp`, t)),
      ...tars.map(() => api('GET', `/containers/${name}/archive?path=/bin/busybox`)),
      ...tars.map(() => api('HEAD', `/containers/${name}/archive?path=/etc/passwd`)),
    ]);
    for (const r of results) assert.equal(r.status, 200, r.body.toString());
    const bb = statSync('/bin/busybox').size;
    for (const r of results.slice(6, 12)) assert.ok(r.body.length > bb);
    const r = await api('GET', `/containers/${name}/archive?path=/tmp`);
    assert.deepEqual((await tarNames(r.body)).sort(), ['tmp/', 'tmp/p0', 'tmp/p1', 'tmp/p2', 'tmp/p3', 'tmp/p4', 'tmp/p5']);
    assert.deepEqual(readdirSync(cdir).filter((e) => e.startsWith('archive-')), []);
    assert.deepEqual(leftoverMounts(cdir), []);
  });

  test('PUT into a read-only container is refused', async () => {
    ok(await docker(['create', '--name', 'api-ro', '--read-only', 'busybox', 'true']));
    const r = await api('PUT', `/containers/api-ro/archive?path=/tmp`, await makeTar([{ name: 'f', content: 'x' }]));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body.toString()).message, 'container rootfs is marked read-only');
  });
});

describe('berth cp extraction on this machine', () => {
  // A fake daemon that answers GET archive with a hostile tar, to check the CLI's own checks.
  let fake: Server;
  let fakeSocket: string;
  let archive: Buffer;
  before(async () => {
    fakeSocket = join(base, 'fake.sock');
    fake = http.createServer((req, res) => {
      const stat = Buffer.from(JSON.stringify({ name: 'evil', size: 0, mode: 2 ** 31 + 0o755, mtime: '2021-01-01T00:00:00Z', linkTarget: '' })).toString('base64');
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': stat });
      res.end(req.method === 'HEAD' ? undefined : archive);
    });
    await new Promise<void>((resolve) => fake.listen(fakeSocket, resolve));
  });
  after(() => new Promise((r) => fake.close(r)));

  test('an archive symlink is never written through, names never climb out', async () => {
    const target = join(work, 'victim');
    mkdirSync(target);
    const dest = join(work, 'fake-dest');
    mkdirSync(dest);
    archive = await makeTar([
      { name: 'evil/', type: 'directory' },
      { name: 'evil/l', type: 'symlink', linkname: target },
      { name: 'evil/l/pwned', content: 'x' },
    ]);
    let r = await berthCp(['x:/evil', dest], { host: fakeSocket });
    assert.equal(r.code, 1);
    assert.match(r.err, /is a symbolic link/);
    assert.deepEqual(readdirSync(target), []);
    archive = await makeTar([{ name: 'evil/../../escaped', content: 'x' }]);
    r = await berthCp(['x:/evil', join(dest, 'e2')], { host: fakeSocket });
    assert.equal(r.code, 1);
    assert.match(r.err, /is outside of/);
    assert.equal(existsSync(join(work, 'escaped')), false);
    archive = await makeTar([{ name: 'evil/h', type: 'link', linkname: '../../etc/passwd' }]);
    r = await berthCp(['x:/evil', join(dest, 'e3')], { host: fakeSocket });
    assert.equal(r.code, 1);
    assert.match(r.err, /invalid hardlink/);
  });
});
