// The container lifecycle through the berth CLI, on real runc containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, withDaemon, until } from '../helpers/daemon.ts';

let d: TestDaemon;
before(async () => {
  d = await withDaemon();
});
after(async () => {
  await d.stop();
});

const ok = (r: { code: number; stdout: string; stderr: string }): string => {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};

describe('run', () => {
  test('attached run prints output and returns the exit code', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('--rm removes the container; without it the container stays, exited', () => {
    ok(d.berth(['run', '--rm', '--name', 'gone', 'busybox', 'true']));
    assert.equal(d.berth(['inspect', 'gone']).code, 1);
    ok(d.berth(['run', '--name', 'kept', 'busybox', 'true']));
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'kept'])).trim(), 'exited 0');
    ok(d.berth(['rm', 'kept']));
  });

  test('-i passes stdin through and closes it at EOF', () => {
    const r = d.berth(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo eof'], { input: 'hello\nworld\n' });
    assert.equal(ok(r), 'hello\nworld\neof\n');
  });

  test('-e, --env-file, -w, -u, --hostname, -l, --entrypoint', () => {
    const out = ok(
      d.berth([
        'run', '--rm', '-e', 'A=1', '-e', 'B=two words', '-w', '/tmp/work', '-u', 'nobody', '--hostname', 'h1', '-l', 'x=y',
        '--entrypoint', 'sh', 'busybox', '-c', 'echo "$A|$B|$(pwd)|$(id -u)|$(hostname)"',
      ]),
    );
    assert.equal(out, '1|two words|/tmp/work|65534|h1\n');
  });

  test('--init runs an init as PID 1', () => {
    const out = ok(d.berth(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']));
    assert.match(out, /^\/sbin\/docker-init -- sh/);
  });

  test('detached run, logs, stop gives 137 for a shell ignoring TERM as PID 1 and 143 with a trap', async () => {
    const id = ok(d.berth(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'trap "echo bye; exit 143" TERM; echo started; while true; do sleep 0.1; done'])).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    await until(() => d.berth(['logs', 'ticker']).stdout.includes('started'), 'log line');
    const ps = ok(d.berth(['ps']));
    assert.match(ps, /ticker/);
    assert.match(ps, /Up /);
    ok(d.berth(['stop', '-t', '5', 'ticker']));
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.ExitCode}}', 'ticker'])).trim(), '143');
    assert.match(ok(d.berth(['logs', 'ticker'])), /started\nbye\n/);
    ok(d.berth(['rm', 'ticker']));
  });

  test('unique ID prefixes and names work anywhere an ID is accepted; ambiguous ones are errors', () => {
    const id = ok(d.berth(['create', '--name', 'pref', 'busybox', 'true'])).trim();
    assert.equal(ok(d.berth(['inspect', '-f', '{{.Name}}', id.slice(0, 5)])).trim(), '/pref');
    assert.equal(ok(d.berth(['inspect', '-f', '{{.Id}}', 'pref'])).trim(), id);
    const r = d.berth(['inspect', '']);
    assert.notEqual(r.code, 0);
    ok(d.berth(['rm', id.slice(0, 8)]));
  });
});

describe('writable layer', () => {
  test('changes survive stop/start, are invisible to other containers and the image, and go with rm', () => {
    const script = 'cat /keep 2>/dev/null || echo none; echo data > /keep; rm -f /bin/vi';
    assert.equal(ok(d.berth(['run', '--name', 'w1', 'busybox', 'sh', '-c', script])), 'none\n');
    assert.equal(ok(d.berth(['start', '-a', 'w1'])), 'data\n');
    const other = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'test -e /keep && echo leak; test -e /bin/vi && echo vi-present']);
    assert.equal(ok(other), 'vi-present\n');
    const dir = ok(d.berth(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', 'w1'])).trim();
    assert.ok(existsSync(join(dir, 'keep')));
    ok(d.berth(['rm', 'w1']));
    assert.ok(!existsSync(dir));
  });
});

describe('management', () => {
  test('rename, pause/unpause, kill -s, restart, top, exec', async () => {
    ok(d.berth(['run', '-d', '--name', 'm1', 'busybox', 'sh', '-c', 'trap "echo usr1" USR1; while true; do sleep 0.1; done']));
    ok(d.berth(['rename', 'm1', 'm2']));
    assert.equal(d.berth(['inspect', 'm1']).code, 1);
    ok(d.berth(['pause', 'm2']));
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.Status}}', 'm2'])).trim(), 'paused');
    assert.match(ok(d.berth(['ps'])), /\(Paused\)/);
    ok(d.berth(['unpause', 'm2']));
    ok(d.berth(['kill', '-s', 'USR1', 'm2']));
    await until(() => d.berth(['logs', 'm2']).stdout.includes('usr1'), 'USR1 trap');
    const top = ok(d.berth(['top', 'm2']));
    assert.match(top, /PID/);
    assert.match(top, /sh -c/);
    assert.equal(ok(d.berth(['exec', 'm2', 'sh', '-c', 'echo in-$HOSTNAME'])).trim().startsWith('in-'), true);
    assert.equal(d.berth(['exec', 'm2', 'sh', '-c', 'exit 9']).code, 9);
    assert.equal(ok(d.berth(['exec', '-e', 'X=1', '-w', '/tmp', '-u', 'nobody', 'm2', 'sh', '-c', 'echo $X $(pwd) $(id -u)'])), '1 /tmp 65534\n');
    assert.equal(d.berth(['exec', 'm2', 'nosuchcmd']).code, 127);
    ok(d.berth(['exec', '-d', 'm2', 'sh', '-c', 'echo detached > /tmp/d']));
    await until(() => d.berth(['exec', 'm2', 'cat', '/tmp/d']).stdout === 'detached\n', 'detached exec');
    const started = ok(d.berth(['inspect', '-f', '{{.State.StartedAt}}', 'm2']));
    ok(d.berth(['restart', '-t', '1', 'm2']));
    assert.notEqual(ok(d.berth(['inspect', '-f', '{{.State.StartedAt}}', 'm2'])), started);
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.Running}}', 'm2'])).trim(), 'true');
    ok(d.berth(['kill', 'm2']));
    assert.equal(ok(d.berth(['wait', 'm2'])).trim(), '137');
    ok(d.berth(['rm', 'm2']));
  });

  test('ps filters, -q, -n, -l, --format and prune', () => {
    ok(d.berth(['run', '--name', 'p-ok', '-l', 'team=a', 'busybox', 'true']));
    d.berth(['run', '--name', 'p-bad', '-l', 'team=b', 'busybox', 'false']);
    ok(d.berth(['run', '-d', '--name', 'p-up', 'busybox', 'sleep', '60']));
    assert.equal(ok(d.berth(['ps', '--format', '{{.Names}}'])).trim(), 'p-up');
    assert.deepEqual(ok(d.berth(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}'])).trim().split('\n').sort(), ['p-bad', 'p-ok']);
    assert.equal(ok(d.berth(['ps', '-a', '--filter', 'exited=1', '--format', '{{.Names}}'])).trim(), 'p-bad');
    assert.equal(ok(d.berth(['ps', '-a', '-f', 'label=team=a', '--format', '{{.Names}}'])).trim(), 'p-ok');
    assert.equal(ok(d.berth(['ps', '-a', '-f', 'name=p-u', '--format', '{{.Names}} {{.Status}}'])).split(' ')[0], 'p-up');
    assert.equal(ok(d.berth(['ps', '-l', '--format', '{{.Names}}'])).trim(), 'p-up');
    assert.equal(ok(d.berth(['ps', '-n', '2', '-q'])).trim().split('\n').length, 2);
    assert.match(ok(d.berth(['ps', '-a', '-f', 'ancestor=busybox', '-q', '--no-trunc'])), /^[a-f0-9]{64}$/m);
    const json = ok(d.berth(['ps', '--format', 'json'])).trim();
    assert.equal((JSON.parse(json) as { Names: string }).Names, 'p-up');
    const table = ok(d.berth(['ps', '-a']));
    assert.match(table.split('\n')[0] ?? '', /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const pruned = ok(d.berth(['container', 'prune', '-f']));
    assert.match(pruned, /Deleted Containers:/);
    assert.match(pruned, /Total reclaimed space:/);
    assert.equal(ok(d.berth(['ps', '-aq'])).trim().split('\n').length, 1);
    ok(d.berth(['rm', '-f', 'p-up']));
  });

  test('logs --tail, -t, --since/--until', async () => {
    ok(d.berth(['run', '--name', 'lg', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo l$i; done']));
    assert.equal(ok(d.berth(['logs', '--tail', '2', 'lg'])), 'l4\nl5\n');
    assert.match(ok(d.berth(['logs', '-t', '--tail', '1', 'lg'])), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z l5\n$/);
    assert.equal(ok(d.berth(['logs', '--since', '1h', 'lg'])).split('\n').length, 6);
    assert.equal(ok(d.berth(['logs', '--until', '2000-01-01T00:00:00Z', 'lg'])), '');
    ok(d.berth(['rm', 'lg']));
  });

  test('logs -f follows until the container exits', () => {
    ok(d.berth(['run', '-d', '--name', 'fl', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo f$i; sleep 0.2; done']));
    assert.equal(ok(d.berth(['logs', '-f', 'fl'])), 'f1\nf2\nf3\n');
    ok(d.berth(['rm', 'fl']));
  });
});
