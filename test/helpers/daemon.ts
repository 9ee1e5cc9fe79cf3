// A private berthd for a test file: its own data root, run root and socket, so the suite can
// run beside a user's daemon. stop() removes every container and checks nothing is left.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
export const BERTH = join(REPO, 'dist/berth.mjs');
export const BERTHD = join(REPO, 'dist/berthd.mjs');
export const DOCKER = '/usr/local/bin/docker';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let tarball: string | undefined;
/** The busybox root filesystem tarball (made once per process). */
export function busyboxTarball(): string {
  if (tarball && existsSync(tarball)) return tarball;
  const dir = mkdtempSync('/tmp/berth-bb-');
  tarball = join(dir, 'busybox.tar');
  const r = spawnSync('bash', [join(REPO, 'scripts/busybox-rootfs.sh'), tarball], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`busybox-rootfs.sh failed: ${r.stderr}`);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return tarball;
}

function result(r: SpawnSyncReturns<string>): RunResult {
  return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export class TestDaemon {
  readonly root: string;
  readonly run: string;
  readonly socket: string;
  private proc?: ChildProcess;
  log = '';

  /** `dataRoot`: somewhere else than `<base>/data` (a filesystem the test mounted itself). */
  constructor(o: { readonly dataRoot?: string } = {}) {
    // short paths: conmon's attach socket path must stay under 108 bytes
    const base = mkdtempSync('/tmp/bt-');
    this.root = o.dataRoot ?? join(base, 'data');
    this.run = join(base, 'run');
    this.socket = join(this.run, 'berth.sock');
  }

  get base(): string {
    return resolve(this.run, '..');
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, BERTH_HOST: `unix://${this.socket}`, DOCKER_HOST: `unix://${this.socket}`, BERTH_ROOT: this.root, BERTH_RUN: this.run };
  }

  async start(): Promise<void> {
    this.proc = spawn(process.execPath, [BERTHD, '--data-root', this.root, '--run-root', this.run], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (b: Buffer) => (this.log += b.toString()));
    this.proc.stderr?.on('data', (b: Buffer) => (this.log += b.toString()));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (existsSync(this.socket)) {
        const r = this.berth(['version', '--format', '{{.Server.Version}}']);
        if (r.code === 0) return;
      }
      if (this.proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`berthd did not start:\n${this.log}`);
  }

  /** kill -9 berthd (containers keep running under conmon). */
  async crash(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  berth(args: string[], opts: { input?: string | Buffer; timeout?: number } = {}): RunResult {
    return result(spawnSync(process.execPath, [BERTH, ...args], { env: this.env, input: opts.input ?? '', encoding: 'utf8', timeout: opts.timeout ?? 60000 }));
  }

  docker(args: string[], opts: { input?: string | Buffer; timeout?: number } = {}): RunResult {
    return result(spawnSync(DOCKER, ['-H', `unix://${this.socket}`, ...args], { env: { ...this.env, DOCKER_CONFIG: join(this.base, 'docker-config') }, input: opts.input ?? '', encoding: 'utf8', timeout: opts.timeout ?? 60000 }));
  }

  /** Async variant for concurrent runs. */
  berthAsync(args: string[], opts: { input?: string } = {}): Promise<RunResult> {
    return new Promise((res) => {
      const p = spawn(process.execPath, [BERTH, ...args], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      p.stdin.end(opts.input ?? '');
      p.on('close', (code) => res({ code: code ?? 1, stdout, stderr }));
    });
  }

  /** Import the busybox image as busybox:latest. */
  importBusybox(ref = 'busybox:latest'): void {
    const r = this.berth(['import', '--change', 'CMD ["sh"]', busyboxTarball(), ref]);
    if (r.code !== 0) throw new Error(`import failed: ${r.stderr}`);
  }

  /** Remove all containers, stop berthd, and check that nothing is left behind. */
  async stop(): Promise<void> {
    const ids = this.berth(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
    if (ids.length) this.berth(['rm', '-f', ...ids]);
    const p = this.proc;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    const leftovers = leftoverMounts(this.base);
    for (const m of leftovers.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(this.base, { recursive: true, force: true });
    if (leftovers.length) throw new Error(`mounts left behind: ${leftovers.join(', ')}`);
  }
}

export function leftoverMounts(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(prefix));
}

export async function withDaemon(): Promise<TestDaemon> {
  const d = new TestDaemon();
  await d.start();
  d.importBusybox();
  return d;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until fn() returns truthy (or time out). */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The stdout of a command that must have succeeded (the assertion shows both streams). */
export function ok(r: RunResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export type TreeFiles = Record<string, string | Buffer | { content: string | Buffer; mode: number }>;

/** Create `dir` with these files (path -> content, or content and mode); returns `dir`. */
export function writeTree(dir: string, files: TreeFiles): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, v] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof v === 'string' || Buffer.isBuffer(v)) writeFileSync(p, v);
    else {
      writeFileSync(p, v.content);
      chmodSync(p, v.mode);
    }
  }
  return dir;
}
