// Every endpoint of the registry over real HTTP on 127.0.0.1, on a real temporary root.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readlink, utimes, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  blobOf,
  call,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  imageManifest,
  indexManifest,
  OCI_INDEX,
  OCI_MANIFEST,
  pushBlob,
  sha256,
  startTestRegistry,
  type Blob,
  type TestRegistry,
} from './testing.ts';

let reg: TestRegistry;
let url: string;

before(async () => {
  reg = await startTestRegistry();
  url = reg.url;
});
after(async () => {
  await reg.close();
});

function storedBlob(digest: string): boolean {
  return existsSync(join(reg.root, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

async function ingestEmpty(): Promise<boolean> {
  return (await readdir(join(reg.root, 'ingest'))).length === 0;
}

async function pushManifest(name: string, ref: string, m: Blob, contentType = OCI_MANIFEST) {
  return call(url, 'PUT', `/v2/${name}/manifests/${ref}`, { body: m.data, headers: { 'Content-Type': contentType } });
}

/** A config and a layer pushed to `name`, and the manifest naming them (not pushed). */
async function imageIn(name: string, seed: string, opts: Parameters<typeof imageManifest>[2] = {}) {
  const config = blobOf(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = blobOf(`layer of ${seed}`);
  await pushBlob(url, name, config);
  await pushBlob(url, name, layer);
  return { config, layer, manifest: imageManifest(config, [layer], opts) };
}

describe('base', () => {
  test('GET /v2/ answers 200 {} with the API version header', async () => {
    const r = await call(url, 'GET', '/v2/');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {});
    assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  test('an unknown endpoint is a 404 and a wrong method a 405 with Allow', async () => {
    assert.equal((await call(url, 'GET', '/v2/foo/bar')).status, 404);
    assert.equal((await call(url, 'GET', '/nothing')).status, 404);
    const r = await call(url, 'POST', '/v2/foo/tags/list');
    assert.equal(r.status, 405);
    assert.equal(r.code, 'UNSUPPORTED');
    assert.equal(r.headers.allow, 'GET');
  });
});

describe('names, tags and digests', () => {
  test('invalid repository names are NAME_INVALID, and no path escapes the root', async () => {
    for (const name of ['Upper', 'a%2F..%2F..%2Fetc', 'a..b', '-a', 'a/', '%2Fabs']) {
      const r = await call(url, 'GET', `/v2/${name}/tags/list`);
      assert.equal(r.status, 400, name);
      assert.equal(r.code, 'NAME_INVALID', name);
    }
    // Dot segments are resolved by URL parsing before routing: never a repository "..".
    const r = await call(url, 'GET', '/v2/../../etc/manifests/passwd');
    assert.equal(r.status, 404);
    assert.ok(!existsSync(join(reg.root, 'etc')));
  });

  test('digests: sha256 only; other algorithms are UNSUPPORTED, garbage DIGEST_INVALID', async () => {
    const bad = await call(url, 'GET', '/v2/names/blobs/sha256:xyz');
    assert.equal(bad.status, 400);
    assert.equal(bad.code, 'DIGEST_INVALID');
    const other = await call(url, 'GET', `/v2/names/blobs/sha512:${'a'.repeat(128)}`);
    assert.equal(other.status, 415);
    assert.equal(other.code, 'UNSUPPORTED');
    const tag = await call(url, 'PUT', `/v2/names/manifests/${'t'.repeat(129)}`, { body: '{}' });
    assert.equal(tag.status, 400);
  });
});

describe('blobs: monolithic push and pull', () => {
  test('single POST with ?digest= stores the blob; GET, HEAD and ranges read it', async () => {
    const b = blobOf('0123456789abcdef');
    const r = await call(url, 'POST', `/v2/mono/blobs/uploads/?digest=${b.digest}`, { body: b.data });
    assert.equal(r.status, 201);
    assert.equal(r.headers.location, `/v2/mono/blobs/${b.digest}`);
    assert.equal(r.headers['docker-content-digest'], b.digest);

    const g = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.body, b.data);
    assert.equal(g.headers['docker-content-digest'], b.digest);
    assert.equal(g.headers['content-length'], '16');

    const h = await call(url, 'HEAD', `/v2/mono/blobs/${b.digest}`);
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '16');
    assert.equal(h.body.byteLength, 0);

    const part = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`, { headers: { Range: 'bytes=2-5' } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), '2345');
    assert.equal(part.headers['content-range'], 'bytes 2-5/16');
    const open = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`, { headers: { Range: 'bytes=14-' } });
    assert.equal(open.body.toString(), 'ef');
    const suffix = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`, { headers: { Range: 'bytes=-3' } });
    assert.equal(suffix.body.toString(), 'def');
    const beyond = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`, { headers: { Range: 'bytes=16-20' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */16');
  });

  test('a blob of many read buffers comes back whole, and in ranges across their edges', async () => {
    const data = Buffer.alloc(1024 * 1024 + 12345);
    for (let i = 0; i + 4 <= data.length; i += 4) data.writeUInt32LE(i, i);
    const b = blobOf(data);
    assert.equal((await call(url, 'POST', `/v2/mono/blobs/uploads/?digest=${b.digest}`, { body: b.data })).status, 201);
    const g = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`);
    assert.equal(g.status, 200);
    assert.ok(g.body.equals(data));
    for (const [start, end] of [[128 * 1024 - 3, 256 * 1024 + 5], [0, 128 * 1024 - 1], [data.length - 7, data.length - 1], [1000, 1000]] as const) {
      const part = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`, { headers: { Range: `bytes=${start}-${end}` } });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-range'], `bytes ${start}-${end}/${data.length}`);
      assert.ok(part.body.equals(data.subarray(start, end + 1)), `${start}-${end}`);
    }
    // Several at once share nothing.
    const all = await Promise.all(Array.from({ length: 4 }, () => call(url, 'GET', `/v2/mono/blobs/${b.digest}`)));
    for (const r of all) assert.ok(r.body.equals(data));
  });

  test('a client that goes away mid-download does not disturb the server', async () => {
    const b = blobOf(Buffer.alloc(8 * 1024 * 1024, 'd'));
    await pushBlob(url, 'mono', b);
    // A handle left open may be closed by the garbage collector instead, which node warns about.
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const u = new URL(`/v2/mono/blobs/${b.digest}`, url);
    await new Promise<void>((resolve, reject) => {
      const req = httpGet({ host: u.hostname, port: u.port, path: u.pathname, agent: false }, (res) => {
        res.once('data', () => {
          res.destroy();
          resolve();
        });
      });
      req.on('error', reject);
    });
    // The server runs in this process: its handle on the blob's file is closed again.
    const blobPath = join(reg.root, 'blobs', 'sha256', b.digest.slice('sha256:'.length));
    const openOnBlob = async () => (await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')))).filter((t) => t === blobPath).length;
    for (let i = 0; (await openOnBlob()) > 0; i++) {
      assert.ok(i < 200, 'the blob file is still open 2 s after the client went away');
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    assert.deepEqual(warnings.filter((m) => /file descriptor/i.test(m)), []);
    const g = await call(url, 'GET', `/v2/mono/blobs/${b.digest}`);
    assert.equal(g.status, 200);
    assert.ok(g.body.equals(b.data));
  });

  test('POST then PUT with the whole blob', async () => {
    const b = blobOf('post then put');
    const s = await call(url, 'POST', '/v2/mono/blobs/uploads/');
    assert.equal(s.status, 202);
    const r = await call(url, 'PUT', `${s.headers.location}?digest=${b.digest}`, { body: b.data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(r.status, 201);
    assert.deepEqual((await call(url, 'GET', `/v2/mono/blobs/${b.digest}`)).body, b.data);
  });

  test('a digest mismatch is DIGEST_INVALID and stores nothing', async () => {
    const claimed = blobOf('what the client says');
    const sent = Buffer.from('what the client sends');
    const r = await call(url, 'POST', `/v2/mono/blobs/uploads/?digest=${claimed.digest}`, { body: sent });
    assert.equal(r.status, 400);
    assert.equal(r.code, 'DIGEST_INVALID');
    assert.ok(!storedBlob(claimed.digest));
    assert.ok(!storedBlob(sha256(sent)));
    assert.ok(await ingestEmpty());
    assert.equal((await call(url, 'HEAD', `/v2/mono/blobs/${claimed.digest}`)).status, 404);
  });

  test('unknown blobs are BLOB_UNKNOWN, and a blob of another repository is not visible', async () => {
    const b = blobOf('only in mono');
    await pushBlob(url, 'mono', b);
    const r = await call(url, 'GET', `/v2/other/blobs/${b.digest}`);
    assert.equal(r.status, 404);
    assert.equal(r.code, 'BLOB_UNKNOWN');
    assert.equal((await call(url, 'HEAD', `/v2/other/blobs/${b.digest}`)).status, 404);
  });

  test('concurrent pushes of the same blob all succeed and leave one blob', async () => {
    const b = blobOf(Buffer.alloc(256 * 1024, 7));
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => call(url, 'POST', `/v2/race${i % 2}/blobs/uploads/?digest=${b.digest}`, { body: b.data })));
    assert.deepEqual(
      replies.map((r) => r.status),
      [201, 201, 201, 201, 201, 201],
    );
    assert.ok(storedBlob(b.digest));
    assert.ok(await ingestEmpty());
    assert.deepEqual((await call(url, 'GET', `/v2/race1/blobs/${b.digest}`)).body, b.data);
  });

  test('DELETE unlinks a blob from the repository', async () => {
    const b = blobOf('to delete');
    await pushBlob(url, 'del', b);
    const r = await call(url, 'DELETE', `/v2/del/blobs/${b.digest}`);
    assert.equal(r.status, 202);
    const g = await call(url, 'GET', `/v2/del/blobs/${b.digest}`);
    assert.equal(g.status, 404);
    assert.equal(g.code, 'BLOB_UNKNOWN');
    assert.equal((await call(url, 'DELETE', `/v2/del/blobs/${b.digest}`)).status, 404);
  });
});

describe('blobs: chunked upload', () => {
  test('POST, PATCH in order, 416 out of order, GET status, PUT with the last chunk', async () => {
    const data = Buffer.from('0123456789');
    const s = await call(url, 'POST', '/v2/chunked/blobs/uploads/', { headers: { 'Content-Length': 0 } });
    assert.equal(s.status, 202);
    const location = String(s.headers.location);
    const uuid = String(s.headers['docker-upload-uuid']);
    assert.match(location, new RegExp(`^/v2/chunked/blobs/uploads/${uuid}$`));
    assert.equal(s.headers.range, '0-0');

    const p1 = await call(url, 'PATCH', location, { body: data.subarray(0, 3), headers: { 'Content-Range': '0-2', 'Content-Type': 'application/octet-stream' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.range, '0-2');
    assert.equal(p1.headers['docker-upload-uuid'], uuid);

    const skip = await call(url, 'PATCH', location, { body: data.subarray(5, 7), headers: { 'Content-Range': '5-6' } });
    assert.equal(skip.status, 416);
    assert.equal(skip.headers.range, '0-2');
    const again = await call(url, 'PATCH', location, { body: data.subarray(0, 3), headers: { 'Content-Range': '0-2' } });
    assert.equal(again.status, 416);

    const st = await call(url, 'GET', location);
    assert.equal(st.status, 204);
    assert.equal(st.headers.range, '0-2');
    assert.equal(st.headers.location, location);

    const p2 = await call(url, 'PATCH', location, { body: data.subarray(3, 6), headers: { 'Content-Range': '3-5' } });
    assert.equal(p2.headers.range, '0-5');

    const digest = sha256(data);
    const done = await call(url, 'PUT', `${location}?digest=${digest}`, { body: data.subarray(6), headers: { 'Content-Range': '6-9' } });
    assert.equal(done.status, 201);
    assert.equal(done.headers['docker-content-digest'], digest);
    assert.equal(done.headers.location, `/v2/chunked/blobs/${digest}`);
    assert.deepEqual((await call(url, 'GET', `/v2/chunked/blobs/${digest}`)).body, data);

    const gone = await call(url, 'GET', location);
    assert.equal(gone.status, 404);
    assert.equal(gone.code, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a streamed PATCH without Content-Range, then an empty PUT', async () => {
    const data = Buffer.alloc(1 << 20, 'x');
    const s = await call(url, 'POST', '/v2/chunked/blobs/uploads/');
    const p = await call(url, 'PATCH', String(s.headers.location), { body: data });
    assert.equal(p.status, 202);
    assert.equal(p.headers.range, `0-${data.byteLength - 1}`);
    const done = await call(url, 'PUT', `${p.headers.location}?digest=${sha256(data)}`);
    assert.equal(done.status, 201);
  });

  test('a chunk shorter than its Content-Range is refused and cut off again', async () => {
    const s = await call(url, 'POST', '/v2/chunked/blobs/uploads/');
    const location = String(s.headers.location);
    await call(url, 'PATCH', location, { body: 'abc', headers: { 'Content-Range': '0-2' } });
    const r = await call(url, 'PATCH', location, { body: 'de', headers: { 'Content-Range': '3-9' } });
    assert.equal(r.status, 400);
    assert.equal(r.code, 'SIZE_INVALID');
    assert.equal((await call(url, 'GET', location)).headers.range, '0-2');
  });

  test('a digest mismatch at the closing PUT is DIGEST_INVALID, stores nothing and ends the session', async () => {
    const s = await call(url, 'POST', '/v2/chunked/blobs/uploads/');
    const location = String(s.headers.location);
    await call(url, 'PATCH', location, { body: 'some bytes', headers: { 'Content-Range': '0-9' } });
    const wrong = sha256('other bytes');
    const r = await call(url, 'PUT', `${location}?digest=${wrong}`);
    assert.equal(r.status, 400);
    assert.equal(r.code, 'DIGEST_INVALID');
    assert.ok(!storedBlob(wrong));
    assert.ok(!storedBlob(sha256('some bytes')));
    assert.ok(await ingestEmpty());
    assert.equal((await call(url, 'GET', location)).status, 404);
  });

  test('a PUT without digest is DIGEST_INVALID and keeps the session', async () => {
    const s = await call(url, 'POST', '/v2/chunked/blobs/uploads/');
    const r = await call(url, 'PUT', String(s.headers.location));
    assert.equal(r.status, 400);
    assert.equal(r.code, 'DIGEST_INVALID');
    assert.equal((await call(url, 'GET', String(s.headers.location))).status, 204);
  });

  test('DELETE cancels; sessions are bound to their repository; odd ids are unknown', async () => {
    const s = await call(url, 'POST', '/v2/chunked/blobs/uploads/');
    const uuid = String(s.headers['docker-upload-uuid']);
    assert.equal((await call(url, 'GET', `/v2/elsewhere/blobs/uploads/${uuid}`)).code, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await call(url, 'DELETE', String(s.headers.location))).status, 204);
    assert.equal((await call(url, 'GET', String(s.headers.location))).status, 404);
    assert.equal((await call(url, 'DELETE', String(s.headers.location))).status, 404);
    for (const id of ['nope', '..%2F..%2Fblobs', '00000000-0000-0000-0000-000000000000']) {
      const r = await call(url, 'PATCH', `/v2/chunked/blobs/uploads/${id}`, { body: 'x' });
      assert.equal(r.status, 404, id);
      assert.equal(r.code, 'BLOB_UPLOAD_UNKNOWN', id);
    }
  });
});

describe('cross-repository mount', () => {
  test('a blob linked to the source repository mounts with 201', async () => {
    const b = blobOf('mount me');
    await pushBlob(url, 'src/repo', b);
    const r = await call(url, 'POST', `/v2/dst/blobs/uploads/?mount=${b.digest}&from=src/repo`);
    assert.equal(r.status, 201);
    assert.equal(r.headers.location, `/v2/dst/blobs/${b.digest}`);
    assert.equal(r.headers['docker-content-digest'], b.digest);
    assert.deepEqual((await call(url, 'GET', `/v2/dst/blobs/${b.digest}`)).body, b.data);
  });

  test('a blob not linked to the source repository starts an upload instead (202)', async () => {
    const b = blobOf('stored, but not in src2');
    await pushBlob(url, 'unrelated', b);
    const r = await call(url, 'POST', `/v2/dst/blobs/uploads/?mount=${b.digest}&from=src2`);
    assert.equal(r.status, 202);
    assert.ok(r.headers['docker-upload-uuid']);
    assert.equal((await call(url, 'HEAD', `/v2/dst/blobs/${b.digest}`)).status, 404);
  });
});

describe('manifests', () => {
  test('push an OCI manifest by tag; pull it by tag and digest with its media type and exact bytes', async () => {
    const { manifest } = await imageIn('img', 'one');
    const r = await pushManifest('img', 'v1', manifest);
    assert.equal(r.status, 201);
    assert.equal(r.headers['docker-content-digest'], manifest.digest);
    assert.equal(r.headers.location, `/v2/img/manifests/${manifest.digest}`);
    for (const ref of ['v1', manifest.digest]) {
      const g = await call(url, 'GET', `/v2/img/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(g.status, 200);
      assert.equal(g.headers['content-type'], OCI_MANIFEST);
      assert.equal(g.headers['docker-content-digest'], manifest.digest);
      assert.deepEqual(g.body, manifest.data);
      const h = await call(url, 'HEAD', `/v2/img/manifests/${ref}`);
      assert.equal(h.status, 200);
      assert.equal(h.headers['content-length'], String(manifest.size));
      assert.equal(h.body.byteLength, 0);
    }
    // A manifest is a blob of its repository too; a client with its ETag gets a 304.
    assert.deepEqual((await call(url, 'GET', `/v2/img/blobs/${manifest.digest}`)).body, manifest.data);
    const cached = await call(url, 'GET', '/v2/img/manifests/v1', { headers: { 'If-None-Match': `"${manifest.digest}"` } });
    assert.equal(cached.status, 304);
  });

  test('unknown manifests are MANIFEST_UNKNOWN (404)', async () => {
    const r = await call(url, 'GET', '/v2/img/manifests/missing');
    assert.equal(r.status, 404);
    assert.equal(r.code, 'MANIFEST_UNKNOWN');
    assert.equal((await call(url, 'GET', `/v2/img/manifests/${sha256('x')}`)).status, 404);
    assert.equal((await call(url, 'HEAD', '/v2/nowhere/manifests/latest')).status, 404);
  });

  test('a manifest naming a blob the repository lacks is MANIFEST_BLOB_UNKNOWN, and nothing is tagged', async () => {
    const config = blobOf('{"c":1}');
    const layer = blobOf('layer only elsewhere');
    await pushBlob(url, 'partial', config);
    await pushBlob(url, 'elsewhere', layer);
    const m = imageManifest(config, [layer]);
    const r = await pushManifest('partial', 'v1', m);
    assert.equal(r.status, 400);
    assert.equal(r.code, 'MANIFEST_BLOB_UNKNOWN');
    assert.deepEqual(r.json<{ errors: { detail: unknown }[] }>().errors[0]?.detail, { digest: layer.digest });
    assert.equal((await call(url, 'GET', '/v2/partial/manifests/v1')).status, 404);
    assert.ok(!storedBlob(m.digest));
  });

  test('invalid manifests are MANIFEST_INVALID; schema1 and unknown types UNSUPPORTED', async () => {
    const { manifest } = await imageIn('bad', 'bad');
    const notJson = await call(url, 'PUT', '/v2/bad/manifests/x', { body: '{nope', headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(notJson.code, 'MANIFEST_INVALID');
    const mismatch = await pushManifest('bad', 'x', manifest, DOCKER_MANIFEST);
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.code, 'MANIFEST_INVALID');
    const noLayers = await call(url, 'PUT', '/v2/bad/manifests/x', {
      body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: 'sha256:1', size: 1 } }),
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    assert.equal(noLayers.code, 'MANIFEST_INVALID');
    const schema1 = await call(url, 'PUT', '/v2/bad/manifests/x', {
      body: JSON.stringify({ schemaVersion: 1, name: 'bad', tag: 'x', fsLayers: [] }),
      headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' },
    });
    assert.equal(schema1.status, 415);
    assert.equal(schema1.code, 'UNSUPPORTED');
    const other = await pushManifest('bad', 'x', manifest, 'application/vnd.example.thing+json');
    assert.equal(other.status, 400); // mediaType field disagrees with the header
    const big = await call(url, 'PUT', '/v2/bad/manifests/x', { body: Buffer.alloc(5 * 1024 * 1024, 32), headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(big.status, 413);
  });

  test('the media type comes from the mediaType field when Content-Type says nothing', async () => {
    const { manifest } = await imageIn('typed', 'typed', { mediaType: DOCKER_MANIFEST });
    const r = await pushManifest('typed', 'v1', manifest, 'application/json');
    assert.equal(r.status, 201);
    const g = await call(url, 'GET', '/v2/typed/manifests/v1');
    assert.equal(g.headers['content-type'], DOCKER_MANIFEST);
  });

  test('a manifest pushed by digest must hash to it', async () => {
    const { manifest } = await imageIn('bydigest', 'bd');
    const wrong = await pushManifest('bydigest', sha256('nope'), manifest);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.code, 'DIGEST_INVALID');
    const right = await pushManifest('bydigest', manifest.digest, manifest);
    assert.equal(right.status, 201);
    assert.equal((await call(url, 'GET', `/v2/bydigest/manifests/${manifest.digest}`)).status, 200);
  });

  for (const [kind, listType, childType] of [
    ['OCI index', OCI_INDEX, OCI_MANIFEST],
    ['Docker manifest list', DOCKER_LIST, DOCKER_MANIFEST],
  ] as const) {
    test(`a ${kind} needs its child manifests in the repository`, async () => {
      const name = `multi-${childType === OCI_MANIFEST ? 'oci' : 'docker'}`;
      const a = await imageIn(name, `${kind} amd64`, { mediaType: childType });
      const b = await imageIn(name, `${kind} arm64`, { mediaType: childType });
      const index = indexManifest(
        [
          { manifest: a.manifest, arch: 'amd64' },
          { manifest: b.manifest, arch: 'arm64' },
        ],
        listType,
      );
      assert.equal((await pushManifest(name, a.manifest.digest, a.manifest, childType)).status, 201);
      const missing = await pushManifest(name, 'latest', index, listType);
      assert.equal(missing.status, 400);
      assert.equal(missing.code, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal((await pushManifest(name, b.manifest.digest, b.manifest, childType)).status, 201);
      assert.equal((await pushManifest(name, 'latest', index, listType)).status, 201);
      const g = await call(url, 'GET', `/v2/${name}/manifests/latest`);
      assert.equal(g.headers['content-type'], listType);
      assert.deepEqual(g.body, index.data);
    });
  }

  test('DELETE by digest removes the manifest and its tags; DELETE by tag removes the tag', async () => {
    const one = await imageIn('delm', 'one');
    const two = await imageIn('delm', 'two');
    await pushManifest('delm', 'a', one.manifest);
    await pushManifest('delm', 'b', one.manifest);
    await pushManifest('delm', 'c', two.manifest);
    const r = await call(url, 'DELETE', `/v2/delm/manifests/${one.manifest.digest}`);
    assert.equal(r.status, 202);
    assert.equal((await call(url, 'GET', `/v2/delm/manifests/${one.manifest.digest}`)).code, 'MANIFEST_UNKNOWN');
    assert.equal((await call(url, 'GET', '/v2/delm/manifests/a')).status, 404);
    assert.deepEqual((await call(url, 'GET', '/v2/delm/tags/list')).json(), { name: 'delm', tags: ['c'] });
    assert.equal((await call(url, 'DELETE', '/v2/delm/manifests/c')).status, 202);
    assert.equal((await call(url, 'GET', '/v2/delm/manifests/c')).status, 404);
    assert.equal((await call(url, 'GET', `/v2/delm/manifests/${two.manifest.digest}`)).status, 200);
    assert.equal((await call(url, 'DELETE', '/v2/delm/manifests/c')).code, 'MANIFEST_UNKNOWN');
    assert.equal((await call(url, 'DELETE', '/v2/never-pushed/manifests/c')).code, 'NAME_UNKNOWN');
  });
});

describe('tags list and catalog', () => {
  test('tags in lexical order, paginated with n, last and a Link header', async () => {
    const { manifest } = await imageIn('paged', 'paged');
    const tags = ['v3', 'alpha', 'Beta', 'v10', 'latest', 'v1'];
    for (const t of tags) assert.equal((await pushManifest('paged', t, manifest)).status, 201);
    const all = await call(url, 'GET', '/v2/paged/tags/list');
    assert.deepEqual(all.json(), { name: 'paged', tags: ['alpha', 'Beta', 'latest', 'v1', 'v10', 'v3'] });
    assert.equal(all.headers.link, undefined);

    const seen: string[] = [];
    let next: string | undefined = '/v2/paged/tags/list?n=4';
    let pages = 0;
    while (next !== undefined) {
      const page = await call(url, 'GET', next);
      assert.equal(page.status, 200);
      seen.push(...page.json<{ tags: string[] }>().tags);
      const link = page.headers.link;
      next = typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
      pages++;
    }
    assert.equal(pages, 2);
    assert.deepEqual(seen, ['alpha', 'Beta', 'latest', 'v1', 'v10', 'v3']);

    const afterLast = await call(url, 'GET', '/v2/paged/tags/list?n=2&last=latest');
    assert.deepEqual(afterLast.json<{ tags: string[] }>().tags, ['v1', 'v10']);
    assert.match(String(afterLast.headers.link), /last=v10/);
    const lastOnly = await call(url, 'GET', '/v2/paged/tags/list?last=v10');
    assert.deepEqual(lastOnly.json<{ tags: string[] }>().tags, ['v3']);
    const zero = await call(url, 'GET', '/v2/paged/tags/list?n=0');
    assert.deepEqual(zero.json<{ tags: string[] }>().tags, []);
    assert.equal(zero.headers.link, undefined);
    assert.equal((await call(url, 'GET', '/v2/paged/tags/list?n=-1')).status, 400);
  });

  test('tags of an unknown repository are NAME_UNKNOWN; a repository with only blobs has none', async () => {
    const r = await call(url, 'GET', '/v2/no/such/repo/tags/list');
    assert.equal(r.status, 404);
    assert.equal(r.code, 'NAME_UNKNOWN');
    await pushBlob(url, 'blobsonly', blobOf('b'));
    assert.deepEqual((await call(url, 'GET', '/v2/blobsonly/tags/list')).json(), { name: 'blobsonly', tags: [] });
  });

  test('the catalog lists repositories, nested ones too, with pagination', async () => {
    await pushBlob(url, 'cat/a', blobOf('a'));
    await pushBlob(url, 'cat/b/c', blobOf('c'));
    const all = (await call(url, 'GET', '/v2/_catalog')).json<{ repositories: string[] }>().repositories;
    assert.ok(all.includes('cat/a') && all.includes('cat/b/c') && all.includes('mono'));
    assert.ok(!all.includes('cat') && !all.includes('cat/b'));
    assert.deepEqual([...all].sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1)), all);
    const page = await call(url, 'GET', '/v2/_catalog?n=1&last=cat/a');
    assert.deepEqual(page.json(), { repositories: ['cat/b/c'] });
    assert.match(String(page.headers.link), /^<\/v2\/_catalog\?n=1&last=cat%2Fb%2Fc>; rel="next"$/);
  });
});

describe('referrers', () => {
  test('manifests with a subject are listed, filtered by artifactType', async () => {
    const subject = await imageIn('refs', 'subject');
    const empty = blobOf('{}');
    await pushBlob(url, 'refs', empty);
    const sbomLayer = blobOf('sbom');
    const sigConfig = blobOf('{"sig":true}');
    await pushBlob(url, 'refs', sbomLayer);
    await pushBlob(url, 'refs', sigConfig);
    const sbom = imageManifest(empty, [sbomLayer], {
      artifactType: 'application/vnd.example.sbom.v1',
      configType: 'application/vnd.oci.empty.v1+json',
      subject: subject.manifest,
      annotations: { 'org.example.kind': 'sbom' },
    });
    const sig = imageManifest(sigConfig, [], { configType: 'application/vnd.example.sig.config.v1+json', subject: subject.manifest });

    // A referrer may be pushed before its subject.
    const first = await pushManifest('refs', sbom.digest, sbom);
    assert.equal(first.status, 201);
    assert.equal(first.headers['oci-subject'], subject.manifest.digest);
    assert.equal((await pushManifest('refs', 'v1', subject.manifest)).headers['oci-subject'], undefined);
    assert.equal((await pushManifest('refs', 'sig', sig)).status, 201);

    const r = await call(url, 'GET', `/v2/refs/referrers/${subject.manifest.digest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], OCI_INDEX);
    const index = r.json<{ schemaVersion: number; mediaType: string; manifests: Record<string, unknown>[] }>();
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    const byDigest = new Map(index.manifests.map((d) => [d.digest, d]));
    assert.deepEqual(byDigest.get(sbom.digest), {
      mediaType: OCI_MANIFEST,
      digest: sbom.digest,
      size: sbom.size,
      artifactType: 'application/vnd.example.sbom.v1',
      annotations: { 'org.example.kind': 'sbom' },
    });
    assert.deepEqual(byDigest.get(sig.digest), {
      mediaType: OCI_MANIFEST,
      digest: sig.digest,
      size: sig.size,
      artifactType: 'application/vnd.example.sig.config.v1+json',
    });

    const filtered = await call(url, 'GET', `/v2/refs/referrers/${subject.manifest.digest}?artifactType=application/vnd.example.sbom.v1`);
    assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual(
      filtered.json<{ manifests: { digest: string }[] }>().manifests.map((d) => d.digest),
      [sbom.digest],
    );

    assert.equal((await call(url, 'DELETE', `/v2/refs/manifests/${sig.digest}`)).status, 202);
    const afterDelete = await call(url, 'GET', `/v2/refs/referrers/${subject.manifest.digest}`);
    assert.deepEqual(
      afterDelete.json<{ manifests: { digest: string }[] }>().manifests.map((d) => d.digest),
      [sbom.digest],
    );
  });

  test('no referrers is an empty index, never a 404; a bad digest is a 400', async () => {
    const r = await call(url, 'GET', `/v2/nobody/referrers/${sha256('none')}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    assert.equal((await call(url, 'GET', '/v2/nobody/referrers/latest')).status, 400);
  });
});

describe('restart', () => {
  test('content survives a restart; stale uploads and half-written blobs are swept', async () => {
    const first = await startTestRegistry();
    const root = first.root;
    try {
      const { manifest } = await (async () => {
        const config = blobOf('{"restart":1}');
        await pushBlob(first.url, 'keep', config);
        const m = imageManifest(config, []);
        await call(first.url, 'PUT', '/v2/keep/manifests/v1', { body: m.data, headers: { 'Content-Type': OCI_MANIFEST } });
        return { manifest: m };
      })();
      const s = await call(first.url, 'POST', '/v2/keep/blobs/uploads/');
      await call(first.url, 'PATCH', String(s.headers.location), { body: 'partial' });
      const fresh = await call(first.url, 'POST', '/v2/keep/blobs/uploads/');
      await first.registry.close();

      // What a killed server leaves: an old session, a half-made session, an ingest file.
      const old = join(root, 'uploads', String(s.headers['docker-upload-uuid']));
      const past = new Date(Date.now() - 2 * 24 * 3600 * 1000);
      await utimes(join(old, 'data'), past, past);
      await mkdir(join(root, 'uploads', '11111111-2222-3333-4444-555555555555'));
      await writeFile(join(root, 'ingest', 'deadbeef'), 'half a blob');

      const second = await startTestRegistry({ root });
      try {
        assert.deepEqual(second.registry.startup, { sweptUploads: 2, sweptIngest: 1, unsupportedUsers: [] });
        const g = await call(second.url, 'GET', '/v2/keep/manifests/v1');
        assert.equal(g.status, 200);
        assert.deepEqual(g.body, manifest.data);
        assert.equal((await call(second.url, 'GET', String(s.headers.location))).status, 404);
        assert.equal((await call(second.url, 'GET', String(fresh.headers.location))).status, 204);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }
  });

  test('an upload resumes after a restart; finishing verifies the digest by reading the data again', async () => {
    const first = await startTestRegistry();
    const root = first.root;
    try {
      const data = Buffer.alloc(300 * 1024, 'r');
      const good = await call(first.url, 'POST', '/v2/resume/blobs/uploads/');
      const bad = await call(first.url, 'POST', '/v2/resume/blobs/uploads/');
      for (const s of [good, bad]) {
        const p = await call(first.url, 'PATCH', String(s.headers.location), { body: data.subarray(0, 100 * 1024), headers: { 'Content-Range': `0-${100 * 1024 - 1}` } });
        assert.equal(p.status, 202);
      }
      await first.registry.close();

      const second = await startTestRegistry({ root });
      try {
        const digest = sha256(data);
        for (const s of [good, bad]) {
          const st = await call(second.url, 'GET', String(s.headers.location));
          assert.equal(st.headers.range, `0-${100 * 1024 - 1}`);
          const p = await call(second.url, 'PATCH', String(s.headers.location), { body: data.subarray(100 * 1024, 200 * 1024), headers: { 'Content-Range': `${100 * 1024}-${200 * 1024 - 1}` } });
          assert.equal(p.status, 202);
        }
        const wrong = sha256(Buffer.alloc(300 * 1024, 'w'));
        const refused = await call(second.url, 'PUT', `${bad.headers.location}?digest=${wrong}`, { body: data.subarray(200 * 1024) });
        assert.equal(refused.status, 400);
        assert.equal(refused.code, 'DIGEST_INVALID');
        assert.equal((await call(second.url, 'GET', `/v2/resume/blobs/${wrong}`)).status, 404);
        assert.equal((await call(second.url, 'GET', `/v2/resume/blobs/${digest}`)).status, 404);
        assert.equal((await call(second.url, 'GET', String(bad.headers.location))).status, 404);

        const done = await call(second.url, 'PUT', `${good.headers.location}?digest=${digest}`, { body: data.subarray(200 * 1024) });
        assert.equal(done.status, 201);
        assert.deepEqual((await call(second.url, 'GET', `/v2/resume/blobs/${digest}`)).body, data);
        assert.deepEqual(await readdir(join(root, 'uploads')), []);
        assert.deepEqual(await readdir(join(root, 'ingest')), []);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }
  });
});
