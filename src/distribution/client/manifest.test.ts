import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Digest } from '../../core/digest.ts';
import { isEngineError } from '../../core/errors.ts';
import { chooseManifest, MediaType, parseManifest, parsePlatform, type IndexManifest } from './manifest.ts';

const d = (s: string) => sha256Digest(s);

test('Docker schema2 and OCI manifests and indexes parse; the media type comes from the body or the header', () => {
  const docker = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: { mediaType: MediaType.dockerConfig, digest: d('c'), size: 1 }, layers: [{ mediaType: MediaType.dockerLayer, digest: d('l'), size: 2 }] })));
  assert.equal(docker.kind, 'image');
  assert.equal(docker.mediaType, MediaType.dockerManifest);
  const oci = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: d('c'), size: 1 }, layers: [] })), `${MediaType.ociManifest}; charset=utf-8`);
  assert.equal(oci.mediaType, MediaType.ociManifest);
  const index = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: d('a'), size: 3, platform: { os: 'linux', architecture: 'amd64' } }] })), MediaType.ociIndex);
  assert.equal(index.kind, 'index');
});

test('schema 1 is not implemented; broken manifests are invalid', () => {
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1,"name":"x"}')), (e: unknown) => isEngineError(e, 'not-implemented'));
  assert.throws(() => parseManifest(Buffer.from('nope')), (e: unknown) => isEngineError(e, 'invalid-parameter'));
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: 'md5:x', size: 1 }, layers: [] }))), (e: unknown) => isEngineError(e, 'invalid-parameter'));
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: d('c'), size: -1 }, layers: [] }))), (e: unknown) => isEngineError(e, 'invalid-parameter'));
});

test('platforms: parse, normalise, choose from an index', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/arm/7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.throws(() => parsePlatform('linux//x'));
  const entry = (arch: string, variant?: string, os = 'linux') => ({ mediaType: MediaType.ociManifest, digest: d(`${os}${arch}${variant ?? ''}`), size: 1, platform: { os, architecture: arch, ...(variant ? { variant } : {}) } });
  const index: IndexManifest = {
    kind: 'index',
    mediaType: MediaType.ociIndex,
    manifests: [entry('unknown', undefined, 'unknown'), entry('arm', 'v6'), entry('arm', 'v7'), entry('arm64', 'v8'), entry('amd64'), entry('amd64', undefined, 'windows')],
  };
  assert.equal(chooseManifest(index, parsePlatform('linux/amd64'))?.digest, d('linuxamd64'));
  assert.equal(chooseManifest(index, parsePlatform('linux/arm/v7'))?.digest, d('linuxarmv7'));
  assert.equal(chooseManifest(index, parsePlatform('linux/arm64'))?.digest, d('linuxarm64v8'));
  assert.equal(chooseManifest(index, parsePlatform('linux/s390x')), undefined);
});
