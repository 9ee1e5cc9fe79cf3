// Integration: runc really runs a busybox container from buildSpec's config.json, and the
// process inside sees Docker's default confinement. Needs root, runc and busybox-static; as root
// without them it fails rather than skips.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildSpec, resolveUser, type SpecOptions } from './index.ts';

const RUNC = process.env['BERTH_RUNC'] ?? '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'grep', 'cat', 'id', 'hostname', 'echo', 'ip', 'wc', 'stat', 'unshare', 'true', 'mount', 'ls', 'cut', 'tr'];
// Masked paths to probe; only those the host kernel has are checked (runc skips missing ones).
const MASKED_FILES = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/interrupts', '/proc/sched_debug'];
const MASKED_DIRS = ['/proc/acpi', '/proc/asound', '/proc/scsi', '/sys/firmware'];
const key = (p: string) => p.replaceAll('/', '_');
const isRoot = process.getuid?.() === 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runc(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** "key=value" lines and "Key:\tvalue" lines of the script's output. */
function fields(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const r = /^([A-Za-z_]+)(?:=|:\s*)(.*)$/.exec(line);
    if (r) m.set(r[1] as string, (r[2] as string).trim());
  }
  return m;
}

/** Removes what is left of a cgroup parent in every hierarchy (runc removes the leaf itself). */
function removeCgroupParent(parent: string): string[] {
  const left: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, parent);
    if (!existsSync(dir)) continue;
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (child.isDirectory()) {
        try {
          rmdirSync(join(dir, child.name));
        } catch {
          left.push(join(dir, child.name));
        }
      }
    }
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  }
  return left;
}

const ROOT_SCRIPT = `
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Seccomp|NoNewPrivs):' /proc/self/status
for f in ${MASKED_FILES.join(' ')}; do
  [ -e $f ] && echo "$(echo $f | tr / _)=$(stat -c %F:%t:%T $f):$(cat $f | wc -c):$(cat $f >/dev/null 2>&1; echo $?)"
done
for d in ${MASKED_DIRS.join(' ')}; do
  [ -d $d ] && echo "$(echo $d | tr / _)=$(ls -A $d | wc -l)"
done
if (echo "$(hostname)" > /proc/sys/kernel/hostname) 2>/dev/null; then echo procsys=writable; else echo procsys=readonly; fi
echo procsys_mount=$(grep ' /proc/sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1)
if (echo x > /sys/kernel/uevent_helper) 2>/dev/null; then echo sys=writable; else echo sys=readonly; fi
if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=allowed; else echo mount=denied; fi
if unshare -U true 2>/dev/null; then echo userns=allowed; else echo userns=denied; fi
echo hostname=$(hostname)
echo etc_hostname=$(cat /etc/hostname)
echo id=$(id)
echo lo_flags=$(cat /sys/class/net/lo/flags)
echo lo_operstate=$(cat /sys/class/net/lo/operstate)
echo links=$(ip -o link show | wc -l)
echo nofile=$(ulimit -n)
echo shm=$(grep ' /dev/shm ' /proc/self/mounts)
`;

const USER_SCRIPT = `
grep -E '^Cap(Eff|Bnd|Prm):' /proc/self/status
echo id=$(id)
`;

test('runc runs the generated spec with Docker default confinement', { skip: isRoot ? false : 'needs root' }, async (t) => {
  assert.ok(existsSync(RUNC), `runc not found at ${RUNC}`);
  assert.ok(existsSync(BUSYBOX), `busybox not found at ${BUSYBOX} (apt-get install busybox-static)`);

  const tmp = await mkdtemp(join(tmpdir(), 'berth-spec-runc-'));
  const cgroupParent = `berth-spec-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const ids: string[] = [];
  try {
    const rootfs = join(tmp, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'mnt']) await mkdir(join(rootfs, d), { recursive: true });
    await copyFile(BUSYBOX, join(rootfs, 'bin/busybox'));
    for (const a of APPLETS) await symlink('busybox', join(rootfs, 'bin', a));
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nwheel:x:10:app\napp:x:1000:\n');

    const etc = join(tmp, 'etc');
    await mkdir(etc);
    await writeFile(join(etc, 'hostname'), 'spec-test\n');
    await writeFile(join(etc, 'hosts'), '127.0.0.1\tlocalhost\n');
    await writeFile(join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    const state = join(tmp, 'state');
    await mkdir(state);

    const run = async (user: string | undefined, script: string): Promise<Map<string, string>> => {
      const id = randomBytes(32).toString('hex');
      ids.push(id);
      const bundle = join(tmp, 'bundle-' + id.slice(0, 12));
      await mkdir(bundle);
      const o: SpecOptions = {
        id,
        rootfsPath: rootfs,
        args: ['/bin/sh', '-c', script],
        env: [],
        cwd: '/',
        user: await resolveUser(rootfs, user),
        tty: false,
        hostname: 'spec-test',
        networkMode: 'private',
        etcFiles: { hostname: join(etc, 'hostname'), hosts: join(etc, 'hosts'), resolvConf: join(etc, 'resolv.conf') },
        cgroupsPath: `/${cgroupParent}/${id}`,
      };
      await writeFile(join(bundle, 'config.json'), JSON.stringify(buildSpec(o), null, 2));
      const r = await runc(['--root', state, 'run', '--bundle', bundle, id]);
      assert.equal(r.code, 0, `runc run failed (${r.code}): ${r.stderr}\n${r.stdout}`);
      t.diagnostic(`${user ?? 'root'}: ${r.stdout.trim().replaceAll('\n', ' | ')}${r.stderr === '' ? '' : ' stderr: ' + r.stderr}`);
      return fields(r.stdout);
    };

    const root = await run(undefined, ROOT_SCRIPT);
    assert.equal(root.get('CapEff'), '00000000a80425fb');
    assert.equal(root.get('CapPrm'), '00000000a80425fb');
    assert.equal(root.get('CapBnd'), '00000000a80425fb');
    assert.equal(root.get('CapInh'), '0000000000000000');
    assert.equal(root.get('CapAmb'), '0000000000000000');
    assert.equal(root.get('Seccomp'), '2');
    assert.equal(root.get('NoNewPrivs'), '0');
    // A masked file is /dev/null bind-mounted over it: `cat` prints nothing and succeeds, as in
    // Docker. A masked directory is an empty read-only tmpfs.
    const hostFiles = MASKED_FILES.filter((f) => existsSync(f));
    assert.ok(hostFiles.length > 0, 'no maskable file on this host: the test could not fail');
    for (const f of hostFiles) assert.equal(root.get(key(f)), 'character special file:1:3:0:0', f);
    for (const d of MASKED_DIRS.filter((x) => existsSync(x))) assert.equal(root.get(key(d)), '0', d);
    assert.equal(root.get('procsys'), 'readonly');
    assert.equal(root.get('procsys_mount'), 'ro');
    assert.equal(root.get('sys'), 'readonly');
    assert.equal(root.get('mount'), 'denied');
    const maxUserNs = Number((await readFile('/proc/sys/user/max_user_namespaces', 'utf8').catch(() => '0')).trim());
    if (maxUserNs > 0) assert.equal(root.get('userns'), 'denied', 'seccomp must refuse unshare(CLONE_NEWUSER)');
    assert.equal(root.get('hostname'), 'spec-test');
    assert.equal(root.get('etc_hostname'), 'spec-test');
    assert.match(root.get('id') ?? '', /^uid=0\(root\) gid=0\(root\)/);
    // runc brings loopback up in a new network namespace: IFF_UP|IFF_LOOPBACK
    assert.equal(root.get('lo_flags'), '0x9');
    assert.equal(root.get('links'), '1');
    const hard = Number(/Max open files\s+\S+\s+(\S+)/.exec(await readFile('/proc/self/limits', 'utf8'))?.[1]);
    assert.equal(root.get('nofile'), String(Math.min(1048576, hard)));
    assert.match(root.get('shm') ?? '', /size=65536k/);

    const app = await run('app', USER_SCRIPT);
    assert.equal(app.get('id'), 'uid=1000(app) gid=1000(app) groups=10(wheel),1000(app)');
    assert.equal(app.get('CapEff'), '0000000000000000');
    assert.equal(app.get('CapPrm'), '0000000000000000');
    assert.equal(app.get('CapBnd'), '00000000a80425fb');
  } finally {
    for (const id of ids) await runc(['--root', join(tmp, 'state'), 'delete', '--force', id]).catch(() => undefined);
    const left = removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
    assert.deepEqual(left, [], 'cgroups left behind');
  }
});
