// Pull, push and login end to end: an engine serving the Engine API on a private socket,
// berth's own registry (with and without htpasswd), registries that misbehave on purpose
// (corrupted blob, truncated download, a layer that climbs out with ../), Debian's reference
// registry `docker-registry`, skopeo copying between them, and the berth CLI (pull, push,
// login, logout, and run's auto-pull) driving it all.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import tarStream from 'tar-stream';
import { createApiServer, Router } from '../../src/api/server.ts';
import { containerRoutes } from '../../src/api/routes/containers.ts';
import { distributionRoutes } from '../../src/api/routes/distribution.ts';
import { imageRoutes } from '../../src/api/routes/images.ts';
import { systemRoutes } from '../../src/api/routes/system.ts';
import { sha256Digest, type Digest } from '../../src/core/digest.ts';
import { startTestRegistry, writeOciLayout, type TestRegistry } from '../../src/distribution/server/testing.ts';
import { pushImage } from '../../src/engine/distribution.ts';
import { addChildImage, addLayer } from '../../src/images/commit.ts';
import { Engine } from '../../src/engine/engine.ts';
import { defaultPaths, layout } from '../../src/engine/paths.ts';
import { busyboxTarball, leftoverMounts } from '../helpers/daemon.ts';

// The registries run in this process: never block its event loop on a program that talks to them.
const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HTPASSWD = join(REPO, 'src/distribution/server/testdata/htpasswd'); // alice:wonderland

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The body as JSON lines (progress streams). */
  readonly lines: Record<string, unknown>[];
}

let base: string;
let engine: Engine;
let api: Server;
let socket: string;
let reg: TestRegistry;
let secured: TestRegistry;
let runner: string;

function authHeader(o: Record<string, string>): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url') + '='.repeat((3 - (Buffer.byteLength(JSON.stringify(o)) % 3)) % 3);
}

function call(method: string, path: string, o: { headers?: Record<string, string>; body?: unknown; signal?: AbortSignal; onResponse?: (res: IncomingMessage) => void } = {}): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = http.request(
      {
        socketPath: socket,
        method,
        path: `/v1.50${path}`,
        headers: { ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}), ...(o.headers ?? {}) },
        ...(o.signal ? { signal: o.signal } : {}),
      },
      (res) => {
        o.onResponse?.(res);
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          const lines: Record<string, unknown>[] = [];
          for (const l of text.split('\n')) {
            if (!l.trim()) continue;
            try {
              lines.push(JSON.parse(l) as Record<string, unknown>);
            } catch {
              /* not JSON lines */
            }
          }
          resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text, lines });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const pull = (image: string, tag: string, auth: Record<string, string> = {}, extra = ''): Promise<Reply> =>
  call('POST', `/images/create?fromImage=${encodeURIComponent(image)}&tag=${encodeURIComponent(tag)}${extra}`, { headers: { 'X-Registry-Auth': authHeader(auth) } });
const push = (image: string, tag: string, auth: Record<string, string> = {}): Promise<Reply> =>
  call('POST', `/images/${image}/push?tag=${encodeURIComponent(tag)}`, { headers: { 'X-Registry-Auth': authHeader(auth) } });
const statuses = (r: Reply): string[] => r.lines.map((l) => `${l.id ? `${String(l.id)}: ` : ''}${String(l.status ?? '')}`);
const streamError = (r: Reply): string | undefined => r.lines.find((l) => l.error !== undefined)?.error as string | undefined;

function ingestFiles(): string[] {
  return readdirSync(join(layout(engine.paths).content, 'ingest'));
}
function snapshotDirs(): string[] {
  return readdirSync(layout(engine.paths).snapshots).filter((n) => /^[0-9a-f]{12}$/.test(n));
}
function spoolFiles(): string[] {
  const d = join(engine.paths.dataRoot, 'distribution', 'spool');
  return existsSync(d) ? readdirSync(d) : [];
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The berth CLI from source (tsx), against the test's socket. */
function berth(args: string[], o: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return spawnRun(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], o);
}

/** One CLI command module's action (until main.ts wires pull/push/login), run as berth would. */
function command(module: string, fn: string, opts: Record<string, unknown>, args: string[], o: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return spawnRun(process.execPath, ['--import', 'tsx', runner, join(REPO, 'src/cli/commands', module), fn, JSON.stringify(opts), ...args], o);
}

function spawnRun(file: string, args: string[], o: { env?: NodeJS.ProcessEnv; input?: string }): Promise<Run> {
  return new Promise((resolveRun) => {
    const p = spawn(file, args, { cwd: REPO, env: { ...process.env, BERTH_HOST: `unix://${socket}`, DOCKER_CONFIG: join(base, 'docker-config'), ...(o.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.stdin.end(o.input ?? '');
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? 1, stdout, stderr });
    });
  });
}

const show = (r: Run): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

before(async () => {
  for (const tool of ['skopeo', 'zstd']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      assert.fail(`${tool} is needed for these tests: apt-get install -y ${tool}`);
    }
  }
  base = mkdtempSync('/tmp/brg-');
  const paths = { ...defaultPaths(), dataRoot: join(base, 'data'), runRoot: join(base, 'run'), socket: join(base, 'run', 'berth.sock') };
  socket = paths.socket;
  engine = await Engine.open(paths);
  const r = new Router();
  systemRoutes(r, engine);
  distributionRoutes(r, engine);
  imageRoutes(r, engine);
  containerRoutes(r, engine);
  api = createApiServer(r);
  await new Promise<void>((ok) => api.listen(socket, ok));
  reg = await startTestRegistry();
  secured = await startTestRegistry({ htpasswd: HTPASSWD });
  await engine.importImage(createReadStream(busyboxTarball()), { changes: ['CMD ["sh"]'], tag: 'busybox:latest' });
  runner = join(base, 'run-command.mts');
  writeFileSync(
    runner,
    `import { closeClient } from ${JSON.stringify(join(REPO, 'src/cli/context.ts'))};
import { ExitStatus } from ${JSON.stringify(join(REPO, 'src/cli/exit-codes.ts'))};
const [mod = '', fn = 'default', opts = '{}', ...args] = process.argv.slice(2);
const m = await import(mod);
let code = 0;
try { await m[fn](JSON.parse(opts), args, {}); }
catch (e) { if (e instanceof ExitStatus) code = e.code; else { process.stderr.write(String(e && e.message || e) + '\\n'); code = 125; } }
closeClient();
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
`,
  );
});

after(async () => {
  await reg?.close();
  await secured?.close();
  await new Promise<void>((ok) => (api ? api.close(() => ok()) : ok()));
  api?.closeAllConnections();
  engine?.close();
  const left = leftoverMounts(base);
  for (const m of left.reverse()) execFileSync('umount', ['-l', m]);
  rmSync(base, { recursive: true, force: true });
  assert.deepEqual(left, [], 'mounts left behind');
});

describe('push and pull against berth\'s registry', () => {
  let pushedDigest = '';
  let imageId = '';

  test('push streams moby\'s messages and ends with the digest line and aux', async () => {
    imageId = engine.images.resolve('busybox').id;
    assert.equal((await call('POST', `/images/busybox/tag?repo=${reg.host}/bb&tag=1`)).status, 201);
    const r = await push(`${reg.host}/bb`, '1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(streamError(r), undefined, r.text);
    const layerId = engine.images.resolve('busybox').layers[0]?.diffId.slice(7, 19) ?? '';
    assert.deepEqual(r.lines[0], { status: `The push refers to repository [${reg.host}/bb]` });
    assert.deepEqual(r.lines[1], { status: 'Preparing', progressDetail: {}, id: layerId });
    const pushing = r.lines.find((l) => l.status === 'Pushing' && (l.progressDetail as { total?: number }).total !== undefined);
    assert.ok(pushing, r.text);
    assert.match(String(pushing.progress), /^\[=*> *\] +[\d.]+k?M?B\/[\d.]+MB$/);
    assert.deepEqual(r.lines.find((l) => l.status === 'Pushed'), { status: 'Pushed', progressDetail: {}, id: layerId });
    const done = r.lines.at(-2);
    const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/.exec(String(done?.status));
    assert.ok(m, r.text);
    pushedDigest = m[1] ?? '';
    assert.deepEqual(r.lines.at(-1), { progressDetail: {}, aux: { Tag: '1', Digest: pushedDigest, Size: Number(m[2]) } });
    // the registry holds a Docker schema2 manifest whose config is the image config, byte for byte
    const manifest = JSON.parse(readFileSync(join(reg.root, 'blobs', 'sha256', pushedDigest.slice(7))).toString()) as { mediaType: string; config: { digest: string } };
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.config.digest, imageId);
    assert.deepEqual(engine.images.repoDigestsOf(imageId as Digest).map((x) => `${x.domain}/${x.path}@${x.digest ?? ''}`), [`${reg.host}/bb@${pushedDigest}`]);
    assert.deepEqual(spoolFiles(), []);
  });

  test('a second push asks first: "Layer already exists", no upload', async () => {
    const before = reg.log.length;
    const r = await push(`${reg.host}/bb`, '1');
    assert.equal(streamError(r), undefined, r.text);
    assert.ok(statuses(r).some((s) => s.endsWith(': Layer already exists')), r.text);
    const requests = reg.log.slice(before).map((e) => e.method);
    assert.ok(!requests.includes('PATCH') && !requests.includes('POST'), requests.join(' '));
  });

  test('pushing to another repository of the same registry mounts the layer', async () => {
    assert.equal((await call('POST', `/images/busybox/tag?repo=${reg.host}/other&tag=2`)).status, 201);
    const before = reg.log.length;
    const r = await push(`${reg.host}/other`, '2');
    assert.equal(streamError(r), undefined, r.text);
    assert.ok(statuses(r).some((s) => s.endsWith(': Mounted from bb')), r.text);
    assert.ok(reg.log.slice(before).some((e) => e.method === 'POST' && e.url.includes('mount=') && e.status === 201));
  });

  test('rmi, then pull it back: same image ID, tag and repo digest; then "Image is up to date"', async () => {
    const rm = await call('DELETE', `/images/${reg.host}/bb:1`);
    assert.equal(rm.status, 200, rm.text);
    assert.equal(engine.images.tryResolve(`${reg.host}/bb:1`), undefined);
    // remove every tag of the image so that the layer really goes
    await call('DELETE', `/images/${reg.host}/other:2`);
    await call('DELETE', '/images/busybox:latest');
    assert.equal(engine.images.list().length, 0);
    assert.deepEqual(snapshotDirs(), []);

    const r = await pull(`${reg.host}/bb`, '1');
    assert.equal(r.status, 200, r.text);
    assert.equal(streamError(r), undefined, r.text);
    assert.deepEqual(r.lines[0], { status: `Pulling from ${reg.host}/bb`, id: '1' });
    const s = statuses(r);
    const layer = s[1]?.split(':')[0] ?? '';
    assert.match(layer, /^[a-f0-9]{12}$/);
    for (const want of ['Pulling fs layer', 'Verifying Checksum', 'Download complete', 'Pull complete']) assert.ok(s.includes(`${layer}: ${want}`), `${want}\n${r.text}`);
    const dl = r.lines.find((l) => l.status === 'Downloading');
    assert.ok(dl && typeof (dl.progressDetail as { current: number }).current === 'number', r.text);
    assert.ok(r.lines.some((l) => l.status === 'Extracting'), r.text);
    assert.deepEqual(r.lines.at(-2), { status: `Digest: ${pushedDigest}` });
    assert.deepEqual(r.lines.at(-1), { status: `Status: Downloaded newer image for ${reg.host}/bb:1` });
    const img = engine.images.resolve(`${reg.host}/bb:1`);
    assert.equal(img.id, imageId, 'the config bytes are kept, so the ID is the same');
    assert.equal(engine.images.resolve(`${reg.host}/bb@${pushedDigest}`).id, imageId);
    assert.deepEqual(engine.images.repoDigestsOf(imageId as Digest).map((x) => x.digest), [pushedDigest]);
    assert.deepEqual(ingestFiles(), []);

    const again = await pull(`${reg.host}/bb`, '1');
    assert.deepEqual(statuses(again), [`1: Pulling from ${reg.host}/bb`, `Digest: ${pushedDigest}`, `Status: Image is up to date for ${reg.host}/bb:1`]);
  });

  test('the pulled image runs', async () => {
    const r = await berth(['run', '--rm', `${reg.host}/bb:1`, 'sh', '-c', 'echo pulled-and-running']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'pulled-and-running\n');
  });

  test('pull by digest: no tag, resolvable by name@digest; layers "Already exists" for another tag', async () => {
    const r = await pull(`${reg.host}/other`, pushedDigest);
    assert.equal(streamError(r), undefined, r.text);
    assert.deepEqual(r.lines[0], { status: `Pulling from ${reg.host}/other`, id: pushedDigest });
    assert.equal(engine.images.resolve(`${reg.host}/other@${pushedDigest}`).id, imageId);
    assert.equal(engine.images.tryResolve(`${reg.host}/other:2`), undefined);
  });

  test('layers already here are not downloaded: "Already exists"', async () => {
    const parent = engine.images.resolve(`${reg.host}/bb:1`);
    const pack = tarStream.pack();
    const parts: Buffer[] = [];
    pack.on('data', (c: Buffer) => parts.push(c));
    const ended = new Promise((ok) => pack.on('end', ok));
    pack.entry({ name: 'etc/extra.txt', mode: 0o644 }, 'one more layer\n');
    pack.finalize();
    await ended;
    const layer = await addLayer({ blobs: engine.content, layers: engine.snapshots }, parent.layers, Readable.from([Buffer.concat(parts)]));
    const child = await addChildImage({ images: engine.images }, parent, parent.config.config ?? {}, layer, { createdBy: 'test' });
    await engine.images.tag(child.id, `${reg.host}/two:1`);
    const p = await push(`${reg.host}/two`, '1');
    assert.equal(streamError(p), undefined, p.text);
    assert.ok(statuses(p).some((s) => s.endsWith(': Mounted from bb')), p.text);
    assert.ok(statuses(p).some((s) => s.endsWith(': Pushed')), p.text);
    await call('DELETE', `/images/${reg.host}/two:1`);
    const before = reg.log.length;
    const r = await pull(`${reg.host}/two`, '1');
    assert.equal(streamError(r), undefined, r.text);
    const s = statuses(r);
    assert.equal(s.filter((x) => x.endsWith(': Already exists')).length, 1, r.text);
    assert.equal(s.filter((x) => x.endsWith(': Pull complete')).length, 1, r.text);
    const blobGets = reg.log.slice(before).filter((e) => e.method === 'GET' && e.url.includes('/blobs/'));
    assert.equal(blobGets.length, 2, 'the config and the new layer only');
    assert.equal(engine.images.resolve(`${reg.host}/two:1`).id, child.id);
  });

  test('an unknown tag is a plain 404 before any progress (run\'s auto-pull relies on it)', async () => {
    const r = await pull(`${reg.host}/bb`, 'nope');
    assert.equal(r.status, 404, r.text);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.match(JSON.parse(r.text).message as string, new RegExp(`^manifest for ${reg.host}/bb:nope not found: manifest unknown: `));
    const n = await pull(`${reg.host}/nosuchrepo`, 'latest');
    assert.equal(n.status, 404, n.text);
  });

  test('an unreachable registry is a plain error before any progress', async () => {
    const r = await pull('127.0.0.1:1/x', 'latest');
    assert.equal(r.status, 503, r.text);
    assert.match(JSON.parse(r.text).message as string, /connect: connection refused/);
  });

  test('pushing an image that is not here is a plain 404', async () => {
    const r = await push(`${reg.host}/absent`, 'latest');
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.text).message, `An image does not exist locally with the tag: ${reg.host}/absent`);
  });

  test('push --all-tags and pull --all-tags', async () => {
    const id = engine.images.resolve(`${reg.host}/bb:1`).id;
    await engine.images.tag(id, `${reg.host}/all:a`);
    await engine.images.tag(id, `${reg.host}/all:b`);
    const r = await push(`${reg.host}/all`, '');
    assert.equal(streamError(r), undefined, r.text);
    assert.deepEqual(r.lines.filter((l) => /digest: /.test(String(l.status))).map((l) => String(l.status).split(':')[0]), ['a', 'b']);
    await call('DELETE', `/images/${reg.host}/all:a`);
    await call('DELETE', `/images/${reg.host}/all:b`);
    const p = await pull(`${reg.host}/all`, '');
    assert.equal(streamError(p), undefined, p.text);
    assert.equal(engine.images.resolve(`${reg.host}/all:a`).id, id);
    assert.equal(engine.images.resolve(`${reg.host}/all:b`).id, id);
    assert.equal(p.lines.at(-1)?.status, `Status: Downloaded newer image for ${reg.host}/all`);
    const again = await pull(`${reg.host}/all`, '');
    assert.equal(again.lines.at(-1)?.status, `Status: Image is up to date for ${reg.host}/all`);
  });

  test('large layers are uploaded in chunks; aborting a push leaves nothing locally, and a rerun succeeds', async () => {
    // an image with a 24 MiB incompressible layer
    const big = join(base, 'big.tar');
    const pack = tarStream.pack();
    const parts: Buffer[] = [];
    pack.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((ok) => pack.on('end', ok));
    pack.entry({ name: 'big.bin', size: 24 * 1024 * 1024, mode: 0o644 }, randomBytes(24 * 1024 * 1024));
    pack.finalize();
    await done;
    writeFileSync(big, Buffer.concat(parts));
    const img = await engine.importImage(createReadStream(big), { tag: `${reg.host}/big:1` });

    // abort: drop the connection as soon as the push is under way
    const ac = new AbortController();
    const aborted = call('POST', `/images/${reg.host}/big/push?tag=1`, {
      headers: { 'X-Registry-Auth': 'e30=' },
      signal: ac.signal,
      onResponse: (res) => res.once('data', () => ac.abort()),
    }).catch((e: unknown) => e);
    assert.equal(((await aborted) as Error).name, 'AbortError');
    // the daemon side stops and cleans up shortly after
    for (let i = 0; i < 100 && spoolFiles().length > 0; i++) await new Promise((ok) => setTimeout(ok, 50));
    assert.deepEqual(spoolFiles(), []);
    assert.deepEqual(ingestFiles(), []);

    const before = reg.log.length;
    const events: string[] = [];
    const pushed = await pushImage(engine, `${reg.host}/big:1`, { monolithicMax: 1024 * 1024, chunkSize: 4 * 1024 * 1024, onProgress: (e) => events.push(e.status) });
    assert.equal(pushed.length, 1);
    const patches = reg.log.slice(before).filter((e) => e.method === 'PATCH');
    assert.ok(patches.length >= 6, `chunked upload: ${patches.length} PATCH requests`);
    assert.ok(events.includes('Pushed'));
    assert.deepEqual(spoolFiles(), []);
    // and it pulls back
    await call('DELETE', `/images/${reg.host}/big:1`);
    assert.equal(engine.images.tryResolve(img.id), undefined);
    const p = await pull(`${reg.host}/big`, '1');
    assert.equal(streamError(p), undefined, p.text);
    assert.equal(engine.images.resolve(`${reg.host}/big:1`).id, img.id);
    await call('DELETE', `/images/${reg.host}/big:1`);
  });
});

describe('credentials', () => {
  test('POST /auth: a wrong password is 401 with Docker\'s words; the right one logs in', async () => {
    const bad = await call('POST', '/auth', { body: { username: 'alice', password: 'nope', serveraddress: secured.host } });
    assert.equal(bad.status, 401, bad.text);
    assert.equal(JSON.parse(bad.text).message, `login attempt to http://${secured.host}/v2/ failed with status: 401 Unauthorized`);
    const good = await call('POST', '/auth', { body: { username: 'alice', password: 'wonderland', serveraddress: secured.host } });
    assert.equal(good.status, 200, good.text);
    assert.deepEqual(JSON.parse(good.text), { Status: 'Login Succeeded', IdentityToken: '' });
  });

  test('push and pull need the credentials: without them a plain 401, with them it works', async () => {
    const id = engine.images.resolve(`${reg.host}/bb:1`).id;
    await engine.images.tag(id, `${secured.host}/priv:1`);
    const anon = await push(`${secured.host}/priv`, '1');
    assert.equal(anon.status, 401, anon.text);
    const wrong = await push(`${secured.host}/priv`, '1', { username: 'alice', password: 'nope' });
    assert.equal(wrong.status, 401, wrong.text);
    const ok = await push(`${secured.host}/priv`, '1', { username: 'alice', password: 'wonderland', serveraddress: secured.host });
    assert.equal(streamError(ok), undefined, ok.text);
    await call('DELETE', `/images/${secured.host}/priv:1`);
    assert.equal((await pull(`${secured.host}/priv`, '1')).status, 401);
    // the `auth` field form (base64 user:password), as config.json keeps it
    const p = await pull(`${secured.host}/priv`, '1', { auth: Buffer.from('alice:wonderland').toString('base64') });
    assert.equal(streamError(p), undefined, p.text);
    assert.equal(engine.images.resolve(`${secured.host}/priv:1`).id, id);
  });

  test('berth login stores credentials in config.json; push and pull then use them; logout forgets them', async () => {
    const cfgDir = join(base, 'docker-config');
    const badLogin = await command('image/login.ts', 'login', { username: 'alice', passwordStdin: true }, [secured.host], { input: 'wrong\n' });
    assert.equal(badLogin.code, 1, show(badLogin));
    assert.match(badLogin.stderr, /login attempt to http:\/\/.* failed with status: 401 Unauthorized/);
    const li = await command('image/login.ts', 'login', { username: 'alice', passwordStdin: true }, [secured.host], { input: 'wonderland\n' });
    assert.equal(li.code, 0, show(li));
    assert.equal(li.stdout, 'Login Succeeded\n');
    assert.deepEqual(JSON.parse(readFileSync(join(cfgDir, 'config.json'), 'utf8')), { auths: { [secured.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } } });
    // login again without -u/-p re-checks the stored credentials
    const again = await command('image/login.ts', 'login', {}, [secured.host]);
    assert.equal(again.code, 0, show(again));
    assert.match(again.stderr, /Authenticating with existing credentials/);

    for (const img of engine.images.list()) await call('DELETE', `/images/${img.id}?force=1`);
    const pl = await command('image/pull.ts', 'default', {}, [`${secured.host}/priv:1`]);
    assert.equal(pl.code, 0, show(pl));
    // off a terminal: plain lines, no byte counts, the canonical name last
    const lines = pl.stdout.trim().split('\n');
    assert.equal(lines[0], `1: Pulling from ${secured.host}/priv`);
    assert.ok(lines.some((l) => /^[a-f0-9]{12}: Pull complete$/.test(l)), pl.stdout);
    assert.ok(!lines.some((l) => l.includes('Downloading')), pl.stdout);
    assert.equal(lines.at(-2), `Status: Downloaded newer image for ${secured.host}/priv:1`);
    assert.equal(lines.at(-1), `${secured.host}/priv:1`);

    const ps = await command('image/push.ts', 'default', {}, [`${secured.host}/priv:1`]);
    assert.equal(ps.code, 0, show(ps));
    assert.match(ps.stdout, /: Layer already exists\n/);
    assert.match(ps.stdout, /^1: digest: sha256:[a-f0-9]{64} size: \d+$/m);

    const lo = await command('image/login.ts', 'logout', {}, [secured.host]);
    assert.equal(lo.stdout, `Removing login credentials for ${secured.host}\n`);
    const lo2 = await command('image/login.ts', 'logout', {}, [secured.host]);
    assert.equal(lo2.stdout, `Not logged in to ${secured.host}\n`);
    const denied = await command('image/pull.ts', 'default', {}, [`${secured.host}/priv:1`]);
    assert.equal(denied.code, 1, show(denied));
    assert.match(denied.stderr, /^Error response from daemon: .*no basic auth credentials/);
    await call('DELETE', `/images/${secured.host}/priv:1`);
  });
});

describe('the CLI', () => {
  test('berth pull: "Using default tag", -q, and an unknown tag', async () => {
    const r = await command('image/pull.ts', 'default', {}, [`${reg.host}/bb`]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, 'Using default tag: latest\n');
    assert.match(r.stderr, /^Error response from daemon: manifest for .*\/bb:latest not found: manifest unknown/);
    const q = await command('image/pull.ts', 'default', { quiet: true }, [`${reg.host}/bb:1`]);
    assert.equal(q.code, 0, show(q));
    assert.equal(q.stdout, `${reg.host}/bb:1\n`);
  });

  test('berth run pulls a missing image first (progress on stderr), then runs it', async () => {
    for (const img of engine.images.list()) await call('DELETE', `/images/${img.id}?force=1`);
    assert.equal(engine.images.tryResolve(`${reg.host}/bb:1`), undefined);
    const r = await berth(['run', '--rm', `${reg.host}/bb:1`, 'echo', 'auto-pulled']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'auto-pulled\n');
    assert.match(r.stderr, new RegExp(`^Unable to find image '${reg.host}/bb:1' locally\n1: Pulling from ${reg.host}/bb\n`));
    assert.match(r.stderr, /: Pull complete\n/);
    assert.match(r.stderr, /Status: Downloaded newer image for /);
  });
});

describe('registries that misbehave', () => {
  /** A registry serving one image whose blobs the test controls. */
  async function rogue(blobs: Map<string, (res: http.ServerResponse) => void>, manifest: Buffer): Promise<{ host: string; close(): Promise<void> }> {
    const server = http.createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') return void res.writeHead(200).end('{}');
      if (/\/manifests\//.test(url)) {
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json', 'Content-Length': manifest.length });
        return void res.end(manifest);
      }
      const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
      const serve = m ? blobs.get(m[1] ?? '') : undefined;
      if (serve) return serve(res);
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    return {
      host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise((ok) => {
          server.closeAllConnections();
          server.close(() => ok());
        }),
    };
  }

  async function tarOf(entries: { name: string; data: string }[]): Promise<Buffer> {
    const pack = tarStream.pack();
    const parts: Buffer[] = [];
    pack.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((ok) => pack.on('end', ok));
    for (const e of entries) pack.entry({ name: e.name, mode: 0o644 }, e.data);
    pack.finalize();
    await done;
    return Buffer.concat(parts);
  }

  function image(layerTar: Buffer): { config: Buffer; layer: Buffer; manifest: Buffer; diffId: string } {
    const layer = gzipSync(layerTar);
    const diffId = sha256Digest(layerTar);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256Digest(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256Digest(layer), size: layer.length }],
      }),
    );
    return { config, layer, manifest, diffId };
  }

  const whole = (b: Buffer) => (res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Length': b.length });
    res.end(b);
  };

  async function expectNothingStored(ref: string, diffId: string): Promise<void> {
    assert.equal(engine.images.tryResolve(ref), undefined);
    assert.deepEqual(ingestFiles(), []);
    await assert.rejects(engine.content.readBlob(diffId as never));
  }

  test('a corrupted blob: the pull fails with a verification error and nothing is stored', async () => {
    const img = image(await tarOf([{ name: 'hello.txt', data: 'hello\n' }]));
    const corrupt = Buffer.from(img.layer);
    corrupt[corrupt.length - 9] = (corrupt[corrupt.length - 9] ?? 0) ^ 0xff; // inside the gzip trailer's CRC
    const snaps = snapshotDirs().length;
    const server = await rogue(new Map([[sha256Digest(img.config), whole(img.config)], [sha256Digest(img.layer), whole(corrupt)]]), img.manifest);
    try {
      const r = await pull(`${server.host}/corrupt`, 'latest');
      assert.equal(r.status, 200);
      assert.match(streamError(r) ?? '', /verification failed for digest|bad gzip data/);
      await expectNothingStored(`${server.host}/corrupt:latest`, img.diffId);
      assert.equal(snapshotDirs().length, snaps);
    } finally {
      await server.close();
    }
  });

  test('a truncated download fails (after retries) and nothing is stored', async () => {
    const img = image(await tarOf([{ name: 'big.txt', data: 'x'.repeat(200_000) + Math.random() }]));
    let tries = 0;
    const server = await rogue(
      new Map([
        [sha256Digest(img.config), whole(img.config)],
        [
          sha256Digest(img.layer),
          (res) => {
            tries++;
            res.writeHead(200, { 'Content-Length': img.layer.length });
            res.write(img.layer.subarray(0, Math.floor(img.layer.length / 2)), () => res.socket?.destroy());
          },
        ],
      ]),
      img.manifest,
    );
    try {
      const r = await pull(`${server.host}/truncated`, 'latest');
      assert.match(streamError(r) ?? '', /unexpected EOF/);
      assert.ok(statuses(r).some((s) => /Retrying in/.test(s)), r.text);
      assert.equal(tries, 3);
      await expectNothingStored(`${server.host}/truncated:latest`, img.diffId);
    } finally {
      await server.close();
    }
  });

  test('a layer with ../ in a path is refused; no image, no snapshot, nothing written outside', async () => {
    const marker = `berth-escape-${process.pid}`;
    const img = image(await tarOf([{ name: 'ok.txt', data: 'fine' }, { name: `../../../../../../../../tmp/${marker}`, data: 'escaped' }]));
    const snaps = snapshotDirs().length;
    const server = await rogue(new Map([[sha256Digest(img.config), whole(img.config)], [sha256Digest(img.layer), whole(img.layer)]]), img.manifest);
    try {
      const r = await pull(`${server.host}/evil`, 'latest');
      assert.match(streamError(r) ?? '', /escapes the layer root/);
      assert.equal(engine.images.tryResolve(`${server.host}/evil:latest`), undefined);
      assert.equal(snapshotDirs().length, snaps);
      assert.equal(existsSync(`/tmp/${marker}`), false);
    } finally {
      await server.close();
    }
  });
});

describe('OCI indexes, platforms and zstd', () => {
  test('an OCI index pushed by skopeo: linux/amd64 by default, --platform linux/arm64 on request', async () => {
    const layoutDir = join(base, 'oci-layout');
    const l = await writeOciLayout(layoutDir);
    await run('skopeo', ['--insecure-policy', 'copy', '--all', '--dest-tls-verify=false', `oci:${layoutDir}:multi`, `docker://${reg.host}/multi:1`]);
    const r = await pull(`${reg.host}/multi`, '1');
    assert.equal(streamError(r), undefined, r.text);
    const amd = engine.images.resolve(`${reg.host}/multi:1`);
    assert.equal(amd.id, l.children[0]?.config.digest);
    assert.equal(amd.config.architecture, 'amd64');
    // the repo digest is the index's
    assert.deepEqual(engine.images.repoDigestsOf(amd.id).map((x) => x.digest), [l.multi.digest]);
    const arm = await pull(`${reg.host}/multi`, '1', {}, '&platform=linux%2Farm64');
    assert.equal(streamError(arm), undefined, arm.text);
    assert.equal(engine.images.resolve(`${reg.host}/multi:1`).id, l.children[1]?.config.digest);
    const none = await pull(`${reg.host}/multi`, '1', {}, '&platform=linux%2Fs390x');
    assert.equal(none.status, 404);
    assert.match(JSON.parse(none.text).message as string, /no matching manifest for linux\/s390x in the manifest list entries/);
  });

  test('a zstd layer (OCI) pulls through the zstd program', async () => {
    const tar = execFileSync('tar', ['-C', REPO, '-cf', '-', 'package.json']);
    const zst = execFileSync('zstd', ['-q', '-c'], { input: tar });
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: sha256Digest(zst), size: zst.length }],
      }),
    );
    for (const b of [config, zst]) {
      const r = await fetch(`${reg.url}/v2/zstd/blobs/uploads/?digest=${sha256Digest(b)}`, { method: 'POST', body: b });
      assert.equal(r.status, 201);
    }
    const put = await fetch(`${reg.url}/v2/zstd/manifests/1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201);
    const r = await pull(`${reg.host}/zstd`, '1');
    assert.equal(streamError(r), undefined, r.text);
    assert.equal(engine.images.resolve(`${reg.host}/zstd:1`).id, sha256Digest(config));
    assert.deepEqual(await engine.content.readBlob(sha256Digest(tar)), tar);
  });
});

describe('against Debian\'s docker-registry (the reference implementation)', () => {
  let proc: ChildProcess | undefined;
  let host = '';
  let log = '';

  async function freePort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((ok) => s.close(() => ok()));
    return port;
  }

  before(async () => {
    const bin = '/usr/bin/docker-registry';
    assert.ok(existsSync(bin), 'docker-registry is needed for these tests: apt-get install -y docker-registry');
    const dir = join(base, 'docker-registry');
    mkdirSync(join(dir, 'storage'), { recursive: true });
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n`,
    );
    proc = spawn(bin, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (b: Buffer) => (log += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://${host}/v2/`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`docker-registry did not start:\n${log}`);
  });
  after(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((ok) => proc?.once('exit', ok));
      proc.kill('SIGTERM');
      await exited;
    }
  });

  test('push, mount into another repository, chunked upload, pull back', async () => {
    const src = engine.images.list().find((i) => i.layers.length === 1 && i.config.config?.Cmd?.[0] === 'sh') ?? (await engine.importImage(createReadStream(busyboxTarball()), { changes: ['CMD ["sh"]'] }));
    await engine.images.tag(src.id, `${host}/team/app:1`);
    const r = await push(`${host}/team/app`, '1');
    assert.equal(streamError(r), undefined, `${r.text}\n${log}`);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(r.text)?.[1] ?? '';
    // skopeo reads back exactly what we pushed
    const raw = Buffer.from((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/team/app:1`], { encoding: 'buffer' })).stdout);
    assert.equal(sha256Digest(raw), digest);
    assert.equal((JSON.parse(raw.toString()) as { mediaType: string }).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');

    await engine.images.tag(src.id, `${host}/team/copy:1`);
    const m = await push(`${host}/team/copy`, '1');
    assert.equal(streamError(m), undefined, m.text);
    assert.ok(statuses(m).some((s) => s.endsWith(': Mounted from team/app')), m.text);

    // a fresh layer in chunks
    const pack = tarStream.pack();
    const parts: Buffer[] = [];
    pack.on('data', (c: Buffer) => parts.push(c));
    const ended = new Promise((ok) => pack.on('end', ok));
    pack.entry({ name: 'rand.bin', mode: 0o644 }, randomBytes(3 * 1024 * 1024));
    pack.finalize();
    await ended;
    const chunky = await engine.importImage(Readable.from([Buffer.concat(parts)]), { tag: `${host}/team/chunky:1` });
    await pushImage(engine, `${host}/team/chunky:1`, { monolithicMax: 1024, chunkSize: 1024 * 1024 });

    for (const t of [`${host}/team/app:1`, `${host}/team/copy:1`, `${host}/team/chunky:1`]) await call('DELETE', `/images/${t}`);
    const p = await pull(`${host}/team/chunky`, '1');
    assert.equal(streamError(p), undefined, p.text);
    assert.equal(engine.images.resolve(`${host}/team/chunky:1`).id, chunky.id);
    const a = await pull(`${host}/team/app`, '1');
    assert.equal(streamError(a), undefined, a.text);
    assert.equal(engine.images.resolve(`${host}/team/app:1`).id, src.id);
  });

  test('skopeo copies our push from berth\'s registry to docker-registry; berth pulls it from there', async () => {
    const id = engine.images.resolve(`${host}/team/app:1`).id;
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/other:2`, `docker://${host}/copied/bb:x`]);
    const p = await pull(`${host}/copied/bb`, 'x');
    assert.equal(streamError(p), undefined, p.text);
    assert.equal(engine.images.resolve(`${host}/copied/bb:x`).id, id);
    const nf = await pull(`${host}/copied/bb`, 'missing');
    assert.equal(nf.status, 404, nf.text);
    assert.match(JSON.parse(nf.text).message as string, /^manifest for .* not found: manifest unknown: /);
    const nr = await pull(`${host}/no/such`, 'x');
    assert.equal(nr.status, 404, nr.text);
  });
});
