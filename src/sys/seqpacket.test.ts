import { strict as assert } from 'node:assert';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Socket as NetSocket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AF_UNIX,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_SEQPACKET,
  accept,
  bindUnix,
  close,
  listen,
  openPollCount,
  recv,
  send,
  socket,
} from './libc.ts';
import { connectSeqpacket, type SeqpacketSocket } from './seqpacket.ts';

// Short paths: sun_path holds 107 bytes. Everything lives under one temp dir removed at the end.
let tmp = '';
before(() => {
  tmp = mkdtempSync('/tmp/bsq-');
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function errorCode(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (e: { code?: unknown }) => e.code,
  );
}

/** What a socket delivered, by record. */
function collect(sock: SeqpacketSocket) {
  const records: Buffer[] = [];
  const errors: Error[] = [];
  let ended = false;
  let closed = false;
  sock.on('data', (r: Buffer) => records.push(r));
  sock.on('error', (e: Error) => errors.push(e));
  sock.on('end', () => (ended = true));
  sock.on('close', () => (closed = true));
  return {
    records,
    errors,
    get ended() {
      return ended;
    },
    get closed() {
      return closed;
    },
    /** Concatenated payload (after the type byte) of records of stream `type`. */
    stream(type: number): string {
      return Buffer.concat(records.filter((r) => r[0] === type).map((r) => r.subarray(1))).toString();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A local SOCK_SEQPACKET listener, for what needs no container.

function listenSeqpacket(path: string): number {
  const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
  bindUnix(fd, path);
  listen(fd, 4);
  return fd;
}

/** Every record queued on a (server-side, blocking) fd, without waiting. */
function drainRecords(fd: number): Buffer[] {
  const buf = Buffer.alloc(1 << 17);
  const out: Buffer[] = [];
  for (;;) {
    const n = recv(fd, buf, MSG_DONTWAIT);
    if (n <= 0) return out;
    out.push(Buffer.from(buf.subarray(0, n)));
  }
}

describe('seqpacket (local listener)', () => {
  test('connect errors carry errno codes', async () => {
    assert.equal(await errorCode(connectSeqpacket(join(tmp, 'nope'))), 'ENOENT');
    assert.equal(await errorCode(connectSeqpacket(`/tmp/${'x'.repeat(120)}`)), 'ENAMETOOLONG');
    const stale = join(tmp, 'stale');
    const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
    bindUnix(fd, stale); // a socket file nobody listens on, as conmon leaves it when killed
    assert.equal(await errorCode(connectSeqpacket(stale)), 'ECONNREFUSED');
    close(fd);
    const plain = join(tmp, 'plain');
    writeFileSync(plain, '');
    assert.equal(await errorCode(connectSeqpacket(plain)), 'ECONNREFUSED');
  });

  test('records keep their boundaries both ways; big writes split at 32768; empty writes send nothing', async () => {
    const path = join(tmp, 'l1');
    const lfd = listenSeqpacket(path);
    const sock = await connectSeqpacket(path);
    const got = collect(sock);
    const sfd = accept(lfd);
    try {
      sock.write(Buffer.from('one'));
      sock.write(new Uint8Array(0));
      sock.write(Buffer.from('two'));
      const big = randomBytes(100_000);
      sock.write(big);
      await waitUntil('writes flushed', () => sock.writableLength === 0);
      const recs = drainRecords(sfd);
      assert.deepEqual(
        recs.map((r) => r.length),
        [3, 3, 32768, 32768, 32768, 1696],
      );
      assert.equal(recs[0]?.toString(), 'one');
      assert.deepEqual(Buffer.concat(recs.slice(2)), big);

      for (const s of ['\x02a', '\x03bb', '\x02ccc']) send(sfd, Buffer.from(s, 'latin1'), 0);
      const large = Buffer.alloc(100_000, 9);
      send(sfd, large, 0);
      await waitUntil('records', () => got.records.length === 4);
      assert.deepEqual(
        got.records.slice(0, 3).map((r) => r.toString('latin1')),
        ['\x02a', '\x03bb', '\x02ccc'],
      );
      assert.deepEqual(got.records[3], large);
    } finally {
      sock.destroy();
      close(sfd);
      close(lfd);
    }
    await waitUntil('close', () => got.closed);
    assert.equal(got.ended, false);
    assert.deepEqual(got.errors, []);
  });

  test('peer closing with our writes unread: its last records, then end, then close, no error', async () => {
    const path = join(tmp, 'l2');
    const lfd = listenSeqpacket(path);
    const sock = await connectSeqpacket(path);
    const sfd = accept(lfd);
    sock.write(Buffer.from('never read by the peer'));
    await waitUntil('write flushed', () => sock.writableLength === 0);
    send(sfd, Buffer.from('last-1'), 0);
    send(sfd, Buffer.from('last-2'), 0);
    close(sfd); // unread data in its queue: our socket gets ECONNRESET (POLLERR) before the records
    close(lfd);
    await delay(20);
    const got = collect(sock); // reading starts only now
    const events: string[] = [];
    sock.on('end', () => events.push('end'));
    sock.on('close', () => events.push('close'));
    await waitUntil('close', () => got.closed);
    assert.deepEqual(
      got.records.map((r) => r.toString()),
      ['last-1', 'last-2'],
    );
    assert.deepEqual(events, ['end', 'close']);
    assert.deepEqual(got.errors, []);
    assert.equal(sock.destroyed, true);
    sock.write(Buffer.from('dropped after destroy')); // no throw
  });

  test('end() after queued writes: all records arrive, then EOF', async () => {
    const path = join(tmp, 'l3');
    const lfd = listenSeqpacket(path);
    const sock = await connectSeqpacket(path);
    const sfd = accept(lfd);
    const got = collect(sock);
    // More than the socket buffer holds: the rest waits for POLLOUT, end() waits for the rest.
    const total = 4 * 1024 * 1024;
    assert.equal(sock.write(Buffer.alloc(total, 1)), false);
    let drained = false;
    sock.once('drain', () => (drained = true));
    sock.end();
    assert.throws(() => sock.write(Buffer.from('x')), { code: 'ERR_STREAM_WRITE_AFTER_END' });
    const buf = Buffer.alloc(1 << 16);
    let received = 0;
    let eof = false;
    while (!eof) {
      const n = recv(sfd, buf, MSG_DONTWAIT);
      if (n > 0) received += n;
      else if (n === 0) eof = true;
      else await delay(1); // EAGAIN: let the client's poll send more
    }
    assert.equal(received, total);
    assert.equal(drained, true);
    send(sfd, Buffer.from('reply after EOF'), 0);
    await waitUntil('reply', () => got.records.length === 1);
    close(sfd);
    close(lfd);
    await waitUntil('close', () => got.closed);
    assert.equal(got.ended, true);
    assert.deepEqual(got.errors, []);
  });

  /** Run `code` (TypeScript, with `connectSeqpacket` and the libc exports in scope) in a fresh node process. */
  function runScript(name: string, code: string, killAfterMs: number): Promise<{ status: number | null | 'alive'; stdout: string; stderr: string }> {
    const script = join(tmp, `${name}.mts`);
    const seqUrl = new URL('./seqpacket.ts', import.meta.url).href;
    const libcUrl = new URL('./libc.ts', import.meta.url).href;
    writeFileSync(script, `import { connectSeqpacket } from ${JSON.stringify(seqUrl)};\nimport * as libc from ${JSON.stringify(libcUrl)};\n${code}`);
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    return new Promise((resolve) => {
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, killAfterMs);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status: killed ? 'alive' : status, stdout, stderr });
      });
    });
  }

  const listenerCode = (path: string) => `
const lfd = libc.socket(libc.AF_UNIX, libc.SOCK_SEQPACKET | libc.SOCK_CLOEXEC);
libc.bindUnix(lfd, ${JSON.stringify(path)});
libc.listen(lfd, 1);
`;

  test('unref() lets the process exit with the socket open; ref() (default) keeps it alive', async () => {
    const code = (path: string, unref: boolean) => `${listenerCode(path)}
const sock = await connectSeqpacket(${JSON.stringify(path)});
sock.on('data', () => {});
${unref ? 'sock.unref();' : ''}
`;
    const unrefd = await runScript('unref', code(join(tmp, 'u1'), true), 5000);
    assert.equal(unrefd.status, 0, unrefd.stderr);
    const refd = await runScript('ref', code(join(tmp, 'u2'), false), 2000);
    assert.equal(refd.status, 'alive', refd.stderr);
  });

  test('an exception in a data listener is an uncaught exception; the socket reads on', async () => {
    const path = join(tmp, 'x1');
    const r = await runScript(
      'throwing-listener',
      `${listenerCode(path)}
const sock = await connectSeqpacket(${JSON.stringify(path)});
const sfd = libc.accept(lfd);
const seen: string[] = [];
process.on('uncaughtException', (e) => seen.push('uncaught ' + e.message));
sock.on('error', (e) => seen.push('error ' + e.message));
sock.on('data', (r) => {
  seen.push('data ' + r.toString());
  if (r.toString() === 'one') throw new Error('listener-bug');
  if (r.toString() === 'three') sock.destroy();
});
sock.on('close', () => { console.log(JSON.stringify(seen)); });
libc.send(sfd, Buffer.from('one'), 0);
setTimeout(() => { libc.send(sfd, Buffer.from('two'), 0); libc.send(sfd, Buffer.from('three'), 0); }, 100);
`,
      10_000,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['data one', 'uncaught listener-bug', 'data two', 'data three']);
  });

  test('promise continuations queued in data and close handlers run at once', async () => {
    // koffi runs native callbacks outside Node's callback scope, where queued microtasks wait
    // for the next unrelated Node callback: here the 1 s timer, in a quiet process.
    const path = join(tmp, 'm1');
    const r = await runScript(
      'microtasks',
      `${listenerCode(path)}
const sock = await connectSeqpacket(${JSON.stringify(path)});
const sfd = libc.accept(lfd);
const t: Record<string, number> = {};
sock.on('data', () => {
  t.data = performance.now();
  Promise.resolve().then(() => { t.dataMicrotask = performance.now(); sock.destroy(); });
});
sock.on('close', () => {
  t.close = performance.now();
  process.nextTick(() => (t.closeTick = performance.now()));
  Promise.resolve().then(() => (t.closeMicrotask = performance.now()));
});
libc.send(sfd, Buffer.from('x'), 0);
setTimeout(() => console.log(JSON.stringify(t)), 1000);
`,
      10_000,
    );
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(r.stdout) as Record<string, number>;
    for (const k of ['data', 'dataMicrotask', 'close', 'closeTick', 'closeMicrotask']) assert.equal(typeof t[k], 'number', `${k} in ${r.stdout}`);
    assert.ok((t.dataMicrotask ?? 0) - (t.data ?? 0) < 100, r.stdout);
    assert.ok((t.closeMicrotask ?? 0) - (t.close ?? 0) < 100, r.stdout);
    assert.ok((t.closeTick ?? 0) - (t.close ?? 0) < 100, r.stdout);
  });
});

// ---------------------------------------------------------------------------------------------
// Real conmon + runc containers (notes §1.1). Needs root, /usr/bin/conmon, /usr/sbin/runc, /bin/busybox.

const CONMON = '/usr/bin/conmon';
const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';

interface Container {
  id: string;
  attach: string;
  start(): Promise<void>;
  exitCode(timeoutMs?: number): Promise<number>;
  remove(): Promise<void>;
}

function runcCmd(runcRoot: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(RUNC, ['--root', runcRoot, ...args], (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('seqpacket against conmon attach', () => {
  let base = '';
  let rootfs = '';
  let runcRoot = '';
  let exits = '';
  let socks = '';
  let spec: Record<string, unknown> = {};
  const live = new Set<Container>();

  before(() => {
    for (const [what, path] of [['conmon', CONMON], ['runc', RUNC], ['busybox', BUSYBOX]] as const) {
      if (!existsSync(path)) throw new Error(`${what} is needed at ${path} for these tests`);
    }
    base = join(tmp, 'c');
    rootfs = join(base, 'rootfs');
    runcRoot = join(base, 'runc');
    exits = join(base, 'exits');
    socks = join(base, 's');
    for (const d of [runcRoot, exits, socks, join(base, 'spec')]) mkdirSync(d, { recursive: true });
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'root', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
    for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
    execFileSync(RUNC, ['spec', '--bundle', join(base, 'spec')]);
    spec = JSON.parse(readFileSync(join(base, 'spec/config.json'), 'utf8')) as Record<string, unknown>;
  });

  after(async () => {
    for (const c of live) await c.remove();
    // runc delete removes each container's cgroup, not the shared parent.
    for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
      if (!existsSync(root)) continue;
      for (const ctl of ['', ...readdirSync(root)]) {
        try {
          rmdirSync(join(root, ctl, 'berth-test'));
        } catch {
          // absent, or not a cgroup hierarchy
        }
      }
    }
  });

  /** conmon -i for `args`, created (runc state `created`) but not started. */
  async function createContainer(args: string[]): Promise<Container> {
    const id = `t${randomBytes(5).toString('hex')}`;
    const dir = join(base, id);
    const bundle = join(dir, 'b');
    mkdirSync(bundle, { recursive: true });
    mkdirSync(join(dir, 'persist')); // conmon does not make it, and dies silently at exit without it
    const config = structuredClone(spec) as {
      process: { terminal: boolean; args: string[] };
      root: { path: string; readonly: boolean };
      hostname: string;
      linux: { cgroupsPath?: string };
    };
    config.process.terminal = false;
    config.process.args = args;
    config.root = { path: rootfs, readonly: false };
    config.hostname = id;
    config.linux.cgroupsPath = `/berth-test/${id}`;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    const conmonPidFile = join(dir, 'conmon.pid');
    const child = spawn(
      CONMON,
      [
        '--api-version', '1', '-c', id, '-u', id, '-r', RUNC, '-b', bundle, '-p', join(dir, 'pidfile'), '-n', id,
        '--exit-dir', exits, '--persist-dir', join(dir, 'persist'), '--socket-dir-path', socks,
        '-l', `k8s-file:${join(dir, 'ctr.log')}`, '--log-level', 'info', '--conmon-pidfile', conmonPidFile,
        '--runtime-arg', `--root=${runcRoot}`, '-i',
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { ...process.env, _OCI_SYNCPIPE: '3' } },
    );
    const sync = child.stdio[3] as NetSocket;
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout?.resume();
    const message = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`no sync message from conmon; stderr: ${stderr}`)), 15_000);
      sync.on('data', (c: Buffer) => {
        text += c.toString();
        const nl = text.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(text.slice(0, nl));
        }
      });
      sync.on('end', () => {
        clearTimeout(timer);
        reject(new Error(`conmon closed the sync pipe: ${text} ${stderr}`));
      });
      sync.on('error', reject);
    });
    sync.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.unref();
    const created = JSON.parse(message) as { data: number; message?: string };
    const container: Container = {
      id,
      attach: join(socks, id, 'attach'),
      async start() {
        const r = await runcCmd(runcRoot, 'start', id);
        assert.equal(r.code, 0, r.stderr);
      },
      async exitCode(timeoutMs = 20_000) {
        const file = join(exits, id);
        const text = await waitUntil(`exit file of ${id}`, () => (existsSync(file) ? readFileSync(file, 'utf8') || undefined : undefined), timeoutMs);
        return Number(text);
      },
      async remove() {
        live.delete(container);
        await runcCmd(runcRoot, 'delete', '-f', id);
        const pid = existsSync(conmonPidFile) ? Number(readFileSync(conmonPidFile, 'utf8')) : 0;
        if (pid > 0) {
          const deadline = Date.now() + 3000;
          while (alive(pid) && Date.now() < deadline) await delay(20);
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        }
        rmSync(join(socks, id), { force: true });
        rmSync(dir, { recursive: true, force: true });
        rmSync(join(exits, id), { force: true });
      },
    };
    live.add(container);
    assert.ok(created.data > 0, `runc create failed: ${created.message ?? message}`);
    return container;
  }

  test('stdout and stderr records carry type bytes 2 and 3; stdin reaches the container', { timeout: 60_000 }, async () => {
    const c = await createContainer(['sh', '-c', 'echo out; echo err >&2; read x; echo got $x; exit 3']);
    try {
      const sock = await connectSeqpacket(c.attach);
      const got = collect(sock);
      await c.start();
      await waitUntil('out and err', () => got.stream(2).includes('out\n') && got.stream(3).includes('err\n'));
      sock.write(Buffer.from('hello-from-node\n'));
      await waitUntil('got', () => got.stream(2).includes('got hello-from-node\n'));
      assert.equal(await c.exitCode(), 3);
      await waitUntil('close', () => got.closed);
      assert.equal(got.stream(2), 'out\ngot hello-from-node\n');
      assert.equal(got.stream(3), 'err\n');
      assert.ok(got.records.every((r) => r[0] === 2 || r[0] === 3));
      assert.equal(got.ended, true);
      assert.deepEqual(got.errors, []);
    } finally {
      await c.remove();
    }
  });

  test('cat echoes stdin; end() gives the container EOF', { timeout: 60_000 }, async () => {
    const c = await createContainer(['sh', '-c', 'cat; echo cat-eof; exit 5']);
    try {
      const sock = await connectSeqpacket(c.attach);
      const got = collect(sock);
      await c.start();
      sock.write(Buffer.from('line one\n'));
      await waitUntil('echo', () => got.stream(2) === 'line one\n');
      sock.write(Buffer.from('line two\n'));
      sock.end();
      assert.equal(await c.exitCode(), 5);
      await waitUntil('close', () => got.closed);
      assert.equal(got.stream(2), 'line one\nline two\ncat-eof\n');
      assert.deepEqual(got.errors, []);
    } finally {
      await c.remove();
    }
  });

  test('a 3 MB stdin write arrives whole', { timeout: 60_000 }, async () => {
    const c = await createContainer(['sh', '-c', 'cat > /tmp/in; wc -c < /tmp/in; md5sum < /tmp/in; rm /tmp/in']);
    try {
      const sock = await connectSeqpacket(c.attach);
      const got = collect(sock);
      await c.start();
      const data = randomBytes(3 * 1024 * 1024);
      sock.write(data);
      sock.end();
      assert.equal(await c.exitCode(), 0);
      await waitUntil('close', () => got.closed);
      const md5 = createHash('md5').update(data).digest('hex');
      assert.equal(got.stream(2), `${data.length}\n${md5}  -\n`);
      assert.equal(got.stream(3), '');
    } finally {
      await c.remove();
    }
  });

  test('a 20 MiB output flood arrives fully, one record per read, none over 8193 bytes', { timeout: 60_000 }, async () => {
    const size = 20 * 1024 * 1024;
    const c = await createContainer(['sh', '-c', `head -c ${size} /dev/zero | tr '\\0' x; echo; echo done >&2`]);
    try {
      const sock = await connectSeqpacket(c.attach);
      let bytes = 0;
      let records = 0;
      let maxRecord = 0;
      let other = '';
      let closed = false;
      sock.on('data', (r: Buffer) => {
        records++;
        maxRecord = Math.max(maxRecord, r.length);
        if (r[0] === 2) {
          bytes += r.length - 1;
          if (r.indexOf(0x78, 1) < 0 && r.length > 2) other += 'no-x;';
        } else other += r.subarray(1).toString();
      });
      sock.on('close', () => (closed = true));
      const t0 = Date.now();
      await c.start();
      assert.equal(await c.exitCode(), 0);
      await waitUntil('close', () => closed);
      assert.equal(bytes, size + 1);
      assert.equal(other, 'done\n');
      assert.ok(maxRecord <= 8193, `record of ${maxRecord} bytes`);
      assert.ok(records >= size / 8192, `${records} records`);
      console.log(`# 20 MiB in ${records} records, ${Date.now() - t0} ms`);
    } finally {
      await c.remove();
    }
  });

  test('destroy() inside a data handler is safe and idempotent', { timeout: 60_000 }, async () => {
    const c = await createContainer(['sh', '-c', 'head -c 2000000 /dev/zero; sleep 60']);
    try {
      const sock = await connectSeqpacket(c.attach);
      let records = 0;
      const events: string[] = [];
      sock.on('data', () => {
        records++;
        sock.destroy();
        sock.destroy();
        sock.write(Buffer.from('ignored'));
        sock.end();
      });
      sock.on('end', () => events.push('end'));
      sock.on('error', (e: Error) => events.push(`error ${e.message}`));
      sock.on('close', () => events.push('close'));
      await c.start();
      await waitUntil('close', () => events.includes('close'));
      await delay(100);
      assert.equal(records, 1);
      assert.deepEqual(events, ['close']);
      assert.equal(sock.destroyed, true);
      assert.equal(sock.writableLength, 0);
      // The loop and conmon are fine: a new client connects and can be destroyed from 'end' or at once.
      const again = await connectSeqpacket(c.attach);
      const closedAgain = new Promise<void>((r) => again.on('close', () => r()));
      again.on('data', () => {});
      await delay(50);
      again.destroy();
      await closedAgain;
    } finally {
      await c.remove();
    }
  });

  test('100 connect/destroy cycles leak no fds and no poll handles', { timeout: 60_000 }, async () => {
    const c = await createContainer(['sh', '-c', 'sleep 60']);
    try {
      await c.start();
      // warm up: koffi and libuv bindings are loaded on first use
      const first = await connectSeqpacket(c.attach);
      first.destroy();
      await new Promise<void>((r) => first.on('close', () => r()));
      const fds = fdCount();
      const polls = openPollCount();
      for (let i = 0; i < 100; i++) {
        const sock = await connectSeqpacket(c.attach);
        sock.on('data', () => {});
        if (i % 2 === 0) sock.write(Buffer.from(`cycle ${i}\n`));
        const closed = new Promise<void>((r) => sock.on('close', () => r()));
        sock.destroy();
        await closed;
      }
      assert.equal(openPollCount(), polls);
      assert.equal(fdCount(), fds);
    } finally {
      await c.remove();
    }
  });
});
