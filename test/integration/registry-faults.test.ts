// A registry killed in the middle of an upload: berth's registry runs as its own process
// (`berth registry serve`) and gets SIGKILL while a 24 MiB layer is streaming into it. The push
// fails with a clear error naming the registry, berth keeps no spool or ingest file, the
// registry shows no half blob, and once the registry is started again on the same directory a
// rerun of the push succeeds and the image pulls back byte for byte.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BERTH, busyboxTarball, sleep, TestDaemon, until } from '../helpers/daemon.ts';

const MiB = 1024 * 1024;
let d: TestDaemon;
let work: string;
let port: number;
let server: ChildProcess | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

async function startRegistry(): Promise<void> {
  server = spawn(process.execPath, [BERTH, 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(work, 'registry')], { stdio: 'ignore' });
  await until(
    () =>
      new Promise<boolean>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
      }),
    'the registry to listen',
  );
}

async function killRegistry(): Promise<void> {
  const p = server;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

/** Files under `dir`, recursively (relative paths). */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

describe('a registry killed mid-upload', () => {
  before(async () => {
    work = mkdtempSync('/tmp/bt-regkill-');
    port = await freePort();
    d = new TestDaemon();
    await d.start();
    const fs = join(work, 'fs');
    mkdirSync(fs);
    execFileSync('tar', ['-xf', busyboxTarball(), '-C', fs]);
    writeFileSync(join(fs, 'big'), randomBytes(24 * MiB));
    execFileSync('tar', ['-cf', join(work, 'big.tar'), '-C', fs, '.']);
    rmSync(fs, { recursive: true, force: true });
    const r = d.berth(['import', '--change', 'CMD ["sh"]', join(work, 'big.tar'), `127.0.0.1:${port}/kill/big:1`], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    await startRegistry();
  });

  after(async () => {
    await killRegistry();
    await d?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('the push fails clearly and leaves nothing; after a restart of the registry a rerun succeeds', async () => {
    const ref = `127.0.0.1:${port}/kill/big:1`;
    const uploads = join(work, 'registry', 'uploads');
    const pushing = d.berthAsync(['push', ref]);
    // Kill the registry once the layer's bytes are arriving.
    await until(() => files(uploads).some((f) => f.endsWith('data') && statSync(join(uploads, f)).size > 0), 'upload bytes', 30_000);
    await killRegistry();
    const r = await pushing;
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`), r.stderr);
    assert.match(r.stderr, /connection refused|socket hang up|ECONNRESET|EOF/i, r.stderr);
    assert.deepEqual(files(join(d.root, 'distribution', 'spool')), []);
    assert.deepEqual(files(join(d.root, 'content', 'ingest')), []);
    // No blob of the half layer in the registry (only complete blobs ever get a name).
    const before = files(join(work, 'registry', 'blobs'));
    assert.ok(before.every((f) => statSync(join(work, 'registry', 'blobs', f)).size < 24 * MiB), before.join(', '));

    await startRegistry();
    await sleep(50);
    const again = await d.berthAsync(['push', ref]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(d.berth(['rmi', ref]).code, 0);
    const pulled = await d.berthAsync(['pull', ref]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const run = d.berth(['run', '--rm', ref, 'sh', '-c', 'wc -c < /big']);
    assert.equal(run.stdout.trim(), String(24 * MiB), run.stderr);
    assert.equal(d.berth(['rmi', ref]).code, 0);
  });
});
