// berthd going away (SIGKILL or SIGTERM) and coming back: containers run on under conmon, and
// the restarted daemon reconciles each one with conmon's exit file, conmon's pid and runc.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BERTH, TestDaemon, leftoverMounts, sleep, until, withDaemon } from '../helpers/daemon.ts';

type Result = { code: number; stdout: string; stderr: string };

let d: TestDaemon;
let stopped = false;
before(async () => {
  d = await withDaemon();
});
// a test that fails while berthd is down must not take the rest of the file (or the cleanup) with it
const ensureUp = async (): Promise<void> => {
  const p = (d as unknown as { proc?: ChildProcess }).proc;
  if (!stopped && p && (p.exitCode !== null || p.signalCode !== null)) await d.start();
};
beforeEach(ensureUp);
after(async () => {
  await ensureUp();
  if (!stopped) await d.stop();
});

const ok = (r: Result): string => {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};
const show = (r: Result): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const inspect = (c: string, f: string): string => ok(d.berth(['inspect', '-f', f, c])).trim();
const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Numbers of the tick lines in a log, in order. */
const ticks = (log: string): number[] => [...log.matchAll(/^tick(\d+)$/gm)].map((m) => Number(m[1]));
const TICKER = 'i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.1; done';

/** SIGTERM berthd and wait for it to exit (a clean shutdown, unlike d.crash()). */
async function terminate(): Promise<void> {
  const p = (d as unknown as { proc?: ChildProcess }).proc;
  assert.ok(p, 'berthd process');
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

/** A berth client in the background, its output collected. */
function bg(args: string[]): { proc: ChildProcess; out: () => string; kill: () => Promise<void> } {
  const proc = spawn(process.execPath, [BERTH, ...args], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    proc,
    out: () => out,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Nothing of a finished container is left in the run root or mounted. */
function assertReleased(id: string): void {
  assert.ok(!existsSync(join(d.run, 'exits', id)), 'exit file left');
  assert.ok(!existsSync(join(d.run, 's', id.slice(0, 12))), 'attach socket dir left');
  assert.ok(!existsSync(join(d.run, 'c', id)), 'monitor dir left');
  assert.deepEqual(leftoverMounts(join(d.root, 'containers', id)), [], 'rootfs still mounted');
}

test('a running container survives berthd being SIGKILLed; logs, attach, exec and stop work afterwards', async () => {
  const id = ok(d.berth(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', TICKER])).trim();
  const pid = Number(inspect('survivor', '{{.State.Pid}}'));
  const startedAt = inspect('survivor', '{{.State.StartedAt}}');
  await until(() => ticks(d.berth(['logs', 'survivor']).stdout).length >= 3, 'first ticks');

  await d.crash();
  const down = d.berth(['ps']);
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /Cannot connect to the berth daemon/);
  assert.ok(pidAlive(pid), 'container process alive while berthd is down');
  const lastBefore = ticks(readLog(id)).at(-1) ?? 0;
  await until(() => (ticks(readLog(id)).at(-1) ?? 0) >= lastBefore + 5, 'output while berthd is down');

  await d.start();
  assert.equal(inspect('survivor', '{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}'), `running ${pid} ${startedAt}`);
  assert.match(ok(d.berth(['ps', '--format', '{{.Names}} {{.Status}}'])), /^survivor Up /m);

  // logs: every line, none lost or repeated across the crash
  const got = ticks(ok(d.berth(['logs', 'survivor'])));
  assert.ok(got.length >= lastBefore + 5, `log has ${got.length} ticks`);
  assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));

  // attach sees new output
  const a = bg(['attach', 'survivor']);
  await until(() => ticks(a.out()).length >= 2, 'output through attach after restart');
  assert.ok((ticks(a.out())[0] ?? 0) > got.length - 1);
  await a.kill();

  // exec
  assert.equal(ok(d.berth(['exec', 'survivor', 'sh', '-c', 'echo exec-$HOSTNAME'])), `exec-${id.slice(0, 12)}\n`);
  const e = d.berth(['exec', 'survivor', 'sh', '-c', 'exit 5']);
  assert.equal(e.code, 5, show(e));

  // stop: sh as PID 1 ignores TERM, so it is killed after the timeout
  ok(d.berth(['stop', '-t', '1', 'survivor']));
  assert.equal(inspect('survivor', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
  assert.ok(!pidAlive(pid));
  assertReleased(id);
  ok(d.berth(['rm', 'survivor']));
});

test('a container that exits while berthd is down shows its real exit code after restart', async () => {
  const id = ok(d.berth(['run', '-d', '--name', 'shortlived', 'busybox', 'sh', '-c', 'echo hello; sleep 2; echo bye; exit 7'])).trim();
  const pid = Number(inspect('shortlived', '{{.State.Pid}}'));
  await d.crash();
  await until(() => !pidAlive(pid), 'the container to exit while berthd is down', 15000);
  await d.start();
  await until(() => inspect('shortlived', '{{.State.Status}}') === 'exited', 'shortlived exited');
  assert.equal(inspect('shortlived', '{{.State.ExitCode}} {{.State.Pid}} {{.State.OOMKilled}}'), '7 0 false');
  assert.equal(inspect('shortlived', '{{.State.Error}}'), '');
  assert.notEqual(inspect('shortlived', '{{.State.FinishedAt}}'), '0001-01-01T00:00:00Z');
  assert.equal(ok(d.berth(['wait', 'shortlived'])).trim(), '7');
  assert.equal(ok(d.berth(['logs', 'shortlived'])), 'hello\nbye\n');
  assert.match(ok(d.berth(['ps', '-a', '-f', 'name=shortlived', '--format', '{{.Status}}'])), /^Exited \(7\)/);
  assertReleased(id);
  // it can run again
  const again = d.berth(['start', '-a', 'shortlived']);
  assert.equal(again.code, 7, show(again));
  assert.equal(again.stdout, 'hello\nbye\n');
  ok(d.berth(['rm', 'shortlived']));
});

test('a --rm container that exits while berthd is down is removed after restart', async () => {
  const id = ok(d.berth(['run', '-d', '--rm', '--name', 'ephemeral', 'busybox', 'sh', '-c', 'sleep 2'])).trim();
  const pid = Number(inspect('ephemeral', '{{.State.Pid}}'));
  await d.crash();
  await until(() => !pidAlive(pid), 'the container to exit while berthd is down', 15000);
  await d.start();
  await until(() => d.berth(['inspect', 'ephemeral']).code !== 0, 'ephemeral removed');
  assert.match(d.berth(['inspect', 'ephemeral']).stderr, /No such (object|container)/);
  assert.ok(!ok(d.berth(['ps', '-aq', '--no-trunc'])).includes(id));
  assert.ok(!existsSync(join(d.root, 'containers', id)), 'container dir left');
  assertReleased(id);
  // the name is free again
  ok(d.berth(['create', '--name', 'ephemeral', 'busybox', 'true']));
  ok(d.berth(['rm', 'ephemeral']));
});

test('a container OOM-killed while berthd is down shows OOMKilled after restart', async () => {
  ok(d.berth(['run', '-d', '--name', 'oom-down', '-m', '8m', 'busybox', 'sh', '-c', 'sleep 2; x=a; while true; do x=$x$x; done']));
  const pid = Number(inspect('oom-down', '{{.State.Pid}}'));
  await d.crash();
  await until(() => !pidAlive(pid), 'the container to be OOM-killed while berthd is down', 30000);
  await d.start();
  await until(() => inspect('oom-down', '{{.State.Status}}') === 'exited', 'oom-down exited');
  assert.equal(inspect('oom-down', '{{.State.ExitCode}} {{.State.OOMKilled}}'), '137 true');
  ok(d.berth(['rm', 'oom-down']));
});

test('an exec running across a crash: the container is fine and nothing of the exec is left once it ends', async () => {
  const id = ok(d.berth(['run', '-d', '--name', 'exec-crash', 'busybox', 'sleep', '600'])).trim();
  const listing = (sub: string): string[] => (existsSync(join(d.run, sub)) ? readdirSync(join(d.run, sub)) : []);
  const before = { s: listing('s'), e: listing('e') };
  ok(d.berth(['exec', '-d', 'exec-crash', 'sh', '-c', 'sleep 2; touch /tmp/exec-done']));
  await d.crash();
  await d.start();
  assert.equal(inspect('exec-crash', '{{.State.Status}}'), 'running');
  await until(() => d.berth(['exec', 'exec-crash', 'test', '-e', '/tmp/exec-done']).code === 0, 'the exec to finish', 15000);
  ok(d.berth(['rm', '-f', 'exec-crash']));
  assertReleased(id);
  // the exec session's dirs in the run root (e/<exec>, s/<exec>) are gone too
  await until(() => conmonsOf(id).length === 0, 'conmons to exit');
  assert.deepEqual({ s: listing('s').filter((n) => !before.s.includes(n)), e: listing('e').filter((n) => !before.e.includes(n)) }, { s: [], e: [] });
});

test('a container paused across a crash stays paused and can be unpaused', async () => {
  ok(d.berth(['run', '-d', '--name', 'frozen', 'busybox', 'sh', '-c', TICKER]));
  ok(d.berth(['pause', 'frozen']));
  await d.crash();
  await d.start();
  assert.equal(inspect('frozen', '{{.State.Status}}'), 'paused');
  ok(d.berth(['unpause', 'frozen']));
  const n = ticks(ok(d.berth(['logs', 'frozen']))).length;
  await until(() => ticks(d.berth(['logs', 'frozen']).stdout).length > n + 2, 'ticks after unpause');
  ok(d.berth(['rm', '-f', 'frozen']));
});

test('a crash in the middle of create (dir without container.json) is swept at start', async () => {
  await d.crash();
  const id = randomBytes(32).toString('hex');
  const dir = join(d.root, 'containers', id);
  for (const sub of ['upper', 'work', 'rootfs', 'bundle']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'hostname'), `${id.slice(0, 12)}\n`);
  writeFileSync(join(dir, 'upper', 'junk'), 'x');
  await d.start();
  assert.ok(!existsSync(dir), 'incomplete container dir swept');
  assert.ok(!ok(d.berth(['ps', '-aq', '--no-trunc'])).includes(id));
  assert.equal(d.berth(['inspect', id]).code, 1);
  // the daemon works normally
  assert.equal(ok(d.berth(['run', '--rm', 'busybox', 'echo', 'after-sweep'])), 'after-sweep\n');
});

// Each case crashes berthd at one point of `berth start`. The last window (state saved as running,
// `runc start` not yet run) is a few milliseconds wide, so that case tries a few times.
for (const [when, reached, attempts] of [
  ['its rootfs is mounted', (id: string): boolean => leftoverMounts(join(d.root, 'containers', id)).length > 0, 1],
  ['runc has created it', (id: string): boolean => existsSync(join(d.run, 'runc', id, 'state.json')), 1],
  ['berth has recorded it as running', (id: string): boolean => /"status":\s*"running"/.test(readFileSync(join(d.root, 'containers', id, 'container.json'), 'utf8')), 5],
] as const) {
  test(`a crash in the middle of start (once ${when}) leaves a consistent container`, async () => {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const id = ok(d.berth(['create', 'busybox', 'sh', '-c', 'echo started; exec sleep 600'])).trim();
      const client = bg(['start', id]);
      const deadline = Date.now() + 15000;
      // a busy poll (no yielding): the windows are narrow
      while (!reached(id)) assert.ok(Date.now() < deadline, `timed out waiting until ${when}`);
      await d.crash();
      await client.kill();
      await d.start();
      const status = inspect(id, '{{.State.Status}}');
      if (status === 'running') {
        // running means running: the command really started and the process is alive
        await until(() => d.berth(['logs', id]).stdout === 'started\n', 'the command of a container shown as running to have started (nothing in its logs)', 5000);
        assert.ok(pidAlive(Number(inspect(id, '{{.State.Pid}}'))));
      } else {
        assert.match(status, /^(created|exited)$/);
        // a container that is not running holds nothing: no mount, no runc container, no conmon
        assert.deepEqual(leftoverMounts(join(d.root, 'containers', id)), [], 'rootfs still mounted');
        assert.ok(!existsSync(join(d.run, 'runc', id)), `runc still has the container: ${spawnSync('runc', ['--root', join(d.run, 'runc'), 'state', id], { encoding: 'utf8' }).stdout}`);
        assert.deepEqual(conmonsOf(id), []);
        ok(d.berth(['start', id]));
        await until(() => d.berth(['logs', id]).stdout.includes('started\n'), 'the command to start');
        assert.equal(leftoverMounts(join(d.root, 'containers', id)).length, 1, 'one rootfs mount');
      }
      ok(d.berth(['rm', '-f', id]));
      assert.deepEqual(leftoverMounts(join(d.root, 'containers', id)), []);
      assert.ok(!existsSync(join(d.run, 'runc', id)));
      await until(() => conmonsOf(id).length === 0, 'conmon to exit');
      assertReleased(id);
    }
  });
}

test('restarting berthd (SIGTERM, then start) does not touch running containers', async () => {
  const id = ok(d.berth(['run', '-d', '--name', 'steady', 'busybox', 'sh', '-c', TICKER])).trim();
  const pid = Number(inspect('steady', '{{.State.Pid}}'));
  const startedAt = inspect('steady', '{{.State.StartedAt}}');
  await until(() => ticks(d.berth(['logs', 'steady']).stdout).length >= 2, 'first ticks');
  await terminate();
  assert.ok(pidAlive(pid), 'container alive after berthd exited');
  await sleep(500);
  assert.ok(pidAlive(pid), 'container still alive');
  await d.start();
  assert.equal(inspect('steady', '{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}'), `running ${pid} ${startedAt}`);
  const got = ticks(ok(d.berth(['logs', 'steady'])));
  assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
  assert.equal(ok(d.berth(['exec', 'steady', 'echo', 'ok'])), 'ok\n');
  // a second graceful restart in a row
  await terminate();
  await d.start();
  assert.equal(inspect('steady', '{{.State.Status}} {{.State.Pid}}'), `running ${pid}`);
  ok(d.berth(['kill', 'steady']));
  assert.equal(ok(d.berth(['wait', 'steady'])).trim(), '137');
  assertReleased(id);
  ok(d.berth(['rm', 'steady']));
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

/** conmon processes of a container. */
function conmonsOf(id: string): string[] {
  return spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('conmon') && l.includes(id));
}

/** The container's log file as written by conmon (readable while berthd is down). */
function readLog(id: string): string {
  const p = join(d.root, 'containers', id, 'ctr.log');
  // conmon's k8s-file format: "<time> stdout F tick1"
  return readFileSync(p, 'utf8')
    .split('\n')
    .map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, ''))
    .join('\n');
}
