// Terminal scenarios through the real docker CLI in tmux: `run -it`, detach keys, `attach` to a
// TTY container, `exec -it`. The tmux panes stay after the CLI exits so its exit status is read.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, withDaemon, sleep, until } from '../helpers/daemon.ts';
import { Tmux, cleanup, docker, ok, stopDaemon } from './cli.ts';

let d: TestDaemon;
let tm: Tmux;
before(async () => {
  d = await withDaemon();
  tm = new Tmux(d);
});
after(async () => {
  tm?.close();
  await stopDaemon(d);
});

const dk = (args: string[], opts: { input?: string; timeout?: number } = {}) => docker(d, args, opts);
const inspect = (fmt: string, name: string): string => ok(dk(['inspect', '-f', fmt, name])).trim();
const exists = (name: string): boolean => dk(['container', 'inspect', name]).code === 0;
const PROMPT = /\/ # $/m;

/** Lines of the screen after the last line matching `marker` (the command echo). */
function after_(screen: string, marker: string): string[] {
  const lines = screen.split('\n');
  let i = -1;
  lines.forEach((l, j) => {
    if (l.includes(marker)) i = j;
  });
  return i < 0 ? [] : lines.slice(i + 1);
}

/**
 * The resize travels CLI (SIGWINCH) -> API -> conmon asynchronously, so ask again (at most 10
 * times, 1 s apart) until the answer shows up.
 */
async function askUntil(s: string, cmd: string, re: RegExp, what: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const marker = `ask-${i}-done`;
    tm.line(s, `${cmd}; echo ${marker}`);
    const screen = await tm.waitFor(s, new RegExp(`^${marker}$`, 'm'), `${cmd} output`);
    if (re.test(after_(screen, `${cmd}; echo ${marker}`).join('\n'))) return;
    await sleep(1000);
  }
  throw new Error(`timed out waiting for ${what}; screen:\n${tm.capture(s)}`);
}

describe('docker run -it', () => {
  test('the terminal has the tmux size, follows resize-window, and has job control', async (t) => {
    const s = 'run-it';
    t.after(() => {
      tm.kill(s);
      cleanup(d, 'tty-run');
    });
    tm.start(s, ['run', '-it', '--rm', '--name', 'tty-run', 'busybox', 'sh']);
    await tm.waitFor(s, PROMPT, 'the shell prompt');
    assert.equal(inspect('{{.Config.Tty}} {{.Config.OpenStdin}} {{.HostConfig.AutoRemove}}', 'tty-run'), 'true true true');

    tm.line(s, 'stty size; echo size-done');
    let screen = await tm.waitFor(s, /^size-done$/m, 'stty size output');
    assert.deepEqual(after_(screen, 'stty size; echo size-done').slice(0, 1), ['30 100']);

    tm.resize(s, 120, 40);
    await askUntil(s, 'stty size', /^40 120$/m, 'the container terminal to follow resize-window (40 120)');

    tm.line(s, 'tty; echo tty-done');
    screen = await tm.waitFor(s, /^tty-done$/m, 'tty output');
    assert.match(after_(screen, 'tty; echo tty-done')[0] ?? '', /^\/dev\/pts\/\d+$/);

    tm.line(s, 'sleep 100 &');
    tm.line(s, 'jobs; echo jobs-done');
    screen = await tm.waitFor(s, /^jobs-done$/m, 'jobs output');
    assert.match(after_(screen, 'jobs; echo jobs-done').join('\n'), /^\[1\]\+\s+Running\s+sleep 100$/m);
    tm.line(s, 'kill %1; wait; echo killed-done');
    await tm.waitFor(s, /^killed-done$/m, 'kill %1');

    tm.line(s, 'exit 3');
    assert.equal(await tm.waitExit(s), 3);
    await until(() => !exists('tty-run'), '--rm to remove the container');
  });

  test('output written with a TTY uses CRLF line ends and stderr is merged', async (t) => {
    const s = 'run-it-out';
    t.after(() => {
      tm.kill(s);
      cleanup(d, 'tty-out');
    });
    // (the short sleep keeps this test off the start/exit race covered in docker-cli-tty-quick.test.ts)
    tm.start(s, ['run', '-t', '--name', 'tty-out', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; sleep 1; exit 2']);
    assert.equal(await tm.waitExit(s), 2);
    const screen = tm.capture(s);
    assert.match(screen, /^to-out$/m);
    assert.match(screen, /^to-err$/m);
    const logs = dk(['logs', 'tty-out']);
    assert.equal(logs.stdout, 'to-out\r\nto-err\r\n');
    assert.equal(logs.stderr, '');
  });

  test('ctrl-p ctrl-q detaches and leaves the container running; attach comes back', async (t) => {
    const s1 = 'detach';
    const s2 = 'reattach';
    t.after(() => {
      tm.kill(s1);
      tm.kill(s2);
      cleanup(d, 'tty-det');
    });
    tm.start(s1, ['run', '-it', '--rm', '--name', 'tty-det', 'busybox', 'sh']);
    await tm.waitFor(s1, PROMPT, 'the shell prompt');
    tm.line(s1, 'echo before-detach > /tmp/mark');
    tm.send(s1, 'C-p', 'C-q');
    assert.equal(await tm.waitExit(s1), 0, 'the CLI exits 0 on detach');
    assert.equal(inspect('{{.State.Status}}', 'tty-det'), 'running');
    assert.equal(ok(dk(['exec', 'tty-det', 'cat', '/tmp/mark'])), 'before-detach\n');

    tm.start(s2, ['attach', 'tty-det']);
    tm.line(s2, 'echo back-$((40+2))');
    await tm.waitFor(s2, /^back-42$/m, 'the shell to answer after attach');
    tm.line(s2, 'stty size; echo size-done');
    const screen = await tm.waitFor(s2, /^size-done$/m, 'stty size after attach');
    assert.deepEqual(after_(screen, 'stty size; echo size-done').slice(0, 1), ['30 100']);
    tm.line(s2, 'exit 4');
    assert.equal(await tm.waitExit(s2), 4);
    await until(() => !exists('tty-det'), '--rm to remove the container after it exits');
  });

  test('--detach-keys are honoured', async (t) => {
    const s = 'detach-keys';
    t.after(() => {
      tm.kill(s);
      cleanup(d, 'tty-dk');
    });
    tm.start(s, ['run', '-it', '--detach-keys', 'ctrl-x,x', '--name', 'tty-dk', 'busybox', 'sh']);
    await tm.waitFor(s, PROMPT, 'the shell prompt');
    tm.send(s, 'C-x', 'x');
    assert.equal(await tm.waitExit(s), 0);
    assert.equal(inspect('{{.State.Status}}', 'tty-dk'), 'running');
  });

  test('Ctrl-C reaches the foreground process, not the CLI', async (t) => {
    const s = 'ctrl-c';
    t.after(() => {
      tm.kill(s);
      cleanup(d, 'tty-int');
    });
    tm.start(s, ['run', '-it', '--rm', '--name', 'tty-int', 'busybox', 'sh']);
    await tm.waitFor(s, PROMPT, 'the shell prompt');
    tm.line(s, 'sleep 100');
    await until(() => dk(['top', 'tty-int']).stdout.includes('sleep 100'), 'sleep to run');
    tm.send(s, 'C-c');
    tm.line(s, 'echo status=$?');
    await tm.waitFor(s, /^status=130$/m, 'sleep to be interrupted');
    assert.equal(tm.exitStatus(s), undefined, 'the CLI keeps running');
    assert.equal(inspect('{{.State.Status}}', 'tty-int'), 'running');
    tm.line(s, 'exit');
    assert.equal(await tm.waitExit(s), 0);
  });
});

describe('docker exec -it', () => {
  before(() => {
    ok(dk(['run', '-d', '--name', 'tty-ex', 'busybox', 'sh', '-c', 'while true; do sleep 0.1; done']));
  });
  after(() => cleanup(d, 'tty-ex'));

  test('a terminal of the tmux size that follows resizes; the exit code comes back', async (t) => {
    const s = 'exec-it';
    t.after(() => tm.kill(s));
    tm.start(s, ['exec', '-it', 'tty-ex', 'sh']);
    await tm.waitFor(s, PROMPT, 'the exec shell prompt');
    tm.line(s, 'stty size; tty; echo size-done');
    const screen = await tm.waitFor(s, /^size-done$/m, 'stty size output');
    const out = after_(screen, 'stty size; tty; echo size-done');
    assert.equal(out[0], '30 100');
    assert.match(out[1] ?? '', /^\/dev\/pts\/\d+$/);
    tm.resize(s, 90, 25);
    await askUntil(s, 'stty size', /^25 90$/m, 'the exec terminal to follow resize-window (25 90)');
    tm.line(s, 'exit 7');
    assert.equal(await tm.waitExit(s), 7);
    assert.equal(inspect('{{.State.Status}}', 'tty-ex'), 'running', 'the container outlives the exec');
  });

  test('exec -t without -i runs a command with a terminal', async (t) => {
    const s = 'exec-t';
    t.after(() => tm.kill(s));
    tm.start(s, ['exec', '-t', 'tty-ex', 'sh', '-c', 'test -t 1 && echo is-a-tty; stty size; exit 5']);
    assert.equal(await tm.waitExit(s), 5);
    const screen = tm.capture(s);
    assert.match(screen, /^is-a-tty$/m);
    assert.match(screen, /^30 100$/m);
  });
});

