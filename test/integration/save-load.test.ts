// `save`, `load` and `export` against an Engine API server built here (the image archive, image,
// container and system routers on a private socket, so this file does not depend on the
// daemon's wiring), driven by the berth CLI's command modules, the docker CLI, raw requests and
// skopeo, which reads and writes `docker save` archives and OCI layouts faithfully and so stands
// in for other engines' save and load. Needs root, runc, conmon, overlayfs and skopeo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Engine } from '../../src/engine/engine.ts';
import { defaultPaths } from '../../src/engine/paths.ts';
import { Router, createApiServer } from '../../src/api/server.ts';
import { systemRoutes } from '../../src/api/routes/system.ts';
import { containerRoutes } from '../../src/api/routes/containers.ts';
import { imageRoutes } from '../../src/api/routes/images.ts';
import { imageArchiveRoutes } from '../../src/api/routes/archive-images.ts';
import { DOCKER, REPO, busyboxTarball, leftoverMounts } from '../helpers/daemon.ts';

/** tsx's loader, by URL: the CLI runs from other working directories. */
const TSX = import.meta.resolve('tsx');
const SKOPEO = '/usr/bin/skopeo';

interface Result {
  readonly code: number;
  readonly stdout: Buffer;
  readonly out: string;
  readonly err: string;
}

let base: string;
let data: string;
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
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code: code ?? 1, stdout, out: stdout.toString('utf8'), err: Buffer.concat(err).toString('utf8') });
    });
  });
}

const docker = (args: string[], opts: { input?: Buffer | string } = {}): Promise<Result> =>
  run(DOCKER, ['-H', `unix://${socket}`, ...args], { ...opts, env: { ...process.env, DOCKER_CONFIG: join(base, 'docker-config') } });

/** `berth save|load|export` through a small driver that calls the command modules as main.ts would. */
const berth = (args: string[], opts: { input?: Buffer | string } = {}): Promise<Result> =>
  run(process.execPath, ['--import', TSX, driver, ...args], { ...opts, env: { ...process.env, BERTH_HOST: `unix://${socket}` } });

const skopeo = (args: string[]): Promise<Result> => run(SKOPEO, ['--insecure-policy', ...args]);

function ok(r: Result, what = ''): string {
  assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r.out;
}

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

interface Entry {
  readonly name: string;
  readonly type: string;
  readonly linkname: string | null | undefined;
  readonly mode: number;
  readonly data: Buffer;
}

async function readEntries(buf: Buffer): Promise<Entry[]> {
  const out: Entry[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.push({ name: entry.header.name, type: entry.header.type ?? 'file', linkname: entry.header.linkname, mode: entry.header.mode ?? 0, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(buf);
  await done;
  return out;
}

interface NewEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  readonly data?: Buffer | string;
  readonly linkname?: string;
}

async function makeTar(entries: readonly NewEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, linkname: e.linkname, mtime: new Date(0) }, Buffer.from(e.data ?? ''), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function entryData(entries: Entry[], name: string): Buffer {
  const e = entries.find((x) => x.name === name);
  assert.ok(e, `no entry ${name} in ${entries.map((x) => x.name).join(', ')}`);
  return e.data;
}

const imageId = async (ref: string): Promise<string> => ok(await docker(['image', 'inspect', '--format', '{{.Id}}', ref]), `inspect ${ref}`).trim();
const imageIds = async (): Promise<string[]> => [...new Set(ok(await docker(['images', '-aq', '--no-trunc'])).split('\n').filter(Boolean))].sort();

/** Everything a load could leave behind: image records and tags, blobs, snapshots, its private directory, mounts. */
async function storeState(): Promise<Record<string, unknown>> {
  const images = JSON.parse((await api('GET', '/images/json?all=1')).body.toString()) as { Id: string; RepoTags: string[] }[];
  return {
    images: images.map((i) => `${i.Id} ${[...(i.RepoTags ?? [])].sort().join(',')}`).sort(),
    blobs: readdirSync(join(data, 'content', 'blobs', 'sha256')).sort(),
    snapshots: readdirSync(join(data, 'snapshots')).sort(),
    tmp: existsSync(join(data, 'tmp')) ? readdirSync(join(data, 'tmp')) : [],
    ingest: readdirSync(join(data, 'content', 'ingest')),
    mounts: leftoverMounts(base),
  };
}

/** A layer tar (uncompressed) with a file /made and the data given. */
async function layerTar(files: Record<string, string>): Promise<Buffer> {
  return makeTar(Object.entries(files).map(([name, d]) => ({ name, data: d })));
}

/** An OCI image layout (as a tar) of one image: the busybox rootfs (gzip) and a layer of `files`, behind a nested index. */
async function handMadeLayout(refName: string, files: Record<string, string>, corrupt = false): Promise<Buffer> {
  const base0 = readFileSync(busyboxTarball());
  const top = await layerTar(files);
  const gzBase = gzipSync(base0);
  const gzTop = gzipSync(top);
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [sha256(base0), sha256(top)] },
      history: [{ created_by: 'base' }, { created_by: 'top' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(gzBase), size: gzBase.length },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(gzTop), size: gzTop.length },
      ],
    }),
  );
  // an index for two platforms: load takes this host's, never the s390x one (whose blob is absent)
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const other = sha256('not here');
  const nested = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: other, size: 8, platform: { os: 'linux', architecture: 's390x' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, platform: { os: 'linux', architecture: arch } },
      ],
    }),
  );
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(nested), size: nested.length, annotations: { 'org.opencontainers.image.ref.name': refName } }] };
  const blob = (b: Buffer): NewEntry => ({ name: `blobs/sha256/${sha256(b).slice(7)}`, data: b });
  const topBlob = blob(gzTop);
  const corrupted = corrupt ? { ...topBlob, data: gzipSync(await layerTar({ ...files, extra: 'x' })) } : topBlob;
  return makeTar([
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', data: JSON.stringify(index) },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    blob(gzBase),
    corrupted,
    blob(config),
    blob(manifest),
    blob(nested),
  ]);
}

before(async () => {
  if (process.getuid?.() !== 0) throw new Error('save/load integration tests need root (runc, overlayfs)');
  if (!existsSync(SKOPEO)) throw new Error(`save/load integration tests need skopeo at ${SKOPEO}`);
  // short paths: conmon's attach socket path must stay under 108 bytes
  base = mkdtempSync('/tmp/bsl-');
  work = join(base, 'work');
  mkdirSync(work);
  data = join(base, 'data');
  const paths = { ...defaultPaths(), dataRoot: data, runRoot: join(base, 'run'), socket: join(base, 'run', 'berth.sock') };
  socket = paths.socket;
  engine = await Engine.open(paths);
  await engine.importImage(createReadStream(busyboxTarball()), { changes: ['CMD ["sh"]'], tag: 'busybox:latest' });
  const r = new Router();
  systemRoutes(r, engine);
  imageArchiveRoutes(r, engine);
  imageRoutes(r, engine);
  containerRoutes(r, engine);
  server = createApiServer(r);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  driver = join(base, 'driver.mjs');
  writeFileSync(
    driver,
    `import save from ${JSON.stringify(join(REPO, 'src/cli/commands/image/save.ts'))};
import load from ${JSON.stringify(join(REPO, 'src/cli/commands/image/load.ts'))};
import exportContainer from ${JSON.stringify(join(REPO, 'src/cli/commands/container/export.ts'))};
import { closeClient } from ${JSON.stringify(join(REPO, 'src/cli/context.ts'))};
import { ExitStatus } from ${JSON.stringify(join(REPO, 'src/cli/exit-codes.ts'))};
const [cmd, ...rest] = process.argv.slice(2);
const opts = {};
const args = [];
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  if (a === '-o' || a === '--output') opts.output = rest[++i];
  else if (a === '-i' || a === '--input') opts.input = rest[++i];
  else if (a === '-q' || a === '--quiet') opts.quiet = true;
  else args.push(a);
}
const fn = { save, load, export: exportContainer }[cmd];
let code = 0;
try {
  await fn(opts, args, { host: process.env.BERTH_HOST });
} catch (e) {
  if (e instanceof ExitStatus) code = e.code;
  else { process.stderr.write('berth: ' + (e?.message ?? e) + '\\n'); code = 125; }
}
closeClient();
process.stdout.write('', () => process.exit(code));
`,
  );
  // an image of two layers: busybox and a container's changes (a new file, a deleted one)
  ok(await docker(['run', '--name', 'mk', 'busybox', 'sh', '-c', 'echo hello > /hello && rm /bin/ls']), 'run mk');
  ok(await docker(['commit', 'mk', 'bb-app:1']), 'commit');
  ok(await docker(['rm', 'mk']), 'rm mk');
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

describe('save', () => {
  test('writes docker save (20.10) and OCI layouts over the same blobs, each layer once', async () => {
    const out = join(work, 'app.tar');
    ok(await berth(['save', '-o', out, 'bb-app:1']), 'berth save');
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const entries = await readEntries(readFileSync(out));
    const id = await imageId('bb-app:1');
    const manifest = JSON.parse(entryData(entries, 'manifest.json').toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.equal(manifest.length, 1);
    assert.deepEqual(manifest[0]?.RepoTags, ['bb-app:1']);
    assert.equal(manifest[0]?.Config, `blobs/sha256/${id.slice(7)}`);
    assert.equal(sha256(entryData(entries, manifest[0]?.Config ?? '')), id);
    assert.equal(sha256(entryData(entries, `${id.slice(7)}.json`)), id, 'the config under its legacy name too');
    const config = JSON.parse(entryData(entries, `blobs/sha256/${id.slice(7)}`).toString()) as { rootfs: { diff_ids: string[] } };
    // manifest.json names the layer files themselves (skopeo reads sizes from their headers)
    assert.deepEqual(manifest[0]?.Layers, config.rootfs.diff_ids.map((d) => `blobs/sha256/${d.slice(7)}`));
    for (const d of config.rootfs.diff_ids) {
      const e = entries.find((x) => x.name === `blobs/sha256/${d.slice(7)}`);
      assert.equal(e?.type, 'file');
      assert.equal(sha256(e.data), d);
    }
    // the legacy directories: VERSION, json, layer.tar -> the blob; repositories names the top one
    const legacy = entries.filter((e) => /^[a-f0-9]{64}\/layer\.tar$/.test(e.name));
    assert.equal(legacy.length, 2);
    for (const l of legacy) {
      assert.equal(l.type, 'symlink');
      assert.ok(config.rootfs.diff_ids.some((d) => l.linkname === `../blobs/sha256/${d.slice(7)}`), l.linkname ?? '');
      const dir = l.name.split('/')[0] ?? '';
      assert.equal(entryData(entries, `${dir}/VERSION`).toString(), '1.0');
      JSON.parse(entryData(entries, `${dir}/json`).toString());
    }
    const top = legacy.find((l) => l.linkname === `../blobs/sha256/${(config.rootfs.diff_ids[1] ?? '').slice(7)}`);
    const topJson = JSON.parse(entryData(entries, `${top?.name.split('/')[0] ?? ''}/json`).toString()) as { id: string; parent: string };
    assert.equal(topJson.parent, legacy.find((l) => l !== top)?.name.split('/')[0]);
    const repos = JSON.parse(entryData(entries, 'repositories').toString()) as Record<string, Record<string, string>>;
    assert.equal(repos['bb-app']?.['1'], topJson.id);
    assert.deepEqual(JSON.parse(entryData(entries, 'oci-layout').toString()), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(entryData(entries, 'index.json').toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    assert.equal(index.manifests.length, 1);
    assert.deepEqual(index.manifests[0]?.annotations, { 'io.containerd.image.name': 'docker.io/library/bb-app:1', 'org.opencontainers.image.ref.name': '1' });
    const m = JSON.parse(entryData(entries, `blobs/sha256/${index.manifests[0]?.digest.slice(7)}`).toString()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
    assert.equal(m.config.digest, id);
    assert.deepEqual(m.layers.map((l) => l.digest), config.rootfs.diff_ids);
    // every blob is in the archive once
    const names = entries.map((e) => e.name);
    assert.equal(new Set(names).size, names.length);
  });

  test('save of two images: both in manifest.json, their shared layer stored once; errors before any byte', async () => {
    const res = await api('GET', '/images/get?names=busybox&names=bb-app:1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/x-tar');
    const entries = await readEntries(res.body);
    const manifest = JSON.parse(entryData(entries, 'manifest.json').toString()) as { RepoTags: string[]; Layers: string[] }[];
    assert.deepEqual(manifest.map((m) => m.RepoTags).sort(), [['bb-app:1'], ['busybox:latest']]);
    const layers = new Set(manifest.flatMap((m) => m.Layers));
    assert.equal(layers.size, 2, 'busybox\'s layer and the app\'s');
    for (const l of layers) assert.equal(entries.filter((e) => e.name === l && e.type === 'file').length, 1, `${l} once`);
    const legacy = entries.filter((e) => e.name.endsWith('/layer.tar'));
    assert.ok(legacy.every((e) => e.type === 'symlink'));
    assert.equal(new Set(legacy.map((e) => e.name)).size, 3, 'the shared base layer has one legacy directory, each top layer its own');

    const missing = await api('GET', '/images/get?names=busybox&names=nosuch:1');
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.body.toString()).message as string, /No such image: nosuch:1/);
    const one = await api('GET', '/images/busybox:latest/get');
    assert.equal(one.status, 200);
    assert.deepEqual((JSON.parse(entryData(await readEntries(one.body), 'manifest.json').toString()) as { RepoTags: string[] }[])[0]?.RepoTags, ['busybox:latest']);
    // by ID: untagged, as Docker
    const id = await imageId('busybox');
    const byId = await api('GET', `/images/${id.slice(7, 19)}/get`);
    assert.equal((JSON.parse(entryData(await readEntries(byId.body), 'manifest.json').toString()) as { RepoTags: unknown }[])[0]?.RepoTags, null);
  });

  test('refuses to write to a terminal', async () => {
    const cmd = `${process.execPath} --import ${TSX} ${driver} save busybox`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, BERTH_HOST: `unix://${socket}` } });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /Cowardly refusing to save to a terminal\. Use the -o flag or redirect/);
  });
});

describe('load', () => {
  test('save -> rmi -> load -> run, with the berth CLI', async () => {
    const out = join(work, 'rt.tar');
    const id = await imageId('bb-app:1');
    ok(await berth(['save', '-o', out, 'bb-app:1']), 'save');
    ok(await docker(['rmi', 'bb-app:1']), 'rmi');
    assert.ok(!(await imageIds()).includes(id));
    const r = await berth(['load', '-i', out]);
    assert.equal(ok(r, 'load'), 'Loaded image: bb-app:1\n');
    assert.equal(await imageId('bb-app:1'), id);
    assert.equal(ok(await docker(['run', '--rm', 'bb-app:1', 'cat', '/hello']), 'run'), 'hello\n');
    assert.equal(ok(await docker(['run', '--rm', 'bb-app:1', 'sh', '-c', 'test -e /bin/ls && echo there || echo gone']), 'run'), 'gone\n');
    // from stdin, gzip-compressed, quietly, again (idempotent)
    const gz = gzipSync(readFileSync(out));
    assert.equal(ok(await berth(['load', '-q'], { input: gz }), 'load gz'), 'Loaded image: bb-app:1\n');
    assert.deepEqual((await storeState()).tmp, [], 'the private directory is gone');
  });

  test('two images, and a tag moved from another image, with the docker CLI', async () => {
    const two = join(work, 'two.tar');
    ok(await docker(['save', '-o', two, 'busybox', 'bb-app:1']), 'docker save');
    ok(await docker(['tag', 'busybox', 'bb-app:2']), 'tag');
    const ids = await imageIds();
    // bb-app:2 now names busybox; an archive of bb-app:1 retagged as bb-app:2 moves it
    const app = await readEntries(readFileSync(two));
    const manifest = JSON.parse(entryData(app, 'manifest.json').toString()) as { RepoTags: string[] }[];
    for (const m of manifest) if (m.RepoTags[0] === 'bb-app:1') m.RepoTags = ['bb-app:1', 'bb-app:2'];
    const retagged = await makeTar(app.map((e) => (e.name === 'manifest.json' ? { name: e.name, data: JSON.stringify(manifest) } : { name: e.name, type: e.type as NewEntry['type'], data: e.data, linkname: e.linkname ?? undefined })));
    const r = await docker(['load'], { input: retagged });
    const out = ok(r, 'docker load');
    assert.match(out, /^Loaded image: busybox:latest$/m);
    assert.match(out, /^Loaded image: bb-app:1$/m);
    assert.match(out, /^The image bb-app:2 already exists, renaming the old one with ID sha256:[a-f0-9]{64} to empty string$/m);
    assert.equal(await imageId('bb-app:2'), await imageId('bb-app:1'));
    assert.deepEqual(await imageIds(), ids);
    ok(await docker(['rmi', 'bb-app:2']), 'rmi bb-app:2');
  });

  test('round trips through skopeo: docker-archive -> docker-archive, OCI layout -> docker-archive, oci-archive', async () => {
    const id = await imageId('bb-app:1');
    const saved = join(work, 'sk-src.tar');
    ok(await berth(['save', '-o', saved, 'bb-app:1']), 'save');

    // what another engine's `docker save` of the same image looks like
    const viaSkopeo = join(work, 'sk-docker.tar');
    ok(await skopeo(['copy', `docker-archive:${saved}`, `docker-archive:${viaSkopeo}:bb-app:1`]), 'skopeo docker-archive');
    ok(await docker(['rmi', 'bb-app:1']), 'rmi');
    assert.equal(ok(await berth(['load', '-i', viaSkopeo]), 'load skopeo archive'), 'Loaded image: bb-app:1\n');
    assert.equal(await imageId('bb-app:1'), id);

    // berth's archive read as an OCI image layout, by tag (org.opencontainers.image.ref.name)
    const dir = join(work, 'sk-layout');
    mkdirSync(dir);
    ok(await run('tar', ['-xf', saved, '-C', dir]), 'untar');
    const fromLayout = join(work, 'sk-from-layout.tar');
    ok(await skopeo(['copy', `oci:${dir}:1`, `docker-archive:${fromLayout}:bb-app:1`]), 'skopeo oci -> docker-archive');
    ok(await skopeo(['inspect', `oci-archive:${saved}:1`]), 'skopeo inspect oci-archive');
    ok(await docker(['rmi', 'bb-app:1']), 'rmi');
    assert.equal(ok(await berth(['load', '-i', fromLayout]), 'load'), 'Loaded image: bb-app:1\n');
    assert.equal(await imageId('bb-app:1'), id);

    // a plain OCI layout written by skopeo (gzip layers), loaded by its ref.name
    const oci = join(work, 'sk-oci');
    ok(await skopeo(['copy', '--dest-compress', '--dest-compress-format', 'gzip', `docker-archive:${saved}`, `oci:${oci}:bb-app:1`]), 'skopeo -> oci');
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const m = JSON.parse(readFileSync(join(oci, 'blobs', 'sha256', (index.manifests[0]?.digest ?? '').slice(7)), 'utf8')) as { config: { digest: string }; layers: { mediaType: string }[] };
    assert.ok(m.layers.every((l) => l.mediaType.endsWith('+gzip')), JSON.stringify(m.layers));
    // skopeo rewrites the config as an OCI one (a new image ID); the layers' diff IDs stay
    const ociConfig = JSON.parse(readFileSync(join(oci, 'blobs', 'sha256', m.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    const ours = JSON.parse((await readEntries(readFileSync(saved))).find((e) => e.name === `blobs/sha256/${id.slice(7)}`)?.data.toString() ?? '{}') as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(ociConfig.rootfs.diff_ids, ours.rootfs.diff_ids);
    const ociTar = join(work, 'sk-oci.tar');
    ok(await run('tar', ['-cf', ociTar, '-C', oci, '.']), 'tar oci');
    ok(await docker(['rmi', 'bb-app:1']), 'rmi');
    assert.equal(ok(await docker(['load', '-i', ociTar]), 'docker load oci'), 'Loaded image: bb-app:1\n');
    assert.equal(await imageId('bb-app:1'), m.config.digest, 'the image ID is the digest of the config as stored');
    assert.equal(ok(await docker(['run', '--rm', 'bb-app:1', 'cat', '/hello']), 'run'), 'hello\n');
    // back to the image the other tests expect
    assert.equal(ok(await berth(['load', '-i', saved]), 'load'), `The image bb-app:1 already exists, renaming the old one with ID ${m.config.digest} to empty string\nLoaded image: bb-app:1\n`);
    assert.equal(await imageId('bb-app:1'), id);
    ok(await docker(['rmi', m.config.digest]), 'rmi the OCI-converted image');
  });

  test('a hand-made OCI layout: nested index (this platform picked), gzip layers, full ref.name', async () => {
    const layout = await handMadeLayout('localhost:5000/hand/made:v1', { made: 'by hand\n' });
    const r = await api('POST', '/images/load?quiet=0', layout);
    assert.equal(r.status, 200);
    const lines = r.body.toString().trim().split('\n').map((l) => JSON.parse(l) as { status?: string; stream?: string; id?: string });
    assert.ok(lines.some((l) => l.status === 'Loading layer' && /^[a-f0-9]{12}$/.test(l.id ?? '')), r.body.toString());
    assert.equal(lines[lines.length - 1]?.stream, 'Loaded image: localhost:5000/hand/made:v1\n');
    assert.equal(ok(await docker(['run', '--rm', 'localhost:5000/hand/made:v1', 'cat', '/made']), 'run'), 'by hand\n');
    // without a repository in ref.name the image is loaded untagged, reported by ID
    const bare = await api('POST', '/images/load?quiet=1', await handMadeLayout('v2', { made: 'untagged\n' }));
    const msg = JSON.parse(bare.body.toString().trim()) as { stream: string };
    assert.match(msg.stream, /^Loaded image ID: sha256:[a-f0-9]{64}\n$/);
    ok(await docker(['rmi', msg.stream.trim().split(' ').pop() ?? '']), 'rmi untagged');
  });
});

describe('load refuses, leaving nothing behind', () => {
  test('a corrupted layer (diff ID mismatch), in a docker archive and in an OCI layout', async () => {
    ok(await docker(['tag', 'bb-app:1', 'bb-app:keep']), 'tag');
    const saved = join(work, 'corrupt-src.tar');
    ok(await berth(['save', '-o', saved, 'bb-app:1']), 'save');
    ok(await docker(['rmi', 'bb-app:1']), 'untag');
    const entries = await readEntries(readFileSync(saved));
    const config = JSON.parse(entryData(entries, `blobs/sha256/${(await imageId('bb-app:keep')).slice(7)}`).toString()) as { rootfs: { diff_ids: string[] } };
    const topName = `blobs/sha256/${(config.rootfs.diff_ids[1] ?? '').slice(7)}`;
    const corrupted = await makeTar(
      entries.map((e) => {
        if (e.name !== topName) return { name: e.name, type: e.type as NewEntry['type'], data: e.data, linkname: e.linkname ?? undefined };
        const d = Buffer.from(e.data);
        const at = d.indexOf('hello\n');
        d.write('HELLO\n', at);
        return { name: e.name, data: d };
      }),
    );
    ok(await docker(['rmi', 'bb-app:keep']), 'rmi');
    const state = await storeState();
    // manifest.json naming blobs/sha256/<hex> (Docker 25+, berth): the blob's own digest
    const r = await berth(['load'], { input: corrupted });
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`invalid archive: digest mismatch for ${topName}: got sha256:[a-f0-9]{64}`));
    assert.deepEqual(await storeState(), state);
    // the same as Docker 20.10 writes it (manifest.json naming <v1 id>/layer.tar, real files): the diff ID
    const legacy20 = async (from: Entry[]): Promise<Buffer> => {
      const m = JSON.parse(entryData(from, 'manifest.json').toString()) as { Config: string; Layers: string[] }[];
      const links = from.filter((e) => e.name.endsWith('/layer.tar'));
      const real = new Map(links.map((l) => [l.name, from.find((e) => `../${e.name}` === l.linkname)?.data ?? Buffer.alloc(0)]));
      for (const item of m) {
        item.Config = item.Config.replace(/^blobs\/sha256\/(.*)$/, '$1.json');
        item.Layers = item.Layers.map((p) => links.find((l) => `../${p}` === l.linkname)?.name ?? p);
      }
      return makeTar(
        from
          .filter((e) => !e.name.startsWith('blobs/') && e.name !== 'index.json' && e.name !== 'oci-layout')
          .map((e) => (e.name === 'manifest.json' ? { name: e.name, data: JSON.stringify(m) } : real.has(e.name) ? { name: e.name, data: real.get(e.name) } : { name: e.name, type: e.type as NewEntry['type'], data: e.data })),
      );
    };
    const r20 = await berth(['load'], { input: await legacy20(await readEntries(corrupted)) });
    assert.equal(r20.code, 1);
    assert.match(r20.err, /invalid diffID for layer 1: expected "sha256:[a-f0-9]{64}", got "sha256:[a-f0-9]{64}"/);
    assert.deepEqual(await storeState(), state);
    // and intact, that layout loads
    assert.equal(ok(await berth(['load'], { input: await legacy20(entries) }), 'load 20.10 layout'), 'Loaded image: bb-app:1\n');
    ok(await docker(['rmi', 'bb-app:1']), 'rmi');
    assert.deepEqual(await storeState(), state, 'a removed image leaves nothing either');

    // two new layers, the second corrupt: the first is not written either
    const bad = await handMadeLayout('localhost:5000/hand/bad:1', { made: 'x\n' }, true);
    const before2 = await storeState();
    const r2 = await api('POST', '/images/load', bad);
    assert.equal(r2.status, 400, r2.body.toString());
    assert.match(JSON.parse(r2.body.toString()).message as string, /digest mismatch for blobs\/sha256\//);
    assert.deepEqual(await storeState(), before2);

    // the archive is fine again: it loads
    ok(await berth(['load', '-i', saved]), 'load');
  });

  test('"../" entries in the archive and in a layer', async () => {
    const state = await storeState();
    const escape = `evil-${process.pid}`;
    const outer = await makeTar([{ name: `../${escape}`, data: 'x' }, { name: 'manifest.json', data: '[]' }]);
    const r = await api('POST', '/images/load', outer);
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body.toString()).message as string, /invalid archive: "\.\.\/evil-\d+" is outside of the archive/);
    for (const d of [data, join(data, 'tmp'), work, base, '/tmp']) assert.ok(!existsSync(join(d, escape)), `${d}/${escape}`);
    assert.deepEqual(await storeState(), state);

    // in an otherwise valid archive (Docker 20.10's layout), a new layer, then one whose entry
    // climbs out: the first is not left behind either
    const good = await makeTar([{ name: `fine-${process.pid}`, data: 'fine' }]);
    const layer = await makeTar([{ name: 'ok', data: 'fine' }, { name: `../../${escape}`, data: 'x' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(good), sha256(layer)] } }));
    const archive = await makeTar([
      { name: `${sha256(config).slice(7)}.json`, data: config },
      { name: 'a/layer.tar', data: good },
      { name: 'b/layer.tar', data: layer },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${sha256(config).slice(7)}.json`, RepoTags: ['escape:1'], Layers: ['a/layer.tar', 'b/layer.tar'] }]) },
    ]);
    const r2 = await berth(['load'], { input: archive });
    assert.equal(r2.code, 1);
    assert.match(r2.err, /escapes the layer root/);
    for (const d of [data, join(data, 'tmp'), join(data, 'snapshots'), work, base]) assert.ok(!existsSync(join(d, escape)), `${d}/${escape}`);
    assert.deepEqual(await storeState(), state);

    // not an archive at all; an archive with neither manifest.json nor index.json
    const garbage = await api('POST', '/images/load', Buffer.alloc(3000, 7));
    assert.equal(garbage.status, 400);
    const empty = await api('POST', '/images/load', await makeTar([{ name: 'x', data: 'y' }]));
    assert.equal(empty.status, 400);
    assert.match(JSON.parse(empty.body.toString()).message as string, /no manifest\.json/);
    assert.deepEqual(await storeState(), state);
  });
});

describe('export', () => {
  const names = (entries: Entry[]): string[] => entries.map((e) => e.name);
  /** go-archive's walk order: a directory, then its entries by name, recursively. */
  const byComponents = (a: string, b: string): number => {
    const x = a.replace(/\/$/, '').split('/');
    const y = b.replace(/\/$/, '').split('/');
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const p = x[i] ?? '';
      const q = y[i] ?? '';
      if (p !== q) return p < q ? -1 : 1;
    }
    return x.length - y.length;
  };

  function checkTree(entries: Entry[]): void {
    const n = names(entries);
    assert.ok(!n.includes('./') && !n.includes('/') && !n.includes('.'), 'no entry for the root');
    assert.ok(n.includes('bin/'), 'directories end in "/"');
    assert.ok(n.includes('bin/busybox'));
    assert.equal(entries.find((e) => e.name === 'bin/sh')?.type, 'symlink');
    assert.equal(entryData(entries, 'etc/passwd').toString().split('\n')[0], 'root:x:0:0:root:/root:/bin/sh');
    assert.equal(entryData(entries, 'new').toString(), 'changed\n');
    const link = entries.find((e) => e.name === 'new2');
    assert.equal(link?.type, 'link');
    assert.equal(link?.linkname, 'new');
    assert.ok(!n.includes('bin/ls'), 'a file the container deleted is not there');
    assert.equal(entryData(entries, 'etc/group').toString(), 'rewritten\n');
    assert.deepEqual(n, [...n].sort(byComponents), 'depth first, names in order');
  }

  test('a running container (its mounted rootfs), then stopped (a private read-only view), with the docker CLI, and imported back', async () => {
    ok(await docker(['run', '-d', '--name', 'ex', 'busybox', 'sh', '-c', 'echo changed > /new && ln /new /new2 && rm /bin/ls && echo rewritten > /etc/group && touch /ready && sleep 100000']), 'run');
    for (let i = 0; i < 200 && (await docker(['exec', 'ex', 'test', '-e', '/ready'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    const running = join(work, 'ex-running.tar');
    ok(await berth(['export', '-o', running, 'ex']), 'export running');
    checkTree(await readEntries(readFileSync(running)));
    assert.deepEqual(readdirSync(join(base, 'run')).includes('export') ? readdirSync(join(base, 'run', 'export')) : [], []);

    ok(await docker(['kill', 'ex']), 'kill');
    ok(await docker(['wait', 'ex']), 'wait');
    const stopped = await berth(['export', 'ex']);
    ok(stopped, 'export stopped');
    checkTree(await readEntries(stopped.stdout));
    assert.deepEqual(leftoverMounts(base), []);
    assert.deepEqual(readdirSync(join(base, 'run', 'export')), [], 'the view is gone');

    const viaDocker = join(work, 'ex-docker.tar');
    ok(await docker(['export', '-o', viaDocker, 'ex']), 'docker export');
    checkTree(await readEntries(readFileSync(viaDocker)));
    assert.deepEqual(leftoverMounts(base), []);

    // export | import: the container's filesystem as a one-layer image
    assert.match(ok(await docker(['import', '-c', 'CMD ["sh"]', viaDocker, 'flat:1']), 'import'), /^sha256:[a-f0-9]{64}\n$/);
    assert.equal(ok(await docker(['run', '--rm', 'flat:1', 'sh', '-c', 'cat /new /etc/group; test -e /bin/ls || echo no-ls']), 'run flat'), 'changed\nrewritten\nno-ls\n');
    ok(await docker(['rmi', 'flat:1']), 'rmi flat');

    // a container never started: the image's files only
    ok(await docker(['create', '--name', 'ex-new', 'bb-app:1', 'true']), 'create');
    const created = await berth(['export', 'ex-new']);
    ok(created, 'export created');
    const fresh = await readEntries(created.stdout);
    assert.equal(entryData(fresh, 'hello').toString(), 'hello\n');
    assert.ok(!names(fresh).includes('bin/ls'));
    assert.deepEqual(leftoverMounts(base), []);

    const missing = await berth(['export', '-o', join(work, 'x.tar'), 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /Error response from daemon: No such container: nosuch/);
    assert.ok(!existsSync(join(work, 'x.tar')));
  });
});
