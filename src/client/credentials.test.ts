// config.json credentials as the docker CLI keeps them, and credential helpers through a fake
// `docker-credential-test` program on PATH that keeps its secrets in a JSON file.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeAuthConfig, eraseCredentials, getCredentials, INDEX_SERVER, normalizeServer, registryAuthHeader, storeCredentials } from './credentials.ts';

let dir: string;
let env: NodeJS.ProcessEnv;
const config = (): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'docker', 'config.json'), 'utf8')) as Record<string, unknown>;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-creds-'));
  const bin = join(dir, 'bin');
  const store = join(dir, 'helper-store.json');
  // A credential helper per the docker-credential-helpers protocol, backed by a JSON file.
  writeFileSync(join(dir, 'helper.js'), `
const fs = require('fs');
const file = ${JSON.stringify(store)};
const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
let input = '';
process.stdin.on('data', (b) => input += b);
process.stdin.on('end', () => {
  const action = process.argv[2];
  fs.appendFileSync(file + '.log', action + ' ' + input.trim() + '\\n');
  if (action === 'get') {
    const e = db[input.trim()];
    if (!e) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: e.Username, Secret: e.Secret }));
  } else if (action === 'store') {
    const c = JSON.parse(input); db[c.ServerURL] = c; fs.writeFileSync(file, JSON.stringify(db));
  } else if (action === 'erase') {
    if (!db[input.trim()]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    delete db[input.trim()]; fs.writeFileSync(file, JSON.stringify(db));
  } else { process.exit(2); }
});
`);
  mkdirSync(bin);
  writeFileSync(join(bin, 'docker-credential-test'), `#!/bin/sh\nexec ${process.execPath} ${join(dir, 'helper.js')} "$@"\n`);
  chmodSync(join(bin, 'docker-credential-test'), 0o755);
  env = { ...process.env, DOCKER_CONFIG: join(dir, 'docker'), PATH: `${bin}:${process.env.PATH ?? ''}` };
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config.json auths', () => {
  test('store, get (with the docker.io key quirk), erase', async () => {
    await storeCredentials('localhost:5000', { username: 'u', password: 'p' }, { env });
    assert.deepEqual(config(), { auths: { 'localhost:5000': { auth: 'dTpw' } } });
    assert.deepEqual(await getCredentials('localhost:5000', { env }), { serveraddress: 'localhost:5000', username: 'u', password: 'p' });
    // Docker Hub is kept under https://index.docker.io/v1/, whichever name is used
    await storeCredentials('docker.io', { username: 'hub', password: 'pw:with:colons' }, { env });
    assert.ok(INDEX_SERVER in (config().auths as object));
    assert.deepEqual(await getCredentials('docker.io', { env }), { serveraddress: INDEX_SERVER, username: 'hub', password: 'pw:with:colons' });
    assert.equal(await getCredentials('other:5000', { env }), undefined);
    assert.equal(await eraseCredentials('https://index.docker.io/v1/', { env }), true);
    assert.equal(await getCredentials('docker.io', { env }), undefined);
    assert.equal(await eraseCredentials('docker.io', { env }), false);
  });

  test('entries written by others: a URL key, an identity token', async () => {
    writeFileSync(join(env.DOCKER_CONFIG ?? '', 'config.json'), JSON.stringify({ auths: { 'http://reg.example:5000/v2/': { auth: Buffer.from('a:b').toString('base64') }, 'tok.example': { auth: Buffer.from('me:').toString('base64'), identitytoken: 'refresh-1' } }, other: 1 }));
    assert.deepEqual(await getCredentials('reg.example:5000', { env }), { serveraddress: 'reg.example:5000', username: 'a', password: 'b' });
    assert.deepEqual(await getCredentials('tok.example', { env }), { serveraddress: 'tok.example', username: 'me', identitytoken: 'refresh-1' });
    await storeCredentials('tok.example', { username: 'me', identitytoken: 'refresh-2' }, { env });
    const c = config();
    assert.equal(c.other, 1, 'unknown keys are kept');
    assert.deepEqual((c.auths as Record<string, unknown>)['tok.example'], { auth: Buffer.from('me:').toString('base64'), identitytoken: 'refresh-2' });
  });

  test('X-Registry-Auth is base64url JSON with padding; anonymous is e30=', async () => {
    assert.equal(encodeAuthConfig(undefined), 'e30=');
    const h = encodeAuthConfig({ username: 'u', password: 'p?>>', serveraddress: 'localhost:5000' });
    assert.doesNotMatch(h, /[+/]/);
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { username: 'u', password: 'p?>>', serveraddress: 'localhost:5000' });
    assert.equal(await registryAuthHeader('nobody:1', { env }), 'e30=');
    assert.equal(normalizeServer('https://registry-1.docker.io'), INDEX_SERVER);
  });
});

describe('credential helpers', () => {
  test('credsStore: store and get go through docker-credential-test; auths keeps an empty entry', async () => {
    writeFileSync(join(env.DOCKER_CONFIG ?? '', 'config.json'), JSON.stringify({ credsStore: 'test' }));
    await storeCredentials('localhost:5000', { username: 'u', password: 'p' }, { env });
    assert.deepEqual(config(), { credsStore: 'test', auths: { 'localhost:5000': {} } });
    assert.deepEqual(await getCredentials('localhost:5000', { env }), { username: 'u', password: 'p', serveraddress: 'localhost:5000' });
    assert.equal(await getCredentials('missing:1', { env }), undefined, 'not found in the helper is no credentials');
    // an identity token is stored with Username <token>
    await storeCredentials('tok:1', { username: 'u', identitytoken: 'refresh-9' }, { env });
    assert.deepEqual(await getCredentials('tok:1', { env }), { identitytoken: 'refresh-9', serveraddress: 'tok:1' });
    assert.equal(await eraseCredentials('localhost:5000', { env }), true);
    assert.equal(await getCredentials('localhost:5000', { env }), undefined);
    assert.deepEqual(config().auths, { 'tok:1': {} });
    const log = readFileSync(join(dir, 'helper-store.json.log'), 'utf8');
    assert.match(log, /^store \{"ServerURL":"localhost:5000","Username":"u","Secret":"p"\}$/m);
  });

  test('credHelpers for one registry win over auths; a missing helper program is an error', async () => {
    writeFileSync(
      join(env.DOCKER_CONFIG ?? '', 'config.json'),
      JSON.stringify({ auths: { 'helped:1': { auth: Buffer.from('x:y').toString('base64') }, 'plain:1': { auth: Buffer.from('x:y').toString('base64') } }, credHelpers: { 'helped:1': 'test', 'broken:1': 'absent' } }),
    );
    await storeCredentials('helped:1', { username: 'h', password: 'hp' }, { env });
    assert.deepEqual(await getCredentials('helped:1', { env }), { username: 'h', password: 'hp', serveraddress: 'helped:1' });
    assert.deepEqual(await getCredentials('plain:1', { env }), { username: 'x', password: 'y', serveraddress: 'plain:1' });
    await assert.rejects(getCredentials('broken:1', { env }), /docker-credential-absent/);
    assert.equal(await registryAuthHeader('broken:1', { env }), 'e30=');
  });
});
