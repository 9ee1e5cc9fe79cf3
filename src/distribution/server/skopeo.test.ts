// The registry against a real client: skopeo (Debian package `skopeo`) pushes an OCI layout
// built by hand, pulls it back, copies between repositories (cross-repository mount),
// converts to Docker schema2, lists tags, deletes, and authenticates over TLS.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  call,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  sha256,
  startTestRegistry,
  writeOciLayout,
  type TestRegistry,
} from './testing.ts';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let work: string;

function skopeo(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'skopeo',
      ['--insecure-policy', ...args],
      { timeout: 120_000, env: { ...process.env, REGISTRY_AUTH_FILE: join(work, 'auth.json') } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await skopeo(...args);
  assert.equal(r.code, 0, `skopeo ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

before(async () => {
  try {
    execFileSync('skopeo', ['--version'], { stdio: 'ignore' });
  } catch {
    assert.fail('skopeo is needed for these tests: apt-get install -y skopeo');
  }
  work = await mkdtemp(join(tmpdir(), 'berth-skopeo-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('skopeo against the registry', () => {
  let reg: TestRegistry;
  let layout: Awaited<ReturnType<typeof writeOciLayout>>;
  let ociDir: string;
  before(async () => {
    reg = await startTestRegistry();
    ociDir = join(work, 'layout');
    layout = await writeOciLayout(ociDir);
  });
  after(async () => {
    await reg.close();
  });

  test('push an OCI image from a layout, then pull it back into a dir: byte for byte', async () => {
    await ok('copy', '--dest-tls-verify=false', `oci:${ociDir}:single`, `docker://${reg.host}/x:1`);
    // Our registry holds the very manifest of the layout.
    const m = await call(reg.url, 'GET', '/v2/x/manifests/1');
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], OCI_MANIFEST);
    assert.equal(m.headers['docker-content-digest'], layout.single.manifest.digest);

    const inspect = JSON.parse(await ok('inspect', '--tls-verify=false', `docker://${reg.host}/x:1`)) as { Digest: string; Layers: string[]; Architecture: string };
    assert.equal(inspect.Digest, layout.single.manifest.digest);
    assert.deepEqual(inspect.Layers, layout.single.layers.map((l) => l.digest));
    assert.equal(inspect.Architecture, 'amd64');

    const out = join(work, 'pulled');
    await ok('copy', '--src-tls-verify=false', `docker://${reg.host}/x:1`, `dir:${out}`);
    assert.deepEqual(await readFile(join(out, 'manifest.json')), layout.single.manifest.data);
    for (const b of [layout.single.config, ...layout.single.layers]) {
      const file = await readFile(join(out, b.digest.slice('sha256:'.length)));
      assert.equal(sha256(file), b.digest);
    }
    const names = await readdir(out);
    assert.ok(names.includes('version'));
  });

  test('push and pull a two-platform index with --all', async () => {
    await ok('copy', '--all', '--dest-tls-verify=false', `oci:${ociDir}:multi`, `docker://${reg.host}/x/multi:1`);
    const idx = await call(reg.url, 'GET', '/v2/x/multi/manifests/1');
    assert.equal(idx.headers['content-type'], OCI_INDEX);
    assert.equal(idx.headers['docker-content-digest'], layout.multi.digest);
    for (const child of layout.children) {
      assert.equal((await call(reg.url, 'HEAD', `/v2/x/multi/manifests/${child.manifest.digest}`)).status, 200);
    }
    const back = join(work, 'multi-back');
    await ok('copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/x/multi:1`, `oci:${back}:m`);
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, layout.multi.digest);
    // Only the arm64 image, chosen by skopeo from our index.
    const arm = join(work, 'arm');
    await ok('copy', '--override-arch=arm64', '--src-tls-verify=false', `docker://${reg.host}/x/multi:1`, `dir:${arm}`);
    assert.deepEqual(await readFile(join(arm, 'manifest.json')), layout.children[1]?.manifest.data);
  });

  test('copy to another repository as Docker schema2: layers are mounted across repositories', async () => {
    const before = reg.log.length;
    await ok('copy', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/x:1`, `docker://${reg.host}/y/converted:2`);
    const mounts = reg.log.slice(before).filter((e) => e.method === 'POST' && e.url.includes('mount=') && e.status === 201);
    assert.ok(mounts.length >= 1, 'expected a cross-repository mount');
    assert.ok(mounts.every((e) => e.url.startsWith('/v2/y/converted/blobs/uploads/')));
    const m = await call(reg.url, 'GET', '/v2/y/converted/manifests/2');
    assert.equal(m.headers['content-type'], DOCKER_MANIFEST);
    const doc = m.json<{ layers: { digest: string }[] }>();
    assert.deepEqual(doc.layers.map((l) => l.digest), layout.single.layers.map((l) => l.digest));
    // And skopeo can read the converted image back.
    const out = join(work, 'converted');
    await ok('copy', '--src-tls-verify=false', `docker://${reg.host}/y/converted:2`, `dir:${out}`);
    assert.deepEqual(await readFile(join(out, 'manifest.json')), m.body);
  });

  test('list-tags and delete', async () => {
    await ok('copy', '--dest-tls-verify=false', `oci:${ociDir}:single`, `docker://${reg.host}/x:2`);
    const tags = JSON.parse(await ok('list-tags', '--tls-verify=false', `docker://${reg.host}/x`)) as { Repository: string; Tags: string[] };
    assert.deepEqual(tags.Tags, ['1', '2']);
    await ok('delete', '--tls-verify=false', `docker://${reg.host}/x:2`);
    // Deleting by digest removes every tag naming that manifest.
    assert.equal((await call(reg.url, 'GET', '/v2/x/manifests/1')).status, 404);
    const gone = await skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/x:1`);
    assert.notEqual(gone.code, 0);
  });
});

describe('skopeo against the registry with htpasswd and TLS', () => {
  let reg: TestRegistry;
  let ociDir: string;
  before(async () => {
    const dir = join(work, 'tls');
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await rm(dir, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
      stdio: 'ignore',
    });
    const htpasswd = join(dir, 'htpasswd');
    await copyFile(join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'htpasswd'), htpasswd);
    reg = await startTestRegistry({ htpasswd, tls: { cert: await readFile(cert), key: await readFile(key) } });
    ociDir = join(work, 'layout-auth');
    await writeOciLayout(ociDir);
  });
  after(async () => {
    await reg.close();
  });

  test('push needs credentials; with them push and pull work over HTTPS', async () => {
    const denied = await skopeo('copy', '--dest-tls-verify=false', `oci:${ociDir}:single`, `docker://${reg.host}/private:1`);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /unauthorized|authentication required/i);
    const wrong = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'alice:nope', `oci:${ociDir}:single`, `docker://${reg.host}/private:1`);
    assert.notEqual(wrong.code, 0);

    await ok('copy', '--dest-tls-verify=false', '--dest-creds', 'alice:wonderland', `oci:${ociDir}:single`, `docker://${reg.host}/private:1`);
    const out = join(work, 'private-out');
    await ok('copy', '--src-tls-verify=false', '--src-creds', 'bob:builder', `docker://${reg.host}/private:1`, `dir:${out}`);
    assert.ok((await readdir(out)).includes('manifest.json'));
    assert.ok(reg.log.some((e) => e.user === 'alice' && e.method === 'PUT' && e.status === 201));
  });
});
