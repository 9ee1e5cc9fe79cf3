import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialsFor } from './build-backend.ts';

test('X-Registry-Config credentials are found as moby resolves them', () => {
  const alice = { username: 'alice', password: 'a' };
  const bob = { username: 'bob', password: 'b' };
  const hub = { identityToken: 'tok' };
  // the exact key first, then any server address with the same host name
  assert.deepEqual(credentialsFor({ 'reg.example:5000': alice, 'https://reg.example:5000/v2/': bob }, 'reg.example:5000'), alice);
  assert.deepEqual(credentialsFor({ 'https://reg.example:5000/v2/': bob }, 'reg.example:5000'), bob);
  assert.deepEqual(credentialsFor({ 'http://127.0.0.1:5000': bob }, '127.0.0.1:5000'), bob);
  assert.equal(credentialsFor({ 'reg.example:5000': alice }, 'reg.example'), undefined);
  // Docker Hub's only key is its index address
  assert.deepEqual(credentialsFor({ 'https://index.docker.io/v1/': hub, 'docker.io': alice }, 'docker.io'), hub);
  assert.equal(credentialsFor({ 'docker.io': alice }, 'docker.io'), undefined);
  // an empty entry is no login
  assert.equal(credentialsFor({ 'reg.example': { username: '', password: '' } }, 'reg.example'), undefined);
  assert.equal(credentialsFor({}, 'reg.example'), undefined);
});
