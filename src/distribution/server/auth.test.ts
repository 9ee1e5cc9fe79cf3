// htpasswd Basic auth (entries made by Debian's `htpasswd -B`, see testdata/htpasswd) and HTTPS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { parseBasicAuth, parseHtpasswd } from './htpasswd.ts';
import { blobOf, call, startTestRegistry, type TestRegistry } from './testing.ts';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'htpasswd');

describe('htpasswd parsing', () => {
  test('bcrypt entries are users; other formats are reported, comments skipped', async () => {
    const file = parseHtpasswd(await readFile(FIXTURE, 'utf8'));
    assert.deepEqual([...file.users.keys()].sort(), ['alice', 'bob', 'carol']);
    assert.deepEqual(file.unsupported, ['dave', 'erin']);
  });

  test('Basic credentials: the password may contain colons', () => {
    const h = `Basic ${Buffer.from('u:p:a:ss').toString('base64')}`;
    assert.deepEqual(parseBasicAuth(h), { user: 'u', password: 'p:a:ss' });
    assert.equal(parseBasicAuth('Bearer abc'), undefined);
    assert.equal(parseBasicAuth(undefined), undefined);
  });
});

describe('registry with htpasswd', () => {
  let reg: TestRegistry;
  let dir: string;
  let htpasswd: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-auth-'));
    htpasswd = join(dir, 'htpasswd');
    await copyFile(FIXTURE, htpasswd);
    reg = await startTestRegistry({ htpasswd });
  });
  after(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('start-up reports the entries it cannot check', () => {
    assert.deepEqual(reg.registry.startup.unsupportedUsers, ['dave', 'erin']);
  });

  test('no credentials: 401 UNAUTHORIZED with a Basic challenge, on every endpoint', async () => {
    for (const [method, path] of [
      ['GET', '/v2/'],
      ['GET', '/v2/x/tags/list'],
      ['POST', '/v2/x/blobs/uploads/'],
      ['GET', '/v2/_catalog'],
      ['HEAD', '/v2/x/manifests/latest'],
    ] as const) {
      const r = await call(reg.url, method, path);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="berth-registry"', path);
      if (method !== 'HEAD') assert.equal(r.code, 'UNAUTHORIZED', path);
    }
  });

  test('right passwords pass ($2y$ from htpasswd -B, cost 5 and 10; $2b$); wrong ones and other formats do not', async () => {
    const ok = [
      { user: 'alice', password: 'wonderland' },
      { user: 'bob', password: 'builder' },
      { user: 'carol', password: 'password with spaces and ünïcode' },
    ];
    for (const auth of ok) {
      assert.equal((await call(reg.url, 'GET', '/v2/', { auth })).status, 200, auth.user);
      // Remembered after the first check, and still right.
      assert.equal((await call(reg.url, 'GET', '/v2/', { auth })).status, 200, auth.user);
    }
    const bad = [
      { user: 'alice', password: 'Wonderland' },
      { user: 'alice', password: '' },
      { user: 'mallory', password: 'wonderland' },
      { user: 'dave', password: 'sha1' },
      { user: 'erin', password: 'md5' },
    ];
    for (const auth of bad) {
      const r = await call(reg.url, 'GET', '/v2/', { auth });
      assert.equal(r.status, 401, `${auth.user}:${auth.password}`);
    }
    assert.equal((await call(reg.url, 'GET', '/v2/', { headers: { Authorization: 'Basic !!!' } })).status, 401);
  });

  test('an authenticated push and pull work, and the log names the user', async () => {
    const auth = { user: 'alice', password: 'wonderland' };
    const b = blobOf('secret blob');
    const r = await call(reg.url, 'POST', `/v2/private/blobs/uploads/?digest=${b.digest}`, { body: b.data, auth });
    assert.equal(r.status, 201);
    assert.deepEqual((await call(reg.url, 'GET', `/v2/private/blobs/${b.digest}`, { auth })).body, b.data);
    assert.equal((await call(reg.url, 'GET', `/v2/private/blobs/${b.digest}`)).status, 401);
    assert.ok(reg.log.some((e) => e.user === 'alice' && e.method === 'POST' && e.status === 201));
  });

  test('a user added to the file works without a restart; a removed one stops working', async () => {
    const auth = { user: 'frank', password: 'new-user' };
    assert.equal((await call(reg.url, 'GET', '/v2/', { auth })).status, 401);
    await appendFile(htpasswd, `frank:${bcrypt.hashSync('new-user', 4)}\n`);
    assert.equal((await call(reg.url, 'GET', '/v2/', { auth })).status, 200);
    await appendFile(htpasswd, ''); // no change: still fine
    const text = (await readFile(htpasswd, 'utf8')).replace(/^frank:.*\n/m, '');
    await rm(htpasswd);
    await appendFile(htpasswd, text);
    assert.equal((await call(reg.url, 'GET', '/v2/', { auth })).status, 401);
  });
});

describe('registry over TLS', () => {
  test('serves HTTPS with the given certificate and key', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
      stdio: 'ignore',
    });
    const reg = await startTestRegistry({ tls: { cert: await readFile(cert), key: await readFile(key) } });
    try {
      assert.match(reg.url, /^https:/);
      const r = await call(reg.url, 'GET', '/v2/');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json(), {});
      await assert.rejects(call(reg.url.replace('https:', 'http:'), 'GET', '/v2/').then((x) => (x.status === 200 ? x : Promise.reject(new Error(String(x.status))))));
    } finally {
      await reg.close();
    }
  });
});
