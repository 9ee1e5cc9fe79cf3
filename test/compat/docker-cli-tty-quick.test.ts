// TTY processes that exit at once, through the real docker CLI in tmux (a terminal, so the CLI
// sends ConsoleSize and resizes). Its own daemon: when berthd hangs here it can stay wedged
// (see the note in after()).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, withDaemon } from '../helpers/daemon.ts';
import { Tmux, cleanup, docker, ok, stopDaemon } from './cli.ts';

let d: TestDaemon;
let tm: Tmux;
/** set when a CLI hung: the daemon is then likely stuck and is killed rather than asked to stop */
let wedged = false;
before(async () => {
  d = await withDaemon();
  tm = new Tmux(d);
});
after(async () => {
  tm?.close();
  try {
    await stopDaemon(d, { crashFirst: wedged });
  } catch (e) {
    // after a hang the container mounts cannot be released through the daemon: the harness
    // unmounts them itself; the failing test above already reports the bug
    if (!wedged) throw e;
    process.stderr.write(`docker-cli-tty-quick: after a hang: ${(e as Error).message}\n`);
  }
});

const dk = (args: string[], opts: { input?: string; timeout?: number } = {}) => docker(d, args, opts);
const state = (name: string): string => dk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name], { timeout: 10000 }).stdout.trim() || 'unknown';

describe('TTY processes that exit at once', () => {
  test('docker exec -t of a command that exits immediately returns its exit code (5 tries)', async (t) => {
    t.after(() => {
      if (!wedged) cleanup(d, 'tty-exq');
    });
    ok(dk(['run', '-d', '--name', 'tty-exq', 'busybox', 'sh', '-c', 'while true; do sleep 0.1; done']));
    const results: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const s = `exec-quick-${i}`;
      tm.start(s, ['exec', '-t', 'tty-exq', 'sh', '-c', 'echo quick; exit 8']);
      const st = await tm.waitExit(s, 10000).catch(() => undefined);
      results.push(`${s}: ${st ?? 'CLI hung'}`);
      tm.kill(s);
      if (st === undefined) {
        wedged = true;
        break;
      }
    }
    assert.deepEqual(results, [1, 2, 3, 4, 5].map((i) => `exec-quick-${i}: 8`));
  });

  test('docker run -t of a command that exits immediately returns its exit code (5 tries)', async (t) => {
    const names: string[] = [];
    // after a hang the container's lock is held for ever (rm -f would hang): after() kills the daemon
    t.after(() => {
      if (!wedged) cleanup(d, ...names);
    });
    const results: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const n = `tty-quick-${i}`;
      names.push(n);
      tm.start(n, ['run', '-t', '--name', n, 'busybox', 'sh', '-c', 'echo quick; exit 9']);
      const st = await tm.waitExit(n, 10000).catch(() => undefined);
      results.push(`${n}: ${st ?? `CLI hung, container ${state(n)}`}`);
      tm.kill(n);
      if (st === undefined) {
        wedged = true;
        break;
      }
      assert.equal(state(n), 'exited 9');
    }
    assert.deepEqual(results, [1, 2, 3, 4, 5].map((i) => `tty-quick-${i}: 9`));
  });
});
