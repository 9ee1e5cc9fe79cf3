import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRegistryConfig } from './build.ts';

const encode = (o: unknown, url = true): string => Buffer.from(JSON.stringify(o)).toString(url ? 'base64url' : 'base64');

test('X-Registry-Config: a base64url JSON map of AuthConfigs, as the docker CLI sends it', () => {
  const header = encode({
    'localhost:5000': { username: 'alice', password: 'wonderland', serveraddress: 'localhost:5000' },
    'https://index.docker.io/v1/': { auth: Buffer.from('bob:secret').toString('base64') },
    'reg.example': { identitytoken: 'refresh' },
    'empty.example': {},
  });
  assert.deepEqual(decodeRegistryConfig(header), {
    'localhost:5000': { username: 'alice', password: 'wonderland' },
    'https://index.docker.io/v1/': { username: 'bob', password: 'secret' },
    'reg.example': { identityToken: 'refresh' },
  });
  // standard base64 with padding too; what does not decode is no credentials (as Docker ignores it)
  assert.deepEqual(decodeRegistryConfig(encode({ h: { username: 'u', password: 'p?>' } }, false)), { h: { username: 'u', password: 'p?>' } });
  assert.deepEqual(decodeRegistryConfig('e30='), {});
  assert.deepEqual(decodeRegistryConfig('%%%'), {});
  assert.deepEqual(decodeRegistryConfig(encode(['not', 'a', 'map'])), {});
  assert.deepEqual(decodeRegistryConfig(undefined), {});
});
