import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseChallenges, pickChallenge } from './challenge.ts';

test('a Bearer challenge as Docker Hub sends it', () => {
  const c = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"');
  assert.deepEqual(c, [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } },
  ]);
});

test('Basic, unquoted values, odd spacing and case', () => {
  assert.deepEqual(parseChallenges('Basic realm="basic-realm"'), [{ scheme: 'basic', params: { realm: 'basic-realm' } }]);
  assert.deepEqual(parseChallenges('BEARER Realm = "http://x/token" , Service=reg'), [{ scheme: 'bearer', params: { realm: 'http://x/token', service: 'reg' } }]);
});

test('several challenges in one header or several headers; escapes in quoted strings', () => {
  const c = parseChallenges(['Basic realm="a", Bearer realm="http://t/token",service="s"', 'Negotiate abc==']);
  assert.deepEqual(c.map((x) => x.scheme), ['basic', 'bearer', 'negotiate']);
  assert.equal(c[1]?.params.service, 's');
  assert.equal(parseChallenges('Bearer realm="a\\"b"')[0]?.params.realm, 'a"b');
});

test('Bearer is preferred to Basic; nothing we can answer gives undefined', () => {
  assert.equal(pickChallenge(parseChallenges('Basic realm="a", Bearer realm="http://t"'))?.scheme, 'bearer');
  assert.equal(pickChallenge(parseChallenges('Basic realm="a"'))?.scheme, 'basic');
  assert.equal(pickChallenge(parseChallenges('Negotiate')), undefined);
  assert.equal(pickChallenge(parseChallenges('Bearer service="no realm"')), undefined);
  assert.deepEqual(parseChallenges(undefined), []);
  assert.deepEqual(parseChallenges(''), []);
});
