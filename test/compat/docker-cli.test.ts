// The container lifecycle driven by the real docker CLI (28.x) against berthd: what a user sees
// (stdout, stderr, exit code) and the state afterwards. Terminal scenarios are in
// docker-cli-tty.test.ts and docker-cli-tty-quick.test.ts, images/system ones in
// docker-cli-images.test.ts; helpers in cli.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, withDaemon, until } from '../helpers/daemon.ts';
import { BgDocker, cleanup, docker, ok, show, stopDaemon } from './cli.ts';

let d: TestDaemon;
before(async () => {
  d = await withDaemon();
});
after(async () => {
  await stopDaemon(d);
});

const dk = (args: string[], opts: { input?: string | Buffer; timeout?: number } = {}) => docker(d, args, opts);
const inspect = (fmt: string, name: string): string => ok(dk(['inspect', '-f', fmt, name])).trim();
const exists = (name: string): boolean => dk(['container', 'inspect', name]).code === 0;
/** A shell loop that ignores SIGTERM as PID 1 (no handler installed). */
const LOOP = 'while true; do sleep 0.1; done';

describe('docker run', () => {
  test('attached: stdout and stderr arrive on the right streams and the exit code is propagated', (t) => {
    t.after(() => cleanup(d, 'run-att'));
    const r = dk(['run', '--name', 'run-att', 'busybox', 'sh', '-c', 'echo out; echo err >&2; echo out2; exit 3']);
    assert.equal(r.code, 3, show(r));
    assert.equal(r.stdout, 'out\nout2\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'run-att'), 'exited 3');
  });

  test('attached: a zero exit gives 0 and the container stays, exited', (t) => {
    t.after(() => cleanup(d, 'run-zero'));
    assert.equal(ok(dk(['run', '--name', 'run-zero', 'busybox', 'echo', 'hello world'])), 'hello world\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'run-zero'), 'exited 0');
  });

  test('-d prints the full ID and leaves the container running', (t) => {
    t.after(() => cleanup(d, 'run-det'));
    const r = dk(['run', '-d', '--name', 'run-det', 'busybox', 'sh', '-c', LOOP]);
    const id = ok(r).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    assert.equal(r.stderr, '');
    assert.equal(inspect('{{.Id}} {{.State.Status}} {{.State.Running}}', 'run-det'), `${id} running true`);
    assert.equal(ok(dk(['ps', '--filter', 'name=run-det', '--format', '{{.ID}} {{.Names}}'])).trim(), `${id.slice(0, 12)} run-det`);
  });

  test('--rm removes the container after it exits, keeping the exit code', () => {
    assert.equal(ok(dk(['run', '--rm', '--name', 'run-rm', 'busybox', 'sh', '-c', 'echo bye'])), 'bye\n');
    assert.equal(ok(dk(['ps', '-a', '-q', '--filter', 'name=run-rm'])), '');
    const gone = dk(['container', 'inspect', 'run-rm']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such container: run-rm/);
    const r = dk(['run', '--rm', '--name', 'run-rm2', 'busybox', 'sh', '-c', 'exit 4']);
    assert.equal(r.code, 4, show(r));
    assert.equal(exists('run-rm2'), false);
  });

  test('large output on both streams arrives complete', (t) => {
    t.after(() => cleanup(d, 'run-big'));
    const r = dk(['run', '--rm', '--name', 'run-big', 'busybox', 'sh', '-c', 'yes 0123456789 | head -n 100000; yes err | head -n 50000 >&2']);
    assert.equal(r.code, 0, show({ ...r, stdout: r.stdout.slice(0, 100), stderr: r.stderr.slice(0, 100) }));
    assert.equal(r.stdout.length, 1_100_000);
    assert.equal(r.stdout, '0123456789\n'.repeat(100000));
    assert.equal(r.stderr, 'err\n'.repeat(50000));
  });

  test('output without a trailing newline is not lost', (t) => {
    t.after(() => cleanup(d, 'run-nonl'));
    const r = dk(['run', '--name', 'run-nonl', 'busybox', 'sh', '-c', 'printf abc; printf def >&2']);
    assert.equal(ok(r), 'abc');
    assert.equal(r.stderr, 'def');
    const l = dk(['logs', 'run-nonl']);
    assert.equal(ok(l), 'abc');
    assert.equal(l.stderr, 'def');
  });

  test('-d --rm: the container is removed once stopped', async (t) => {
    t.after(() => cleanup(d, 'run-drm'));
    ok(dk(['run', '-d', '--rm', '--name', 'run-drm', 'busybox', 'sh', '-c', LOOP]));
    assert.equal(inspect('{{.State.Status}} {{.HostConfig.AutoRemove}}', 'run-drm'), 'running true');
    assert.equal(ok(dk(['stop', '-t', '0', 'run-drm'])), 'run-drm\n');
    await until(() => !exists('run-drm'), 'the --rm container to be removed');
  });

  test('the attached CLI forwards signals to the container (sig-proxy)', async (t) => {
    t.after(() => cleanup(d, 'run-sig'));
    const r = new BgDocker(d, ['run', '--name', 'run-sig', 'busybox', 'sh', '-c', `trap "echo got-usr1" USR1; trap "echo got-term; exit 143" TERM; echo ready; ${LOOP}`], { stdin: 'ignore' });
    t.after(() => r.kill());
    await until(() => r.stdout.includes('ready\n'), 'the container to start');
    r.proc.kill('SIGUSR1');
    await until(() => r.stdout.includes('got-usr1\n'), 'USR1 to reach the container');
    r.proc.kill('SIGTERM');
    const res = await r.wait();
    assert.equal(res.code, 143, show(res));
    assert.equal(res.stdout, 'ready\ngot-usr1\ngot-term\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'run-sig'), 'exited 143');
  });

  test('-e, --env-file, -w, -u, --hostname, --entrypoint, --init, --read-only, --stop-signal reach the container', async (t) => {
    const dir = mkdtempSync('/tmp/bt-envfile-');
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
      cleanup(d, 'run-opts', 'run-stopsig');
    });
    writeFileSync(join(dir, 'env'), 'EF=from-file\n# comment\n');
    const r = dk([
      'run', '--name', 'run-opts', '-e', 'A=1', '-e', 'B=two words', '--env-file', join(dir, 'env'), '-w', '/tmp/wd', '-u', 'nobody',
      '--hostname', 'h1', '-l', 'x=y', '--entrypoint', 'sh', 'busybox', '-c', 'echo "$A|$B|$EF|$(pwd)|$(id -u)|$(hostname)"',
    ]);
    assert.equal(ok(r), '1|two words|from-file|/tmp/wd|65534|h1\n');
    assert.equal(inspect('{{json .Config.Entrypoint}} {{.Config.User}} {{.Config.WorkingDir}} {{.Config.Hostname}} {{index .Config.Labels "x"}}', 'run-opts'), '["sh"] nobody /tmp/wd h1 y');
    assert.match(ok(dk(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "'])), /^\S*init -- sh -c /);
    const ro = dk(['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
    assert.equal(ro.code, 1, show(ro));
    assert.match(ro.stderr, /Read-only file system/);
    ok(dk(['run', '-d', '--name', 'run-stopsig', '--stop-signal', 'USR1', 'busybox', 'sh', '-c', `trap "exit 10" USR1; ${LOOP}`]));
    assert.equal(inspect('{{.Config.StopSignal}}', 'run-stopsig'), 'USR1');
    ok(dk(['stop', 'run-stopsig']));
    assert.equal(inspect('{{.State.ExitCode}}', 'run-stopsig'), '10');
  });

  test('-i passes stdin from a pipe and closes it at EOF', (t) => {
    t.after(() => cleanup(d, 'run-i'));
    const r = dk(['run', '--rm', '--name', 'run-i', '-i', 'busybox', 'sh', '-c', 'cat; echo eof'], { input: 'hello\nworld\n', timeout: 15000 });
    assert.equal(ok(r), 'hello\nworld\neof\n');
    assert.equal(exists('run-i'), false);
  });

  test('-i passes a large stdin intact', (t) => {
    t.after(() => cleanup(d, 'run-i-big'));
    const input = 'x'.repeat(1023) + '\n';
    const r = dk(['run', '--rm', '--name', 'run-i-big', '-i', 'busybox', 'sh', '-c', 'wc -c; echo done'], { input: input.repeat(512), timeout: 15000 });
    assert.equal(ok(r).replace(/[ \t]+/g, ''), `${1024 * 512}\ndone\n`);
  });

  test('-i with a command that does not read stdin still exits with its code', (t) => {
    t.after(() => cleanup(d, 'run-i-noread'));
    const r = dk(['run', '--rm', '--name', 'run-i-noread', '-i', 'busybox', 'sh', '-c', 'echo hi; exit 6'], { input: 'unused\n', timeout: 15000 });
    assert.equal(r.code, 6, show(r));
    assert.equal(r.stdout, 'hi\n');
  });
});

describe('docker ps', () => {
  test('ps, -a, -q, --no-trunc, --filter and --format', (t) => {
    t.after(() => cleanup(d, 'ps-up', 'ps-done', 'ps-fail'));
    const up = ok(dk(['run', '-d', '--name', 'ps-up', '-l', 'team=blue', 'busybox', 'sh', '-c', LOOP])).trim();
    ok(dk(['run', '--name', 'ps-done', '-l', 'team=red', 'busybox', 'true']));
    assert.equal(dk(['run', '--name', 'ps-fail', 'busybox', 'sh', '-c', 'exit 2']).code, 2);

    const table = ok(dk(['ps']));
    const lines = table.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.equal(lines.length, 2, table);
    assert.match(lines[1] ?? '', new RegExp(`^${up.slice(0, 12)}\\s+busybox\\s+"sh -c '?while true.*"\\s+.*\\s+Up .*\\s+ps-up$`));

    assert.equal(ok(dk(['ps', '--format', '{{.Names}}'])), 'ps-up\n');
    assert.deepEqual(ok(dk(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n').sort(), ['ps-done', 'ps-fail', 'ps-up']);
    assert.equal(ok(dk(['ps', '-q'])), `${up.slice(0, 12)}\n`);
    assert.equal(ok(dk(['ps', '-q', '--no-trunc'])), `${up}\n`);
    assert.equal(ok(dk(['ps', '-aq'])).trim().split('\n').length, 3);
    // -l / -n: the latest created containers, whatever their state
    assert.equal(ok(dk(['ps', '-l', '--format', '{{.Names}}'])), 'ps-fail\n');
    assert.equal(ok(dk(['ps', '-n', '2', '--format', '{{.Names}}'])), 'ps-fail\nps-done\n');
    assert.equal(ok(dk(['ps', '-a', '--filter', 'status=created', '-q'])), '');

    assert.deepEqual(ok(dk(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}'])).trim().split('\n').sort(), ['ps-done', 'ps-fail']);
    assert.equal(ok(dk(['ps', '-a', '--filter', 'exited=2', '--format', '{{.Names}}'])), 'ps-fail\n');
    assert.equal(ok(dk(['ps', '-a', '--filter', 'label=team=red', '--format', '{{.Names}}'])), 'ps-done\n');
    assert.equal(ok(dk(['ps', '-a', '--filter', 'name=ps-u', '--format', '{{.Names}}'])), 'ps-up\n');
    assert.equal(ok(dk(['ps', '-a', '--filter', `id=${up.slice(0, 10)}`, '--format', '{{.Names}}'])), 'ps-up\n');
    assert.equal(ok(dk(['ps', '-a', '--filter', 'status=running', '--filter', 'label=team=red', '-q'])), '');
    assert.match(ok(dk(['ps', '-a', '--filter', 'name=ps-fail', '--format', '{{.Names}}|{{.Status}}|{{.Image}}'])), /^ps-fail\|Exited \(2\) .*ago\|busybox\n$/);
    assert.equal(ok(dk(['ps', '--format', '{{.Label "team"}}'])), 'blue\n');
    const json = JSON.parse(ok(dk(['ps', '--format', 'json']))) as Record<string, string>;
    assert.equal(json.Names, 'ps-up');
    assert.equal(json.State, 'running');
  });

  test('ps COMMAND quotes arguments that contain spaces, as Docker does', (t) => {
    t.after(() => cleanup(d, 'ps-cmd'));
    ok(dk(['create', '--name', 'ps-cmd', 'busybox', 'sh', '-c', 'exit 2']));
    assert.equal(ok(dk(['ps', '-a', '--filter', 'name=ps-cmd', '--format', '{{.Command}}'])), `"sh -c 'exit 2'"\n`);
  });

  test('container prune -f removes stopped containers only', (t) => {
    t.after(() => cleanup(d, 'pr-up', 'pr-a', 'pr-b'));
    const up = ok(dk(['run', '-d', '--name', 'pr-up', 'busybox', 'sh', '-c', LOOP])).trim();
    const a = ok(dk(['create', '--name', 'pr-a', 'busybox', 'true'])).trim();
    ok(dk(['run', '--name', 'pr-b', 'busybox', 'sh', '-c', 'echo x > /file']));
    const b = inspect('{{.Id}}', 'pr-b');
    const out = ok(dk(['container', 'prune', '-f']));
    assert.match(out, /^Deleted Containers:\n/);
    assert.ok(out.includes(`${a}\n`), out);
    assert.ok(out.includes(`${b}\n`), out);
    assert.ok(!out.includes(up), out);
    assert.match(out, /\nTotal reclaimed space: \d+(\.\d+)?k?B\n$/);
    assert.equal(exists('pr-a'), false);
    assert.equal(exists('pr-b'), false);
    assert.equal(inspect('{{.State.Status}}', 'pr-up'), 'running');
  });
});

describe('docker logs', () => {
  test('logs replays stdout and stderr on their own streams', (t) => {
    t.after(() => cleanup(d, 'lg'));
    ok(dk(['run', '--name', 'lg', 'busybox', 'sh', '-c', 'echo o1; echo e1 >&2; echo o2']));
    const r = dk(['logs', 'lg']);
    assert.equal(ok(r), 'o1\no2\n');
    assert.equal(r.stderr, 'e1\n');
  });

  test('logs --tail N and -t', (t) => {
    t.after(() => cleanup(d, 'lg-tail'));
    ok(dk(['run', '--name', 'lg-tail', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo l$i; done']));
    assert.equal(ok(dk(['logs', '--tail', '2', 'lg-tail'])), 'l4\nl5\n');
    assert.equal(ok(dk(['logs', '--tail', '0', 'lg-tail'])), '');
    assert.match(ok(dk(['logs', '-t', '--tail', '1', 'lg-tail'])), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z l5\n$/);
  });

  test('logs -f of a stopped container prints everything and returns', (t) => {
    t.after(() => cleanup(d, 'lg-done'));
    ok(dk(['run', '--name', 'lg-done', 'busybox', 'sh', '-c', 'echo one; echo two']));
    assert.equal(ok(dk(['logs', '-f', 'lg-done'], { timeout: 10000 })), 'one\ntwo\n');
  });

  test('logs -f follows new output and ends when the container exits', async (t) => {
    t.after(() => cleanup(d, 'lf'));
    ok(dk(['run', '-d', '--name', 'lf', 'busybox', 'sh', '-c', 'echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second; echo err2 >&2; exit 3']));
    const f = new BgDocker(d, ['logs', '-f', 'lf'], { stdin: 'ignore' });
    t.after(() => f.kill());
    await until(() => f.stdout.includes('first\n'), 'logs -f to show the first line');
    assert.equal(f.running, true, 'logs -f must keep following while the container runs');
    ok(dk(['exec', 'lf', 'touch', '/tmp/go']));
    const r = await f.wait();
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'first\nsecond\n');
    assert.equal(r.stderr, 'err2\n');
  });
});

describe('docker attach / start -ai', () => {
  test('attach to a running container shows its output and exits with its code', async (t) => {
    t.after(() => cleanup(d, 'at-out'));
    ok(dk(['run', '-d', '--name', 'at-out', 'busybox', 'sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done']));
    const a = new BgDocker(d, ['attach', 'at-out'], { stdin: 'ignore' });
    t.after(() => a.kill());
    await until(() => /tick\d+\n/.test(a.stdout), 'attached output');
    ok(dk(['kill', 'at-out']));
    const r = await a.wait();
    assert.equal(r.code, 137, show(r));
    assert.match(r.stdout, /^(tick\d+\n)+$/);
  });

  test('attach to a container started with -i delivers stdin', async (t) => {
    t.after(() => cleanup(d, 'at-in'));
    ok(dk(['run', '-d', '-i', '--name', 'at-in', 'busybox', 'sh', '-c', 'while read l; do [ "$l" = quit ] && exit 5; echo got:$l; done']));
    const a = new BgDocker(d, ['attach', 'at-in']);
    t.after(() => a.kill());
    a.write('hello\n');
    await until(() => a.stdout.includes('got:hello\n'), 'the container to echo stdin', 10000);
    a.write('quit\n');
    const r = await a.wait(15000);
    assert.equal(r.code, 5, show(r));
    assert.equal(r.stdout, 'got:hello\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'at-in'), 'exited 5');
  });

  test('attach to a stopped container is refused', (t) => {
    t.after(() => cleanup(d, 'at-stopped'));
    ok(dk(['create', '--name', 'at-stopped', 'busybox', 'true']));
    const r = dk(['attach', 'at-stopped']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /cannot attach to a stopped container, start it first/i);
  });

  test('start -ai runs an interactive container again, stdin reaches it each time', (t) => {
    t.after(() => cleanup(d, 'sai'));
    ok(dk(['create', '-i', '--name', 'sai', 'busybox', 'sh', '-c', 'read l; echo got:$l; exit 2']));
    const r1 = dk(['start', '-ai', 'sai'], { input: 'one\n', timeout: 15000 });
    assert.equal(r1.code, 2, show(r1));
    assert.equal(r1.stdout, 'got:one\n');
    const r2 = dk(['start', '-ai', 'sai'], { input: 'two\n', timeout: 15000 });
    assert.equal(r2.code, 2, show(r2));
    assert.equal(r2.stdout, 'got:two\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'sai'), 'exited 2');
  });

  test('start -a (no stdin) re-runs and shows the output; plain start prints the name', async (t) => {
    t.after(() => cleanup(d, 'sa'));
    const first = dk(['run', '--name', 'sa', 'busybox', 'sh', '-c', 'echo run; exit 1']);
    assert.equal(first.code, 1, show(first));
    const r = dk(['start', '-a', 'sa']);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, 'run\n');
    assert.equal(ok(dk(['start', 'sa'])), 'sa\n');
    await until(() => inspect('{{.State.Status}}', 'sa') === 'exited', 'the container to exit again');
    assert.equal(ok(dk(['logs', 'sa'])), 'run\nrun\nrun\n');
  });
});

describe('docker stop / kill / wait / pause / rename / top', () => {
  test('stop -t 1 kills a PID 1 shell that ignores TERM (137); with a TERM trap it exits 143', async (t) => {
    t.after(() => cleanup(d, 'st-ign', 'st-trap'));
    ok(dk(['run', '-d', '--name', 'st-ign', 'busybox', 'sh', '-c', LOOP]));
    // signal the shell, not runc's init: wait until the loop runs (its sleep shows in top)
    await until(() => /sleep/.test(dk(['top', 'st-ign']).stdout), 'the loop to run');
    const t0 = Date.now();
    assert.equal(ok(dk(['stop', '-t', '1', 'st-ign'])), 'st-ign\n');
    assert.ok(Date.now() - t0 >= 900, 'stop must wait the grace period before SIGKILL');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'st-ign'), 'exited 137');
    assert.match(ok(dk(['ps', '-a', '--filter', 'name=st-ign', '--format', '{{.Status}}'])), /^Exited \(137\) /);

    ok(dk(['run', '-d', '--name', 'st-trap', 'busybox', 'sh', '-c', `trap "echo got-term; exit 143" TERM; echo ready; ${LOOP}`]));
    assert.equal(ok(dk(['stop', '-t', '10', 'st-trap'])), 'st-trap\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}}', 'st-trap'), 'exited 143');
    assert.equal(ok(dk(['logs', 'st-trap'])), 'ready\ngot-term\n');
    // stopping a stopped container is not an error
    assert.equal(ok(dk(['stop', 'st-trap'])), 'st-trap\n');
  });

  test('kill -s delivers the signal; kill defaults to KILL; wait prints the exit code', async (t) => {
    t.after(() => cleanup(d, 'kl'));
    ok(dk(['run', '-d', '--name', 'kl', 'busybox', 'sh', '-c', `trap "echo usr1" USR1; trap "echo hup" HUP; ${LOOP}`]));
    assert.equal(ok(dk(['kill', '-s', 'USR1', 'kl'])), 'kl\n');
    await until(() => dk(['logs', 'kl']).stdout === 'usr1\n', 'the USR1 trap');
    ok(dk(['kill', '--signal', 'SIGHUP', 'kl']));
    await until(() => dk(['logs', 'kl']).stdout === 'usr1\nhup\n', 'the HUP trap');
    assert.equal(inspect('{{.State.Running}}', 'kl'), 'true');
    const w = new BgDocker(d, ['wait', 'kl'], { stdin: 'ignore' });
    t.after(() => w.kill());
    ok(dk(['kill', 'kl']));
    const r = await w.wait();
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '137\n');
    const again = dk(['kill', 'kl']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /is not running/);
  });

  test('wait blocks until the container exits and prints its code', async (t) => {
    t.after(() => cleanup(d, 'wt'));
    ok(dk(['run', '-d', '--name', 'wt', 'busybox', 'sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7']));
    const w = new BgDocker(d, ['wait', 'wt'], { stdin: 'ignore' });
    t.after(() => w.kill());
    await until(() => dk(['exec', 'wt', 'true']).code === 0, 'exec to work');
    assert.equal(w.running, true, 'wait must block while the container runs');
    ok(dk(['exec', 'wt', 'touch', '/tmp/go']));
    const r = await w.wait();
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '7\n');
    // on an exited container, wait answers at once
    assert.equal(ok(dk(['wait', 'wt'])), '7\n');
  });

  test('pause and unpause', (t) => {
    t.after(() => cleanup(d, 'pz'));
    ok(dk(['run', '-d', '--name', 'pz', 'busybox', 'sh', '-c', LOOP]));
    assert.equal(ok(dk(['pause', 'pz'])), 'pz\n');
    assert.equal(inspect('{{.State.Status}} {{.State.Paused}} {{.State.Running}}', 'pz'), 'paused true true');
    assert.match(ok(dk(['ps', '--filter', 'name=pz', '--format', '{{.Status}}'])), /^Up .*\(Paused\)\n$/);
    assert.equal(ok(dk(['ps', '--filter', 'status=paused', '--format', '{{.Names}}'])), 'pz\n');
    const ex = dk(['exec', 'pz', 'true']);
    assert.notEqual(ex.code, 0);
    assert.match(ex.stderr, /is paused, unpause the container before exec/);
    const again = dk(['pause', 'pz']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /is already paused/);
    assert.equal(ok(dk(['unpause', 'pz'])), 'pz\n');
    assert.equal(inspect('{{.State.Status}} {{.State.Paused}}', 'pz'), 'running false');
    assert.equal(ok(dk(['exec', 'pz', 'echo', 'alive'])), 'alive\n');
    const un = dk(['unpause', 'pz']);
    assert.notEqual(un.code, 0);
    assert.match(un.stderr, /is not paused/);
  });

  test('a paused container can be stopped and force-removed', (t) => {
    t.after(() => cleanup(d, 'pz-stop', 'pz-rm'));
    ok(dk(['run', '-d', '--name', 'pz-stop', 'busybox', 'sh', '-c', LOOP]));
    ok(dk(['pause', 'pz-stop']));
    assert.equal(ok(dk(['stop', '-t', '1', 'pz-stop'])), 'pz-stop\n');
    assert.equal(inspect('{{.State.Status}} {{.State.ExitCode}} {{.State.Paused}}', 'pz-stop'), 'exited 137 false');
    ok(dk(['run', '-d', '--name', 'pz-rm', 'busybox', 'sh', '-c', LOOP]));
    ok(dk(['pause', 'pz-rm']));
    const r = dk(['rm', 'pz-rm']);
    assert.equal(r.code, 1, show(r));
    assert.equal(ok(dk(['rm', '-f', 'pz-rm'])), 'pz-rm\n');
    assert.equal(exists('pz-rm'), false);
  });

  test('restart runs the command again', async (t) => {
    t.after(() => cleanup(d, 'rs'));
    ok(dk(['run', '-d', '--name', 'rs', 'busybox', 'sh', '-c', `echo started; ${LOOP}`]));
    await until(() => dk(['logs', 'rs']).stdout === 'started\n', 'first start');
    const pid1 = inspect('{{.State.Pid}}', 'rs');
    assert.equal(ok(dk(['restart', '-t', '0', 'rs'])), 'rs\n');
    assert.equal(inspect('{{.State.Status}}', 'rs'), 'running');
    assert.notEqual(inspect('{{.State.Pid}}', 'rs'), pid1);
    await until(() => dk(['logs', 'rs']).stdout === 'started\nstarted\n', 'second start');
    // starting a running container is not an error and changes nothing
    const pid2 = inspect('{{.State.Pid}}', 'rs');
    assert.equal(ok(dk(['start', 'rs'])), 'rs\n');
    assert.equal(inspect('{{.State.Pid}}', 'rs'), pid2);
  });

  test('rename', (t) => {
    t.after(() => cleanup(d, 'rn-old', 'rn-new', 'rn-other'));
    const id = ok(dk(['run', '-d', '--name', 'rn-old', 'busybox', 'sh', '-c', LOOP])).trim();
    ok(dk(['create', '--name', 'rn-other', 'busybox', 'true']));
    assert.equal(ok(dk(['rename', 'rn-old', 'rn-new'])), '');
    assert.equal(inspect('{{.Id}} {{.Name}}', 'rn-new'), `${id} /rn-new`);
    const old = dk(['inspect', 'rn-old']);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /No such object: rn-old/);
    assert.equal(ok(dk(['ps', '--format', '{{.Names}}', '--filter', `id=${id}`])), 'rn-new\n');
    const clash = dk(['rename', 'rn-new', 'rn-other']);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /Conflict\. The container name "\/rn-other" is already in use/);
    // the old name is free again
    ok(dk(['create', '--name', 'rn-old', 'busybox', 'true']));
  });

  test('top lists the container processes', async (t) => {
    t.after(() => cleanup(d, 'tp'));
    ok(dk(['run', '-d', '--name', 'tp', 'busybox', 'sh', '-c', 'sleep 1000 & wait']));
    // the shell forks sleep right after start: wait until top can see it
    const out = await until(() => {
      const o = ok(dk(['top', 'tp']));
      return /\ssleep 1000\n/.test(o) ? o : '';
    }, 'sleep 1000 in top');
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.ok(lines.some((l) => /\ssh -c sleep 1000 & wait$/.test(l)), out);
    assert.ok(lines.some((l) => /\ssleep 1000$/.test(l)), out);
    assert.equal(lines.length, 3, out);
    const ps = ok(dk(['top', 'tp', '-o', 'pid,comm']));
    assert.match(ps.split('\n')[0] ?? '', /^PID\s+COMMAND$/);
    ok(dk(['stop', '-t', '0', 'tp']));
    const stopped = dk(['top', 'tp']);
    assert.notEqual(stopped.code, 0);
    assert.match(stopped.stderr, /is not running/);
  });
});

describe('docker rm', () => {
  test('rm removes a stopped container and prints its name', (t) => {
    t.after(() => cleanup(d, 'rm-a'));
    ok(dk(['run', '--name', 'rm-a', 'busybox', 'true']));
    assert.equal(ok(dk(['rm', 'rm-a'])), 'rm-a\n');
    assert.equal(exists('rm-a'), false);
  });

  test('rm of a running container is refused; rm -f kills and removes it', (t) => {
    t.after(() => cleanup(d, 'rm-run'));
    const id = ok(dk(['run', '-d', '--name', 'rm-run', 'busybox', 'sh', '-c', LOOP])).trim();
    const r = dk(['rm', 'rm-run']);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, '');
    // Docker 28: `cannot remove container "rm-run": container is running: stop the container before
    // removing or force remove`; older engines: `You cannot remove a running container <id>. ...`
    assert.match(r.stderr, /^Error response from daemon: (You cannot remove a running container|cannot remove container "\/?rm-run": container is running)/);
    assert.match(r.stderr, /force remove/);
    assert.equal(inspect('{{.State.Status}}', 'rm-run'), 'running');
    assert.equal(ok(dk(['rm', '-f', 'rm-run'])), 'rm-run\n');
    assert.equal(exists('rm-run'), false);
    assert.equal(exists(id), false);
  });

  test('rm of several containers removes what it can and fails for the rest', (t) => {
    t.after(() => cleanup(d, 'rm-m1', 'rm-m2'));
    ok(dk(['create', '--name', 'rm-m1', 'busybox', 'true']));
    ok(dk(['create', '--name', 'rm-m2', 'busybox', 'true']));
    const r = dk(['rm', 'rm-m1', 'rm-nope', 'rm-m2']);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, 'rm-m1\nrm-m2\n');
    assert.match(r.stderr, /No such container: rm-nope/);
    assert.equal(exists('rm-m1') || exists('rm-m2'), false);
  });
});

describe('docker exec', () => {
  before(() => {
    ok(dk(['run', '-d', '--name', 'ex', 'busybox', 'sh', '-c', LOOP]));
  });
  after(() => cleanup(d, 'ex'));

  test('stdout/stderr split and exit code', () => {
    const r = dk(['exec', 'ex', 'sh', '-c', 'echo o; echo e >&2; exit 4']);
    assert.equal(r.code, 4, show(r));
    assert.equal(r.stdout, 'o\n');
    assert.equal(r.stderr, 'e\n');
    assert.equal(ok(dk(['exec', 'ex', 'echo', 'a b'])), 'a b\n');
  });

  test('-e, -w, -u', () => {
    assert.equal(ok(dk(['exec', '-e', 'X=1', '-e', 'Y=two words', '-w', '/tmp', '-u', 'nobody', 'ex', 'sh', '-c', 'echo "$X|$Y|$(pwd)|$(id -u)"'])), '1|two words|/tmp|65534\n');
    assert.equal(ok(dk(['exec', '-u', '1234:5678', 'ex', 'sh', '-c', 'echo $(id -u) $(id -g)'])), '1234 5678\n');
    assert.equal(ok(dk(['exec', 'ex', 'sh', '-c', 'echo $(pwd) $(id -u)'])), '/ 0\n');
  });

  test('-i passes stdin from a pipe and closes it at EOF', () => {
    const r = dk(['exec', '-i', 'ex', 'sh', '-c', 'cat; echo eof'], { input: 'hello\nworld\n', timeout: 15000 });
    assert.equal(ok(r), 'hello\nworld\neof\n');
  });

  test('without -i the exec gets no stdin', () => {
    const r = dk(['exec', 'ex', 'sh', '-c', 'cat; echo eof'], { input: 'ignored\n', timeout: 15000 });
    assert.equal(ok(r), 'eof\n');
  });

  test('-d returns at once and the command runs in the background', async () => {
    const r = dk(['exec', '-d', 'ex', 'sh', '-c', 'sleep 0.3; echo detached > /tmp/exec-d']);
    assert.equal(ok(r), '');
    assert.equal(r.stderr, '');
    await until(() => dk(['exec', 'ex', 'cat', '/tmp/exec-d']).stdout === 'detached\n', 'the detached exec to run');
  });

  test('missing command gives 127, a non-executable file 126', () => {
    const miss = dk(['exec', 'ex', 'nosuchcmd']);
    assert.equal(miss.code, 127, show(miss));
    assert.match(miss.stdout + miss.stderr, /executable file not found in \$PATH/);
    const noexec = dk(['exec', 'ex', '/etc/passwd']);
    assert.equal(noexec.code, 126, show(noexec));
    assert.match(noexec.stdout + noexec.stderr, /permission denied/);
  });

  test('exec in a stopped or unknown container fails', (t) => {
    t.after(() => cleanup(d, 'ex-stopped'));
    ok(dk(['create', '--name', 'ex-stopped', 'busybox', 'true']));
    const r = dk(['exec', 'ex-stopped', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
    const u = dk(['exec', 'ex-nope', 'true']);
    assert.notEqual(u.code, 0);
    assert.match(u.stderr, /No such container: ex-nope/);
  });
});

describe('docker inspect', () => {
  test('State.Status, Config.Cmd, HostConfig.AutoRemove, Name and -f templates', (t) => {
    t.after(() => cleanup(d, 'in-a', 'in-b'));
    const id = ok(dk(['create', '--name', 'in-a', '-e', 'K=V', '-l', 'lab=el', 'busybox', 'sh', '-c', 'exit 0'])).trim();
    ok(dk(['create', '--rm', '--name', 'in-b', 'busybox']));
    const arr = JSON.parse(ok(dk(['inspect', 'in-a']))) as Array<Record<string, any>>;
    assert.equal(arr.length, 1);
    const c = arr[0] ?? {};
    assert.equal(c.Id, id);
    assert.equal(c.Name, '/in-a');
    assert.equal(c.State.Status, 'created');
    assert.equal(c.State.Running, false);
    assert.deepEqual(c.Config.Cmd, ['sh', '-c', 'exit 0']);
    assert.equal(c.Config.Image, 'busybox');
    assert.ok((c.Config.Env as string[]).includes('K=V'));
    assert.equal(c.Config.Labels.lab, 'el');
    assert.equal(c.HostConfig.AutoRemove, false);
    assert.match(c.Image, /^sha256:[a-f0-9]{64}$/);

    assert.equal(inspect('{{.Name}} {{.State.Status}} {{json .Config.Cmd}} {{.HostConfig.AutoRemove}}', 'in-b'), '/in-b created ["sh"] true');
    assert.equal(inspect('{{index .Config.Labels "lab"}}', 'in-a'), 'el');
    assert.equal(inspect('{{.Id}}', id.slice(0, 12)), id);
    assert.equal(ok(dk(['container', 'inspect', '--format', '{{.State.Status}}', 'in-a', 'in-b'])), 'created\ncreated\n');
    assert.equal(ok(dk(['inspect', '--type', 'container', '-f', '{{.Path}} {{join .Args ","}}', 'in-a'])), 'sh -c,exit 0\n');
  });

  test('State changes are visible through inspect', async (t) => {
    t.after(() => cleanup(d, 'in-s'));
    ok(dk(['run', '-d', '--name', 'in-s', 'busybox', 'sh', '-c', LOOP]));
    assert.equal(inspect('{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}', 'in-s'), 'running true 0');
    assert.match(inspect('{{.State.Pid}}', 'in-s'), /^[1-9]\d*$/);
    ok(dk(['kill', 'in-s']));
    await until(() => inspect('{{.State.Status}}', 'in-s') === 'exited', 'exit');
    assert.equal(inspect('{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}', 'in-s'), 'exited false 137 0');
    assert.notEqual(inspect('{{.State.FinishedAt}}', 'in-s'), '0001-01-01T00:00:00Z');
  });

  test('inspect of several names prints the found ones and fails for the rest', (t) => {
    t.after(() => cleanup(d, 'in-m'));
    ok(dk(['create', '--name', 'in-m', 'busybox', 'true']));
    const r = dk(['inspect', '-f', '{{.Name}}', 'in-m', 'in-missing']);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, '/in-m\n');
    assert.match(r.stderr, /No such object: in-missing/);
  });

  test('inspect of an unknown name fails with "No such object"/"No such container"', () => {
    const r = dk(['inspect', 'in-nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), '[]');
    assert.match(r.stderr, /Error: No such object: in-nope/);
    const c = dk(['container', 'inspect', 'in-nope']);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /No such container: in-nope/);
  });
});

describe('errors through docker', () => {
  test('unknown image: "Unable to find image" then failure, exit 125, nothing created', () => {
    const before = ok(dk(['ps', '-aq'])).trim();
    const r = dk(['run', '--name', 'err-img', 'no-such-image-x']);
    assert.equal(r.code, 125, show(r));
    assert.match(r.stderr, /^Unable to find image 'no-such-image-x:latest' locally\n/);
    assert.match(r.stderr, /docker: Error response from daemon: /);
    assert.equal(r.stdout, '');
    assert.equal(exists('err-img'), false);
    assert.equal(ok(dk(['ps', '-aq'])).trim(), before);
    const c = dk(['create', 'no-such-image-x:v9']);
    assert.equal(c.code, 1, show(c));
    assert.match(c.stderr, /Unable to find image 'no-such-image-x:v9' locally/);
  });

  test('duplicate name: Conflict message, exit 125, the first container is untouched', (t) => {
    t.after(() => cleanup(d, 'dup'));
    const id = ok(dk(['run', '-d', '--name', 'dup', 'busybox', 'sh', '-c', LOOP])).trim();
    const r = dk(['run', '--name', 'dup', 'busybox', 'true']);
    assert.equal(r.code, 125, show(r));
    assert.ok(
      r.stderr.includes(`docker: Error response from daemon: Conflict. The container name "/dup" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`),
      r.stderr,
    );
    const c = dk(['create', '--name', 'dup', 'busybox', 'true']);
    assert.equal(c.code, 1, show(c));
    assert.match(c.stderr, /Conflict\. The container name "\/dup" is already in use/);
    assert.equal(inspect('{{.Id}} {{.State.Status}}', 'dup'), `${id} running`);
    assert.equal(ok(dk(['ps', '-aq', '--no-trunc', '--filter', 'name=^dup$'])), `${id}\n`);
  });

  test('missing command: exit 127', (t) => {
    t.after(() => cleanup(d, 'err-127'));
    const r = dk(['run', '--name', 'err-127', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, show(r));
    assert.match(r.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
    assert.equal(r.stdout, '');
    const abs = dk(['run', '--rm', 'busybox', '/no/such/file']);
    assert.equal(abs.code, 127, show(abs));
    assert.match(abs.stderr, /no such file or directory/);
  });

  test('non-executable entrypoint: exit 126', (t) => {
    t.after(() => cleanup(d, 'err-126'));
    const r = dk(['run', '--name', 'err-126', '--entrypoint', '/etc/passwd', 'busybox']);
    assert.equal(r.code, 126, show(r));
    assert.match(r.stderr, /permission denied/);
    const dir = dk(['run', '--rm', 'busybox', '/tmp']);
    assert.equal(dir.code, 126, show(dir));
  });

  test('failed start of a --rm container leaves nothing behind', () => {
    const r = dk(['run', '--rm', '--name', 'err-rm', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, show(r));
    assert.equal(exists('err-rm'), false);
  });

  test('unknown container: "No such container" for every command', () => {
    for (const args of [['rm'], ['stop'], ['start'], ['kill'], ['logs'], ['restart'], ['pause'], ['wait'], ['top'], ['rename', '--', 'nope-ctr-x', 'y']]) {
      const full = args[0] === 'rename' ? args : [...args, 'nope-ctr-x'];
      const r = dk(full);
      assert.notEqual(r.code, 0, `${full.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, /No such container: nope-ctr-x/, `${full.join(' ')}: ${show(r)}`);
    }
  });

  test('ambiguous ID prefix is an error and touches nothing', (t) => {
    const ids: string[] = [];
    t.after(() => cleanup(d, ...ids));
    let pair: [string, string] | undefined;
    while (!pair) {
      const id = ok(dk(['create', 'busybox', 'true'])).trim();
      const twin = ids.find((x) => x[0] === id[0]);
      ids.push(id);
      if (twin) pair = [twin, id];
    }
    const prefix = pair[0].slice(0, 1);
    for (const args of [['rm'], ['inspect'], ['start']]) {
      const r = dk([...args, prefix]);
      assert.notEqual(r.code, 0, `${args[0]}: ${show(r)}`);
      assert.match(r.stderr, /multiple IDs found with provided prefix: /i, `${args[0]}: ${show(r)}`);
    }
    for (const id of pair) assert.equal(inspect('{{.State.Status}}', id), 'created');
  });
});
