// Helpers for driving the real docker CLI (and tmux for terminals) against a test berthd.
// Not a test file itself: the *.test.ts files in this directory import it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { DOCKER, type RunResult, type TestDaemon, until } from '../helpers/daemon.ts';

export interface DockerResult extends RunResult {
  /** true when the CLI did not finish within the timeout and was killed */
  readonly timedOut: boolean;
}

function dockerEnv(d: TestDaemon): NodeJS.ProcessEnv {
  return { ...d.env, DOCKER_CONFIG: join(d.base, 'docker-config') };
}

/**
 * Run the docker CLI to completion. Unlike TestDaemon.docker() a hung CLI is killed with SIGKILL
 * (the CLI forwards SIGTERM to the container instead of exiting), so a hang fails the test
 * instead of hanging the suite.
 */
export function docker(d: TestDaemon, args: string[], opts: { input?: string | Buffer; timeout?: number } = {}): DockerResult {
  const r = spawnSync(DOCKER, ['-H', `unix://${d.socket}`, ...args], {
    env: dockerEnv(d),
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeout ?? 30000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? '', stderr: r.stderr ?? '', timedOut };
}

/** Describe a result for assertion messages. */
export function show(r: DockerResult | RunResult): string {
  const t = 'timedOut' in r && r.timedOut ? ' (TIMED OUT, killed)' : '';
  return `exit ${r.code}${t}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** Assert exit 0 and return stdout. */
export function ok(r: DockerResult | RunResult): string {
  assert.equal(r.code, 0, show(r));
  if ('timedOut' in r) assert.equal(r.timedOut, false, show(r));
  return r.stdout;
}

/** A docker CLI process running in the background. */
export class BgDocker {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  readonly done: Promise<DockerResult>;

  constructor(d: TestDaemon, args: string[], opts: { stdin?: 'pipe' | 'ignore' } = {}) {
    this.proc = spawn(DOCKER, ['-H', `unix://${d.socket}`, ...args], { env: dockerEnv(d), stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    this.proc.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.done = new Promise((res) => {
      this.proc.on('close', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : 1);
        res({ code: this.exitCode, stdout: this.stdout, stderr: this.stderr, timedOut: false });
      });
    });
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  write(s: string): void {
    this.proc.stdin?.write(s);
  }

  endInput(): void {
    this.proc.stdin?.end();
  }

  /** Wait for the process to finish; SIGKILL it (and report timedOut) after timeoutMs. */
  async wait(timeoutMs = 20000): Promise<DockerResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)));
    const r = await Promise.race([this.done, timeout]);
    clearTimeout(timer);
    if (r !== 'timeout') return r;
    this.kill();
    const killed = await this.done;
    return { ...killed, timedOut: true };
  }

  kill(): void {
    if (this.running) this.proc.kill('SIGKILL');
  }
}

/** tmux on a private server socket; panes stay after their command exits so the exit status can be read. */
export class Tmux {
  private readonly sock: string;
  private readonly dir: string;
  private readonly conf: string;

  constructor(private readonly d: TestDaemon) {
    this.dir = mkdtempSync('/tmp/bt-tmux-');
    this.sock = join(this.dir, 'sock');
    this.conf = join(this.dir, 'tmux.conf');
    writeFileSync(this.conf, 'set -g remain-on-exit on\nset -g exit-empty off\nset -g history-limit 5000\nset -g status off\n');
  }

  private tmux(args: string[]): RunResult {
    const r = spawnSync('tmux', ['-S', this.sock, '-f', this.conf, ...args], { encoding: 'utf8', timeout: 10000 });
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Start `docker ARGS...` in a new detached session of the given size. */
  start(session: string, dockerArgs: string[], size = { x: 100, y: 30 }): void {
    const env = dockerEnv(this.d);
    const rc = this.rcFile(session);
    rmSync(rc, { force: true });
    // the exit status goes to a file: tmux's #{pane_dead_status} is sometimes recorded late
    const cmd = [`DOCKER_CONFIG=${shq(env.DOCKER_CONFIG ?? '')}`, 'TERM=xterm', DOCKER, '-H', shq(`unix://${this.d.socket}`), ...dockerArgs.map(shq)].join(' ') + `; echo $? > ${shq(rc)}`;
    const args = ['new-session', '-d', '-s', session, '-x', String(size.x), '-y', String(size.y), cmd];
    let r = this.tmux(args);
    // a server that has just lost its last session may still be exiting: try once more
    if (r.code !== 0 && /server exited/.test(r.stderr)) r = this.tmux(args);
    assert.equal(r.code, 0, `tmux new-session: ${r.stderr}`);
  }

  send(session: string, ...keys: string[]): void {
    const r = this.tmux(['send-keys', '-t', session, ...keys]);
    assert.equal(r.code, 0, `tmux send-keys: ${r.stderr}`);
  }

  /** Type a line of text literally, then Enter. */
  line(session: string, text: string): void {
    const r = this.tmux(['send-keys', '-t', session, '-l', text]);
    assert.equal(r.code, 0, `tmux send-keys: ${r.stderr}`);
    this.send(session, 'Enter');
  }

  capture(session: string): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-', '-t', session]).stdout;
  }

  resize(session: string, x: number, y: number): void {
    const r = this.tmux(['resize-window', '-t', session, '-x', String(x), '-y', String(y)]);
    assert.equal(r.code, 0, `tmux resize-window: ${r.stderr}`);
  }

  private rcFile(session: string): string {
    return join(this.dir, `${session}.rc`);
  }

  /** undefined while the command runs; its exit status once it has exited. */
  exitStatus(session: string): number | undefined {
    let txt: string;
    try {
      txt = readFileSync(this.rcFile(session), 'utf8');
    } catch {
      return undefined;
    }
    return /^\d+\n$/.test(txt) ? Number(txt) : undefined;
  }

  async waitFor(session: string, re: RegExp, what: string, timeoutMs = 15000): Promise<string> {
    try {
      return await until(() => {
        const s = this.capture(session);
        return re.test(s) ? s : '';
      }, what, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}; screen:\n${this.capture(session)}`);
    }
  }

  async waitExit(session: string, timeoutMs = 15000): Promise<number> {
    try {
      const r = await until((): { st: number } | undefined => {
        const st = this.exitStatus(session);
        return st === undefined ? undefined : { st };
      }, `${session} to exit`, timeoutMs);
      return r?.st ?? -1;
    } catch (e) {
      throw new Error(`${(e as Error).message}; screen:\n${this.capture(session)}`);
    }
  }

  /**
   * End a session. The docker CLI forwards SIGHUP to the container instead of exiting, so the
   * processes in the pane (the CLI we started) are killed with SIGKILL first.
   */
  kill(session: string): void {
    const pid = Number(this.tmux(['display-message', '-p', '-t', session, '#{pane_pid}']).stdout.trim());
    if (pid > 0) killTree(pid);
    this.tmux(['kill-session', '-t', session]);
  }

  close(): void {
    for (const l of this.tmux(['list-panes', '-a', '-F', '#{pane_pid}']).stdout.split('\n')) {
      const pid = Number(l.trim());
      if (pid > 0) killTree(pid);
    }
    this.tmux(['kill-server']);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGKILL a process we started and its descendants (children first). */
function killTree(pid: number): void {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const c of children) killTree(c);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Stop the test daemon. A berthd whose libuv threadpool is stuck (e.g. in blocking FIFO opens)
 * never exits on SIGTERM, and TestDaemon.stop() would wait for ever: after graceMs it is killed.
 * With `crashFirst` it is killed at once (nothing is asked of a daemon known to be wedged).
 */
export async function stopDaemon(d: TestDaemon | undefined, opts: { crashFirst?: boolean; graceMs?: number } = {}): Promise<void> {
  if (!d) return;
  if (opts.crashFirst) await d.crash();
  const stopping = d.stop();
  const timer = setTimeout(() => void d.crash(), opts.graceMs ?? 30000);
  try {
    await stopping;
  } finally {
    clearTimeout(timer);
  }
}

function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Remove containers by name/ID, ignoring those already gone (test cleanup). */
export function cleanup(d: TestDaemon, ...names: string[]): void {
  if (names.length) docker(d, ['rm', '-f', ...names]);
}
