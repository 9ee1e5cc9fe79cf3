import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isEngineError } from '../../core/errors.ts';
import { buildSpec, containerEnv, type SpecOptions } from './build-spec.ts';
import { DEFAULT_CAPABILITIES } from './capabilities.ts';
import { type HostFacts, parseNofileHard } from './host.ts';

const ID = 'a'.repeat(64);

const HOST: HostFacts = {
  kernelRelease: '6.1.0-18-amd64',
  arch: 'amd64',
  cgroupV2: false,
  capLastCap: 40,
  boundingCapabilities: undefined,
  nofileHard: 20000,
  sysctls: new Set(['net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start']),
  swapLimit: true,
};

function opts(over: Partial<SpecOptions> = {}): SpecOptions {
  return {
    id: ID,
    rootfsPath: '/var/lib/berth/rootfs/' + ID,
    args: ['/bin/sh', '-c', 'echo hi'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [10] },
    tty: false,
    hostname: 'aaaaaaaaaaaa',
    networkMode: 'private',
    etcFiles: { hostname: '/c/hostname', hosts: '/c/hosts', resolvConf: '/c/resolv.conf' },
    cgroupsPath: '/berth/' + ID,
    ...over,
  };
}

const mount = (s: ReturnType<typeof buildSpec>, dest: string) => s.mounts.find((m) => m.destination === dest);

describe('buildSpec defaults', () => {
  const s = buildSpec(opts(), HOST);

  test('namespaces: mount, network, uts, pid, ipc; no cgroup namespace on cgroup v1', () => {
    assert.deepEqual(s.linux.namespaces, [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }]);
  });

  test('root gets Docker default capabilities in bounding, effective, permitted only', () => {
    assert.deepEqual(s.process.capabilities, {
      bounding: DEFAULT_CAPABILITIES,
      effective: DEFAULT_CAPABILITIES,
      permitted: DEFAULT_CAPABILITIES,
    });
  });

  test('process basics', () => {
    assert.equal(s.ociVersion, '1.0.2-dev');
    assert.deepEqual(s.process.args, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(s.process.user, { uid: 0, gid: 0, additionalGids: [0, 10] });
    assert.equal(s.process.terminal, false);
    assert.equal(s.process.cwd, '/');
    assert.equal(s.process.noNewPrivileges, undefined);
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
    assert.equal(s.hostname, 'aaaaaaaaaaaa');
    assert.deepEqual(s.root, { path: '/var/lib/berth/rootfs/' + ID });
    assert.equal(s.linux.cgroupsPath, '/berth/' + ID);
    assert.equal('oomScoreAdj' in s.process, false);
    assert.equal('apparmorProfile' in s.process, false);
  });

  test('Docker default mounts, then the three /etc files', () => {
    assert.deepEqual(
      s.mounts.map((m) => [m.destination, m.type, m.source, (m.options ?? []).join(',')]),
      [
        ['/proc', 'proc', 'proc', 'nosuid,noexec,nodev'],
        ['/dev', 'tmpfs', 'tmpfs', 'nosuid,strictatime,mode=755,size=65536k'],
        ['/dev/pts', 'devpts', 'devpts', 'nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5'],
        ['/sys', 'sysfs', 'sysfs', 'nosuid,noexec,nodev,ro'],
        ['/sys/fs/cgroup', 'cgroup', 'cgroup', 'ro,nosuid,noexec,nodev'],
        ['/dev/mqueue', 'mqueue', 'mqueue', 'nosuid,noexec,nodev'],
        ['/dev/shm', 'tmpfs', 'shm', 'nosuid,noexec,nodev,mode=1777,size=67108864'],
        ['/etc/resolv.conf', 'bind', '/c/resolv.conf', 'rbind,rprivate'],
        ['/etc/hostname', 'bind', '/c/hostname', 'rbind,rprivate'],
        ['/etc/hosts', 'bind', '/c/hosts', 'rbind,rprivate'],
      ],
    );
  });

  test('masked and read-only paths', () => {
    assert.deepEqual([...(s.linux.maskedPaths ?? [])].sort(), [
      '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
      '/proc/sched_debug', '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap',
      '/sys/firmware',
    ]);
    assert.deepEqual(s.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  });

  test('device cgroup: deny all first, then the standard devices; no extra device nodes', () => {
    const rules = s.linux.resources.devices ?? [];
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    const allowed = rules
      .filter((r) => r.allow)
      .map((r) => `${r.type} ${r.major === -1 ? '*' : r.major}:${r.minor === -1 ? '*' : r.minor} ${r.access}`)
      .sort();
    assert.deepEqual(allowed, [
      'b *:* m', 'c *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
      'c 10:200 rwm', 'c 136:* rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm',
    ].sort());
    assert.deepEqual(s.linux.devices, []);
  });

  test('seccomp comes from the default profile for the bounding set', () => {
    assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    const names = new Set((s.linux.seccomp?.syscalls ?? []).flatMap((r) => r.names));
    assert.ok(names.has('chroot'));
    assert.ok(!names.has('mount'));
  });

  test('network sysctls for a private network namespace', () => {
    assert.deepEqual(s.linux.sysctl, { 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_unprivileged_port_start': '0' });
  });

  test('no resources beyond devices unless asked', () => {
    assert.deepEqual(Object.keys(s.linux.resources), ['devices']);
  });
});

describe('buildSpec options', () => {
  test('env: PATH, HOSTNAME, TERM first; image env replaces in place; NAME without = unsets', () => {
    assert.deepEqual(containerEnv(['FOO=1', 'PATH=/bin'], 'h', true), ['PATH=/bin', 'HOSTNAME=h', 'TERM=xterm', 'FOO=1']);
    assert.deepEqual(containerEnv(['HOSTNAME', 'A=b=c'], 'h', false), [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'A=b=c',
    ]);
    assert.deepEqual(buildSpec(opts({ env: ['X=1'], tty: true }), HOST).process.env.slice(1), ['HOSTNAME=aaaaaaaaaaaa', 'TERM=xterm', 'X=1']);
  });

  test('non-root user gets only the bounding set', () => {
    const s = buildSpec(opts({ user: { uid: 1000, gid: 1000, additionalGids: [] } }), HOST);
    assert.deepEqual(s.process.capabilities, { bounding: DEFAULT_CAPABILITIES });
    assert.deepEqual(s.process.user.additionalGids, [1000]);
  });

  test('cap-add SYS_ADMIN reaches capabilities and seccomp', () => {
    const s = buildSpec(opts({ capAdd: ['sys_admin'] }), HOST);
    assert.ok(s.process.capabilities?.bounding?.includes('CAP_SYS_ADMIN'));
    const allowed = (s.linux.seccomp?.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names);
    assert.ok(allowed.includes('mount'));
  });

  test('network modes', () => {
    const types = (m: SpecOptions['networkMode']) => buildSpec(opts({ networkMode: m }), HOST).linux.namespaces;
    assert.ok(!types('host').some((n) => n.type === 'network'));
    assert.equal(buildSpec(opts({ networkMode: 'host' }), HOST).linux.sysctl, undefined);
    assert.deepEqual(types('none').find((n) => n.type === 'network'), { type: 'network' });
    assert.deepEqual(types({ path: '/run/berth/netns/x' }).find((n) => n.type === 'network'), {
      type: 'network',
      path: '/run/berth/netns/x',
    });
  });

  test('cgroup namespace on cgroup v2', () => {
    const s = buildSpec(opts(), { ...HOST, cgroupV2: true });
    assert.deepEqual(s.linux.namespaces.at(-1), { type: 'cgroup' });
  });

  test('--init prepends docker-init and bind-mounts it read-only before the /etc files', () => {
    const s = buildSpec(opts({ init: { hostPath: '/usr/bin/tini-static' } }), HOST);
    assert.deepEqual(s.process.args, ['/sbin/docker-init', '--', '/bin/sh', '-c', 'echo hi']);
    const i = s.mounts.findIndex((m) => m.destination === '/sbin/docker-init');
    assert.deepEqual(s.mounts[i], { destination: '/sbin/docker-init', type: 'bind', source: '/usr/bin/tini-static', options: ['bind', 'ro'] });
    assert.equal(s.mounts[i + 1]?.destination, '/etc/resolv.conf');
  });

  test('read-only rootfs: root readonly and /etc files ro', () => {
    const s = buildSpec(opts({ readonlyRootfs: true }), HOST);
    assert.deepEqual(s.root, { path: '/var/lib/berth/rootfs/' + ID, readonly: true });
    assert.deepEqual(mount(s, '/etc/hosts')?.options, ['rbind', 'ro', 'rprivate']);
    assert.deepEqual(mount(s, '/proc')?.options, ['nosuid', 'noexec', 'nodev']);
  });

  test('privileged: all capabilities, no seccomp, no masked paths, rw /sys, all devices', () => {
    const s = buildSpec(opts({ privileged: true }), HOST);
    assert.equal(s.process.capabilities?.bounding?.length, 41);
    assert.equal(s.linux.seccomp, undefined);
    assert.equal(s.linux.maskedPaths, undefined);
    assert.equal(s.linux.readonlyPaths, undefined);
    assert.deepEqual(mount(s, '/sys')?.options, ['nosuid', 'noexec', 'nodev']);
    assert.deepEqual(mount(s, '/sys/fs/cgroup')?.options, ['nosuid', 'noexec', 'nodev']);
    assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.ok(s.linux.devices.some((d) => d.path === '/dev/null' && d.type === 'c' && d.major === 1 && d.minor === 3));
  });

  test('resources', () => {
    const s = buildSpec(opts({ memoryLimit: 64 << 20, pidsLimit: 100, cpuQuota: 50000, cpuPeriod: 100000, shmSize: 1 << 20 }), HOST);
    assert.deepEqual(s.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20 });
    assert.deepEqual(s.linux.resources.pids, { limit: 100 });
    assert.deepEqual(s.linux.resources.cpu, { quota: 50000, period: 100000 });
    assert.ok(mount(s, '/dev/shm')?.options?.includes('size=1048576'));
    assert.deepEqual(buildSpec(opts({ memoryLimit: 1 << 30 }), { ...HOST, swapLimit: false }).linux.resources.memory, { limit: 1 << 30 });
    assert.deepEqual(buildSpec(opts({ memoryLimit: 1 << 30, memorySwap: -1 }), HOST).linux.resources.memory, { limit: 1 << 30 });
    assert.deepEqual(buildSpec(opts({ pidsLimit: 0 }), HOST).linux.resources.pids, { limit: -1 });
    assert.throws(() => buildSpec(opts({ memoryLimit: 1 << 30, memorySwap: 1 << 20 }), HOST), (e) => isEngineError(e, 'invalid-parameter'));
  });

  test('rlimits never exceed the hard limit, and are left out when it is unknown', () => {
    assert.deepEqual(buildSpec(opts(), { ...HOST, nofileHard: Infinity }).process.rlimits, [
      { type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 },
    ]);
    assert.equal(buildSpec(opts(), { ...HOST, nofileHard: undefined }).process.rlimits, undefined);
    assert.equal(parseNofileHard('Max open files            1024                 20000                files     \n'), 20000);
    assert.equal(parseNofileHard('Max open files            unlimited            unlimited            files\n'), Infinity);
  });

  test('no-new-privileges', () => {
    assert.equal(buildSpec(opts({ noNewPrivileges: true }), HOST).process.noNewPrivileges, true);
  });

  test('bad options are invalid-parameter', () => {
    for (const bad of [{ id: 'abc' }, { args: [] }, { cwd: 'relative' }, { rootfsPath: 'rel' }, { shmSize: -1 }]) {
      assert.throws(() => buildSpec(opts(bad), HOST), (e) => isEngineError(e, 'invalid-parameter'), JSON.stringify(bad));
    }
  });
});
