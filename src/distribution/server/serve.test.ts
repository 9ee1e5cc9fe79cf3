// `berth registry serve`: flags, the entry point as a process (listen, one log line per
// request on stderr, clean stop on SIGTERM), and the small parsers behind the handlers.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { isEngineError } from '../../core/errors.ts';
import { errorResponse, registryError } from './errors.ts';
import { paginate, parseContentRange, parseRange } from './http.ts';
import { MediaType, parseManifest } from './manifest.ts';
import { parseReference, parseRepositoryName } from './names.ts';
import { formatLogLine, parseAddr, parseServeArgs } from './serve.ts';
import { compareLexical } from './storage.ts';
import { blobOf, call, startTestRegistry } from './testing.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

describe('flags', () => {
  test('--addr forms, --flag=value, defaults and mistakes', () => {
    assert.deepEqual(parseAddr('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseAddr(':5000'), { host: '0.0.0.0', port: 5000 });
    assert.deepEqual(parseAddr('[::1]:5001'), { host: '::1', port: 5001 });
    assert.deepEqual(parseAddr('5002'), { host: '0.0.0.0', port: 5002 });
    assert.throws(() => parseAddr('localhost'), (e) => isEngineError(e, 'invalid-parameter'));
    assert.throws(() => parseAddr('h:70000'));

    assert.deepEqual(parseServeArgs(['--root', '/r']), { host: '127.0.0.1', port: 5000, root: '/r' });
    assert.deepEqual(parseServeArgs(['--addr=0.0.0.0:6000', '--root=/r', '--htpasswd', '/h', '--tls-cert', 'c', '--tls-key', 'k']), {
      host: '0.0.0.0',
      port: 6000,
      root: '/r',
      htpasswd: '/h',
      tlsCert: 'c',
      tlsKey: 'k',
    });
    assert.throws(() => parseServeArgs([]), /--root is required/);
    assert.throws(() => parseServeArgs(['--root', '/r', '--tls-cert', 'c']), /go together/);
    assert.throws(() => parseServeArgs(['--root', '/r', '--bogus']), /unknown argument/);
    assert.throws(() => parseServeArgs(['--root']), /needs a value/);
  });

  test('a log line', () => {
    const line = formatLogLine(
      { method: 'GET', url: '/v2/', status: 200, bytes: 2, durationMs: 1.234, remote: '127.0.0.1', user: 'alice' },
      new Date('2024-01-02T03:04:05.000Z'),
    );
    assert.equal(line, '2024-01-02T03:04:05.000Z 127.0.0.1 alice "GET /v2/" 200 2 1.2ms');
  });
});

/** main.ts as a child process; resolves once it says where it listens. */
async function spawnMain(root: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'main.ts'), '--addr', '127.0.0.1:0', '--root', root], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    child.stderr?.on('data', (s: string) => {
      stderr += s;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

describe('main.ts as a process', () => {
  test('listens, logs one line per request to stderr, stops on SIGTERM', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'berth-serve-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const { child, url, stderr } = await spawnMain(root);
    assert.equal((await call(url, 'GET', '/v2/')).status, 200);
    assert.equal((await call(url, 'GET', '/v2/nope/tags/list')).status, 404);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const lines = stderr().trim().split('\n');
    assert.ok(lines.some((l) => / - "GET \/v2\/" 200 2 [\d.]+ms$/.test(l)), stderr());
    assert.ok(lines.some((l) => /"GET \/v2\/nope\/tags\/list" 404 /.test(l)), stderr());
  });

  test('a server killed mid-push leaves no blob; the next start sweeps the half-written one', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'berth-kill-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const { child, url } = await spawnMain(root);
    const blob = blobOf(Buffer.alloc(4 << 20, 1));
    const target = new URL(`/v2/k/blobs/uploads/?digest=${blob.digest}`, url);
    const req = httpRequest({ host: target.hostname, port: target.port, method: 'POST', path: `${target.pathname}${target.search}`, headers: { 'Content-Length': blob.size } });
    req.on('error', () => undefined);
    req.write(blob.data.subarray(0, 1 << 20));
    // Wait until the server is writing the blob to its ingest directory.
    for (let i = 0; i < 100 && (await readdir(join(root, 'ingest'))).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await readdir(join(root, 'ingest'))).length, 1);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    req.destroy();
    assert.deepEqual(await readdir(join(root, 'blobs', 'sha256')), []);

    const again = await startTestRegistry({ root });
    try {
      assert.equal(again.registry.startup.sweptIngest, 1);
      assert.equal((await call(again.url, 'HEAD', `/v2/k/blobs/${blob.digest}`)).status, 404);
      assert.equal((await call(again.url, 'POST', `/v2/k/blobs/uploads/?digest=${blob.digest}`, { body: blob.data })).status, 201);
    } finally {
      await again.close();
    }
  });

  test('a bad flag exits 1 with a message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'main.ts'), '--addr', 'nonsense'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (s: Buffer) => (stderr += s.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /berth registry: --root is required/);
  });
});

describe('parsers', () => {
  test('Range against a blob size', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-4', 10), { start: 6, end: 9 });
    assert.deepEqual(parseRange('bytes=-40', 10), { start: 0, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,3-4', 10), undefined);
    assert.equal(parseRange('items=0-1', 10), undefined);
    assert.equal(parseRange('bytes=5-2', 10), undefined);
  });

  test('Content-Range of a chunk', () => {
    assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
    assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
    assert.equal(parseContentRange(undefined), undefined);
    assert.throws(() => parseContentRange('9-1'), (e) => errorResponse(e).status === 416);
    assert.throws(() => parseContentRange('abc'));
  });

  test('pagination', () => {
    const all = ['a', 'B', 'c', 'd'].sort(compareLexical);
    const q = (s: string) => new URLSearchParams(s);
    assert.deepEqual(paginate(all, q(''), compareLexical), { items: ['a', 'B', 'c', 'd'] });
    assert.deepEqual(paginate(all, q('n=2'), compareLexical), { items: ['a', 'B'], next: 'B' });
    assert.deepEqual(paginate(all, q('n=2&last=B'), compareLexical), { items: ['c', 'd'] });
    assert.deepEqual(paginate(all, q('n=0'), compareLexical), { items: [] });
  });

  test('names and references', () => {
    for (const ok of ['a', 'a/b', 'a.b_c__d---e/f0', 'x'.repeat(255)]) assert.equal(parseRepositoryName(ok), ok);
    for (const bad of ['', 'A', 'a//b', 'a/', '/a', 'a_', 'a___b', '.a', 'a/../b', 'x'.repeat(256)]) {
      assert.throws(() => parseRepositoryName(bad), (e) => errorResponse(e).body.errors[0]?.code === 'NAME_INVALID', bad);
    }
    assert.deepEqual(parseReference('v1.0_rc-1'), { tag: 'v1.0_rc-1' });
    assert.throws(() => parseReference('.hidden'));
    assert.throws(() => parseReference('-x'));
  });

  test('manifest types: header, field, shape', () => {
    const body = (o: unknown) => Buffer.from(JSON.stringify(o));
    const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 };
    assert.equal(parseManifest(body({ schemaVersion: 2, config: cfg, layers: [] }), undefined).mediaType, MediaType.ociManifest);
    assert.equal(parseManifest(body({ schemaVersion: 2, manifests: [] }), 'application/json').mediaType, MediaType.ociIndex);
    assert.equal(
      parseManifest(body({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: [] }), `${MediaType.ociManifest}; charset=utf-8`).mediaType,
      MediaType.ociManifest,
    );
    // A Docker manifest must say what it is.
    assert.throws(() => parseManifest(body({ schemaVersion: 2, config: cfg, layers: [] }), MediaType.dockerManifest), /mediaType/);
    // Foreign layers (with URLs) need not be in the registry; the rest must.
    const foreign = { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: `sha256:${'b'.repeat(64)}`, size: 5, urls: ['https://example.invalid/l'] };
    const parsed = parseManifest(body({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: cfg, layers: [foreign] }), undefined);
    assert.deepEqual(parsed.blobs.map((b) => b.digest), [cfg.digest]);
    const sha512 = { ...cfg, digest: `sha512:${'c'.repeat(128)}` };
    assert.throws(() => parseManifest(body({ schemaVersion: 2, config: sha512, layers: [] }), undefined), (e) => errorResponse(e).body.errors[0]?.code === 'MANIFEST_INVALID');
  });

  test('errors: one table gives code and status; server faults hide their text', () => {
    assert.deepEqual(errorResponse(registryError('blob-unknown', 'x', { d: 1 })), { status: 404, body: { errors: [{ code: 'BLOB_UNKNOWN', message: 'x', detail: { d: 1 } }] } });
    assert.equal(errorResponse(registryError('range-invalid', 'x')).status, 416);
    assert.equal(errorResponse(registryError('unauthorized', 'x')).body.errors[0]?.code, 'UNAUTHORIZED');
    assert.equal(errorResponse(registryError('forbidden', 'x')).status, 403);
    assert.equal(errorResponse(registryError('too-many-requests', 'x')).status, 429);
    assert.deepEqual(errorResponse(new Error('secret path /x')), { status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal server error' }] } });
  });
});
