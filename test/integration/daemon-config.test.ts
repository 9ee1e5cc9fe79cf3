// berthd's options, as dockerd takes them: --help, --insecure-registry (repeatable) and a
// daemon.json (--config-file) with "insecure-registries", shown by GET /info's RegistryConfig
// as the docker CLI reads it; a bad configuration stops berthd with dockerd's words.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BERTHD, DOCKER, sleep } from '../helpers/daemon.ts';

const base = mkdtempSync('/tmp/bt-cfg-');
after(() => rmSync(base, { recursive: true, force: true }));

function berthd(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BERTHD, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Start berthd with `args` on private roots, run `fn` against its socket, stop it. */
async function withBerthd(name: string, args: string[], fn: (socket: string) => Promise<void> | void): Promise<void> {
  const data = join(base, name, 'data');
  const run = join(base, name, 'run');
  const socket = join(run, 'berth.sock');
  const p = spawn(process.execPath, [BERTHD, '--data-root', data, '--exec-root', run, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  p.stderr.on('data', (b: Buffer) => (log += b.toString()));
  try {
    for (let i = 0; i < 400 && !existsSync(socket); i++) await sleep(25);
    assert.ok(existsSync(socket), log);
    await fn(socket);
  } finally {
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
}

describe('berthd options', () => {
  test('--help prints the options and starts nothing', () => {
    const r = berthd(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--insecure-registry HOST/);
    assert.match(r.stdout, /--config-file PATH/);
  });

  test('an unknown flag is refused with the usage', () => {
    const r = berthd(['--no-such-flag']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /berthd: Unknown option '--no-such-flag'/);
  });

  test('--insecure-registry shows in docker info', async () => {
    await withBerthd('flags', ['--insecure-registry', 'registry.lan:5000', '--insecure-registry', '10.1.0.0/16'], (socket) => {
      const r = spawnSync(DOCKER, ['-H', `unix://${socket}`, 'info', '--format', '{{json .RegistryConfig}}'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const rc = JSON.parse(r.stdout) as { InsecureRegistryCIDRs: string[]; IndexConfigs: Record<string, { Secure: boolean }> };
      assert.deepEqual(rc.InsecureRegistryCIDRs, ['127.0.0.0/8', '10.1.0.0/16']);
      assert.equal(rc.IndexConfigs['registry.lan:5000']?.Secure, false);
      assert.equal(rc.IndexConfigs['docker.io']?.Secure, true);
    });
  });

  test('daemon.json: insecure-registries; unknown directives and a directive given twice are refused', async () => {
    const cfg = join(base, 'daemon.json');
    writeFileSync(cfg, JSON.stringify({ 'insecure-registries': ['mirror.lan'] }));
    await withBerthd('file', ['--config-file', cfg], (socket) => {
      const r = spawnSync(DOCKER, ['-H', `unix://${socket}`, 'info', '--format', '{{json .RegistryConfig.IndexConfigs}}'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as Record<string, { Secure: boolean }>)['mirror.lan']?.Secure, false);
    });
    let r = berthd(['--config-file', cfg, '--insecure-registry', 'x.lan']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /specified both as a flag and in the configuration file: insecure-registries/);
    writeFileSync(cfg, JSON.stringify({ 'insecure-registries': ['a'], 'log-driver': 'json-file' }));
    r = berthd(['--config-file', cfg]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the following directives don't match any configuration option: log-driver/);
    writeFileSync(cfg, '{ not json');
    r = berthd(['--config-file', cfg]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unable to configure the daemon with file/);
    r = berthd(['--config-file', join(base, 'missing.json')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unable to read the configuration file/);
  });
});
