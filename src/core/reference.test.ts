import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, familiarString, canonicalString } from './reference.ts';

test('normalises short names like Docker', () => {
  const r = parseReference('busybox');
  assert.equal(canonicalString(r), 'docker.io/library/busybox:latest');
  assert.equal(familiarString(r), 'busybox:latest');
  assert.equal(canonicalString(parseReference('user/app:1')), 'docker.io/user/app:1');
  assert.equal(familiarString(parseReference('index.docker.io/library/busybox')), 'busybox:latest');
  assert.equal(familiarString(parseReference('docker.io/library/busybox:1.36')), 'busybox:1.36');
});

test('keeps registries with ports and digests', () => {
  const r = parseReference('localhost:5000/team/app:1.0');
  assert.equal(r.domain, 'localhost:5000');
  assert.equal(r.path, 'team/app');
  assert.equal(r.tag, '1.0');
  const d = 'sha256:' + 'a'.repeat(64);
  const rd = parseReference(`myreg.io/x@${d}`);
  assert.equal(rd.digest, d);
  assert.equal(rd.tag, undefined);
});

test('rejects bad references', () => {
  assert.throws(() => parseReference('BusyBox'), /must be lowercase/);
  assert.throws(() => parseReference('a b'), /invalid reference format/);
  assert.throws(() => parseReference('x:'), /invalid reference format/);
  assert.throws(() => parseReference(''), /invalid reference format/);
  assert.throws(() => parseReference('busybox@sha256:abc'), /invalid reference format/);
});
