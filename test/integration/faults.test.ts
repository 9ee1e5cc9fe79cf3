// Failure paths through the berth CLI: bad input, commands that cannot run, processes killed
// behind berth's back, clients that vanish, and many containers at once.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, TestDaemon, busyboxTarball, leftoverMounts, sleep, until, withDaemon } from '../helpers/daemon.ts';

type Result = { code: number; stdout: string; stderr: string };

let d: TestDaemon;
let stopped = false;
before(async () => {
  d = await withDaemon();
});
beforeEach(async () => {
  if (!stopped) await berthdDied();
});
after(async () => {
  // if a test took berthd down, bring it back so stop() can remove every container
  if (!stopped) {
    await berthdDied();
    await d.stop();
  }
});

const ok = (r: Result): string => {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};
const show = (r: Result): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** IDs of all containers (ps -a). */
const allIds = (): string[] => ok(d.berth(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean);
/** Container directories under the data root. */
const containerDirs = (): string[] => readdirSync(join(d.root, 'containers')).filter((n) => /^[a-f0-9]{64}$/.test(n));
const state = (c: string): string => ok(d.berth(['inspect', '-f', '{{.State.Status}}', c])).trim();
const removeAll = (): void => {
  const ids = allIds();
  if (ids.length) ok(d.berth(['rm', '-f', ...ids]));
};
const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A berth client running in the background, its output collected. */
interface Bg {
  readonly proc: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}
function bg(args: string[]): Bg {
  const proc = spawn(process.execPath, [BERTH, ...args], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const b: Bg = {
    proc,
    out: '',
    err: '',
    exited: new Promise((r) => proc.once('exit', (code) => r(code))),
  };
  proc.stdout?.on('data', (x: Buffer) => (b.out += x.toString()));
  proc.stderr?.on('data', (x: Buffer) => (b.err += x.toString()));
  return b;
}
async function killBg(b: Bg): Promise<void> {
  if (b.proc.exitCode === null && b.proc.signalCode === null) b.proc.kill('SIGKILL');
  await b.exited;
}

/** If a test took berthd down, note it and start it again so later tests still mean something. */
async function berthdDied(): Promise<boolean> {
  const p = (d as unknown as { proc?: ChildProcess }).proc;
  if (!p || (p.exitCode === null && p.signalCode === null)) return false;
  await d.start();
  return true;
}

const TICKER = 'i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.1; done';

describe('bad input is refused with 125 and leaves nothing behind', () => {
  test('unknown image', () => {
    const before = allIds().length;
    const r = d.berth(['run', '--name', 'ghost', 'nosuchimage', 'true']);
    assert.equal(r.code, 125, show(r));
    assert.match(r.stderr, /Unable to find image 'nosuchimage:latest' locally/);
    assert.match(r.stderr, /Error response from daemon: .*(nosuchimage|registry-1\.docker\.io)/);
    assert.equal(allIds().length, before);
    assert.equal(d.berth(['inspect', 'ghost']).code, 1);
    const c = d.berth(['create', 'nosuchimage']);
    assert.equal(c.code, 125, show(c));
    assert.equal(allIds().length, before);
  });

  test('bad reference', () => {
    const before = allIds().length;
    const dirs = containerDirs().length;
    const r = d.berth(['run', 'BAD:REF']);
    assert.equal(r.code, 125, show(r));
    assert.match(r.stderr, /invalid reference format/);
    assert.equal(allIds().length, before);
    assert.equal(containerDirs().length, dirs);
  });

  test('bad flag', () => {
    const before = allIds().length;
    const r = d.berth(['run', '--no-such-flag', 'busybox', 'true']);
    assert.equal(r.code, 125, show(r));
    assert.match(r.stderr, /unknown flag: --no-such-flag/);
    assert.equal(r.stdout, '');
    assert.equal(allIds().length, before);
  });

  test('image without a command: "No command specified"', () => {
    ok(d.berth(['import', busyboxTarball(), 'nocmd:latest']));
    const before = allIds().length;
    const dirs = containerDirs().length;
    for (const args of [['run', 'nocmd'], ['run', '--rm', 'nocmd'], ['run', '-d', 'nocmd'], ['create', '--name', 'nocmd-c', 'nocmd']]) {
      const r = d.berth(args);
      assert.equal(r.code, 125, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, /No command specified/);
    }
    assert.equal(allIds().length, before);
    assert.equal(containerDirs().length, dirs);
    assert.equal(d.berth(['inspect', 'nocmd-c']).code, 1, 'the name was not taken');
    // with a command it runs
    assert.equal(ok(d.berth(['run', '--rm', 'nocmd', 'echo', 'fine'])), 'fine\n');
  });

  test('duplicate --name: Conflict, and the first container is untouched', () => {
    const id = ok(d.berth(['run', '-d', '--name', 'dup', 'busybox', 'sleep', '600'])).trim();
    const pid = ok(d.berth(['inspect', '-f', '{{.State.Pid}}', 'dup'])).trim();
    const before = allIds().length;
    for (const verb of ['run', 'create']) {
      const r = d.berth([verb, '--name', 'dup', 'busybox', 'true']);
      assert.equal(r.code, 125, show(r));
      assert.match(r.stderr, /Conflict\. The container name "\/dup" is already in use by container "[a-f0-9]{64}"/);
      assert.ok(r.stderr.includes(id), 'names the holder');
    }
    assert.equal(allIds().length, before);
    assert.equal(ok(d.berth(['inspect', '-f', '{{.Id}} {{.State.Status}} {{.State.Pid}}', 'dup'])).trim(), `${id} running ${pid}`);
    ok(d.berth(['rm', '-f', 'dup']));
  });

  test('daemon errors end with exactly one period (docker run: "…reuse that name." then "See …")', () => {
    ok(d.berth(['create', '--name', 'dup2', 'busybox', 'true']));
    const r = d.berth(['run', '--name', 'dup2', 'busybox', 'true']);
    assert.equal(r.code, 125, show(r));
    assert.match(r.stderr, /to be able to reuse that name\.\nSee 'berth run --help'\.\n/, r.stderr);
    ok(d.berth(['rm', 'dup2']));
  });
});

describe('commands that cannot run', () => {
  test('missing command: 127, container left created/exited with the error', () => {
    const r = d.berth(['run', '--name', 'nocmd127', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, show(r));
    assert.match(r.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
    const [status, code, ...err] = ok(d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', 'nocmd127'])).trim().split(' ');
    assert.ok(status === 'created' || status === 'exited', `status ${status}`);
    assert.equal(code, '127');
    assert.match(err.join(' '), /executable file not found in \$PATH/);
    // nothing of the failed start is left mounted or in the run root
    const id = ok(d.berth(['inspect', '-f', '{{.Id}}', 'nocmd127'])).trim();
    assert.deepEqual(leftoverMounts(join(d.root, 'containers', id)), []);
    assert.ok(!existsSync(join(d.run, 'c', id)), 'monitor dir left');
    assert.ok(!existsSync(join(d.run, 's', id.slice(0, 12))), 'socket dir left');
    // an absolute path that does not exist
    const r2 = d.berth(['run', '--rm', 'busybox', '/no/such/file']);
    assert.equal(r2.code, 127, show(r2));
    assert.match(r2.stderr, /no such file or directory/);
    ok(d.berth(['rm', 'nocmd127']));
  });

  test('missing command with --rm: 127 and the container is removed', () => {
    const before = allIds().length;
    const r = d.berth(['run', '--rm', '--name', 'nocmd-rm', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, show(r));
    assert.match(r.stderr, /executable file not found in \$PATH/);
    assert.equal(d.berth(['inspect', 'nocmd-rm']).code, 1);
    assert.equal(allIds().length, before);
  });

  test('non-executable entrypoint: 126', () => {
    const r = d.berth(['run', '--name', 'noexec', '--entrypoint', '/etc/passwd', 'busybox']);
    assert.equal(r.code, 126, show(r));
    assert.match(r.stderr, /permission denied/);
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.ExitCode}}', 'noexec'])).trim(), '126');
    const r2 = d.berth(['run', '--rm', 'busybox', '/tmp']);
    assert.equal(r2.code, 126, `a directory: ${show(r2)}`);
    ok(d.berth(['rm', 'noexec']));
  });

  test('--rm with a failed start leaves nothing (attached and -d)', () => {
    const before = allIds().length;
    const dirs = containerDirs().length;
    const r = d.berth(['run', '--rm', '--name', 'rmfail', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, show(r));
    const r2 = d.berth(['run', '-d', '--rm', '--name', 'rmfail2', '--entrypoint', '/etc/passwd', 'busybox']);
    assert.equal(r2.code, 126, show(r2));
    assert.equal(r2.stdout, '', 'no ID printed for a container that never started');
    assert.equal(allIds().length, before);
    assert.equal(containerDirs().length, dirs);
    // the names are free again
    ok(d.berth(['create', '--name', 'rmfail', 'busybox', 'true']));
    ok(d.berth(['create', '--name', 'rmfail2', 'busybox', 'true']));
    ok(d.berth(['rm', 'rmfail', 'rmfail2']));
  });
});

describe('running containers', () => {
  test('rm of a running container is refused; it keeps running', () => {
    const id = ok(d.berth(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '600'])).trim();
    const pid = Number(ok(d.berth(['inspect', '-f', '{{.State.Pid}}', 'busy'])));
    const r = d.berth(['rm', 'busy']);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, new RegExp(`You cannot remove a running container ${id}\\. Stop the container before attempting removal or force remove`));
    assert.equal(state('busy'), 'running');
    assert.ok(pidAlive(pid));
    assert.equal(ok(d.berth(['exec', 'busy', 'echo', 'alive'])), 'alive\n');
    ok(d.berth(['rm', '-f', 'busy']));
    assert.equal(d.berth(['inspect', 'busy']).code, 1);
  });

  test('process killed from the host (kill -9 of State.Pid) → exited 137', async () => {
    ok(d.berth(['run', '-d', '--name', 'victim', 'busybox', 'sleep', '600']));
    const pid = Number(ok(d.berth(['inspect', '-f', '{{.State.Pid}}', 'victim'])));
    assert.ok(pid > 0);
    process.kill(pid, 'SIGKILL');
    await until(() => state('victim') === 'exited', 'victim to exit');
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Pid}}', 'victim'])).trim(), '137 false 0');
    assert.equal(ok(d.berth(['wait', 'victim'])).trim(), '137');
    assert.match(ok(d.berth(['ps', '-a', '-f', 'name=victim', '--format', '{{.Status}}'])), /^Exited \(137\)/);
    // it can be started again
    ok(d.berth(['start', 'victim']));
    assert.equal(state('victim'), 'running');
    ok(d.berth(['rm', '-f', 'victim']));
  });

  test('conmon killed from the host → exited with an error, the process does not run on', async () => {
    const id = ok(d.berth(['run', '-d', '--name', 'orphan', 'busybox', 'sleep', '600'])).trim();
    const pid = Number(ok(d.berth(['inspect', '-f', '{{.State.Pid}}', 'orphan'])));
    const conmon = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.includes('conmon') && l.includes(`-c ${id}`))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
    assert.equal(conmon.length, 1, 'one conmon for the container');
    process.kill(conmon[0] ?? 0, 'SIGKILL');
    await until(() => state('orphan') === 'exited', 'orphan to be marked exited');
    const [code, ...err] = ok(d.berth(['inspect', '-f', '{{.State.ExitCode}} {{.State.Error}}', 'orphan'])).trim().split(' ');
    assert.notEqual(code, '0');
    assert.match(err.join(' '), /monitor/);
    await until(() => !pidAlive(pid) || /^Z/.test(spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim()), 'the process to be killed');
    assert.deepEqual(leftoverMounts(join(d.root, 'containers', id)), []);
    // it can be started again
    ok(d.berth(['start', 'orphan']));
    assert.equal(state('orphan'), 'running');
    ok(d.berth(['rm', '-f', 'orphan']));
  });

  test('OOM-killed container: State.OOMKilled and exit 137', () => {
    const r = d.berth(['run', '--name', 'oom', '-m', '8m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done'], { timeout: 120000 });
    assert.equal(r.code, 137, show(r));
    assert.equal(ok(d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}', 'oom'])).trim(), 'exited 137 true');
    ok(d.berth(['rm', 'oom']));
  });

  for (const how of ['attach', 'run'] as const) {
    test(`a client that disconnects mid-${how} (SIGKILL): the container keeps running`, async () => {
      const name = `detach-${how}`;
      let client: Bg;
      if (how === 'attach') {
        ok(d.berth(['run', '-d', '--name', name, 'busybox', 'sh', '-c', TICKER]));
        client = bg(['attach', name]);
      } else {
        client = bg(['run', '--name', name, 'busybox', 'sh', '-c', TICKER]);
      }
      await until(() => /tick\d+\ntick\d+\n/.test(client.out), `output through ${how}`);
      const pid = Number(ok(d.berth(['inspect', '-f', '{{.State.Pid}}', name])));
      await killBg(client);
      // berthd still answers and the container is untouched
      assert.notEqual(ok(d.berth(['version', '--format', '{{.Server.Version}}'])).trim(), '');
      assert.equal(state(name), 'running');
      assert.ok(pidAlive(pid));
      // logs keep growing
      const n = ok(d.berth(['logs', name])).split('\n').length;
      await until(() => ok(d.berth(['logs', name])).split('\n').length > n + 3, 'logs to grow');
      // a new attach works and sees new output
      const again = bg(['attach', name]);
      await until(() => /tick\d+\n/.test(again.out), 'output through a new attach');
      const first = Number(/tick(\d+)/.exec(again.out)?.[1]);
      assert.ok(first > n - 1, `new attach sees new output (tick${first}, log had ${n - 1} lines)`);
      await killBg(again);
      assert.equal(state(name), 'running');
      ok(d.berth(['ps']));
      ok(d.berth(['rm', '-f', name]));
    });
  }

  test('a client killed mid-exec (SIGKILL while output streams): berthd survives, the container runs on', async () => {
    ok(d.berth(['run', '-d', '--name', 'exec-kill', 'busybox', 'sh', '-c', TICKER]));
    let died = false;
    try {
      for (let i = 0; i < 3 && !died; i++) {
        const client = bg(['exec', 'exec-kill', 'sh', '-c', 'while true; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done']);
        await until(() => client.out.length > 10000, 'exec output');
        await killBg(client);
        // berthd would go down within moments of the failed write
        await sleep(500);
        died = await berthdDied();
      }
      assert.equal(died, false, `berthd died after an exec client went away:\n${d.log.split('\n').filter((l) => /Error|EPIPE|throw/.test(l)).slice(0, 4).join('\n')}`);
      assert.equal(state('exec-kill'), 'running');
      assert.equal(ok(d.berth(['exec', 'exec-kill', 'echo', 'still'])), 'still\n');
    } finally {
      d.berth(['rm', '-f', 'exec-kill']);
    }
  });
});

test('a reader that goes away (berth … | head) ends the client quietly, like docker', async () => {
  ok(d.berth(['run', '-d', '--name', 'piped', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.05; done']));
  const q = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
  const berth = [process.execPath, BERTH].map(q).join(' ');
  const noisy: string[] = [];
  for (const cmd of [`logs -f piped`, `attach piped`, `exec piped sh -c 'yes | head -c 200000'`]) {
    const r = spawnSync('bash', ['-c', `${berth} ${cmd} | head -n 2`], { env: d.env, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.stdout.split('\n').length, 3, `${cmd}: ${r.stdout}`);
    if (r.stderr !== '') noisy.push(`berth ${cmd} | head -n 2:\n${r.stderr.split('\n').slice(0, 6).join('\n')}`);
  }
  const died = await berthdDied();
  assert.equal(died, false, 'berthd died');
  assert.equal(state('piped'), 'running');
  assert.deepEqual(noisy, [], 'nothing on stderr');
  ok(d.berth(['rm', '-f', 'piped']));
});

describe('concurrency and lookup', () => {
  test('20 concurrent run --rm: all succeed, distinct hostnames, nothing left', async () => {
    removeAll();
    const runDirs = ['s', 'exits', 'c', 'e'].map((sub) => join(d.run, sub));
    const listing = (p: string): string[] => (existsSync(p) ? readdirSync(p) : []);
    const beforeRun = new Map(runDirs.map((p) => [p, new Set(listing(p))]));
    const runs = await Promise.all(Array.from({ length: 20 }, () => d.berthAsync(['run', '--rm', 'busybox', 'sh', '-c', 'echo $HOSTNAME'])));
    for (const r of runs) assert.equal(r.code, 0, show(r));
    const outs = runs.map((r) => r.stdout.trim());
    for (const o of outs) assert.match(o, /^[a-f0-9]{12}$/);
    assert.equal(new Set(outs).size, 20);
    await until(() => allIds().length === 0, 'no containers left');
    assert.deepEqual(containerDirs(), []);
    assert.deepEqual(leftoverMounts(d.root), []);
    for (const p of runDirs) {
      // (compared with what was there before: an earlier failure must not fail this test)
      const was = beforeRun.get(p) ?? new Set();
      assert.deepEqual(listing(p).filter((n) => !was.has(n)), [], `leftovers in ${p}`);
    }
  });

  test('ambiguous ID prefix is an error naming the prefix', () => {
    const existing = allIds().length;
    const ids: string[] = [];
    let shared: string | undefined;
    while (shared === undefined) {
      const id = ok(d.berth(['create', 'busybox', 'true'])).trim();
      shared = ids.find((x) => x[0] === id[0])?.[0];
      ids.push(id);
      assert.ok(ids.length <= 17);
    }
    const r = d.berth(['inspect', shared]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, new RegExp(`multiple IDs found with provided prefix: ${shared}`, 'i'));
    const rm = d.berth(['rm', shared]);
    assert.notEqual(rm.code, 0, show(rm));
    assert.match(rm.stderr, /multiple IDs found with provided prefix/i);
    assert.equal(allIds().length, existing + ids.length, 'nothing removed');
    // a unique (longer) prefix still works
    const one = ids.find((x) => x[0] === shared) ?? '';
    assert.equal(ok(d.berth(['inspect', '-f', '{{.Id}}', one.slice(0, 12)])).trim(), one);
    ok(d.berth(['rm', ...ids]));
  });
});

test('stop leaves no conmon processes for this daemon', async () => {
  ok(d.berth(['run', '-d', '--name', 'last', 'busybox', 'sleep', '600']));
  const base = d.base;
  stopped = true;
  await d.stop();
  const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
  const left = ps.split('\n').filter((l) => l.includes('conmon') && l.includes(base));
  assert.deepEqual(left, []);
});
