// SpecOptions -> config.json with Docker 20.10's defaults (moby daemon/oci_linux.go createSpec
// and oci/defaults.go), for runc.

import { isAbsolute } from 'node:path';
import { invalid } from '../../core/errors.ts';
import { capabilitySets, resolveCapabilities } from './capabilities.ts';
import { DEFAULT_DEVICE_RULES, PRIVILEGED_DEVICE_RULES, hostDevices } from './devices.ts';
import { type HostFacts, NETWORK_SYSCTLS, probeHost } from './host.ts';
import { OCI_VERSION, type OciMount, type OciNamespace, type OciResources, type OciSpec } from './oci-spec.ts';
import { DEFAULT_SECCOMP_PROFILE, convertSeccompProfile } from './seccomp.ts';

export type NetworkMode = 'private' | 'host' | 'none' | { path: string };

export interface SpecOptions {
  /** 64-hex container id */
  id: string;
  /** absolute path of the (overlay-mounted) root filesystem */
  rootfsPath: string;
  /** resolved entrypoint + cmd, non-empty */
  args: string[];
  /** image env merged with -e; "NAME" without "=" unsets a default */
  env: string[];
  /** absolute; default "/" */
  cwd?: string;
  /** from resolveUser */
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  hostname: string;
  /**
   * private: a new network namespace (runc brings its loopback up); none: the same, Docker's
   * --network none; host: the host's; {path}: join that namespace file.
   */
  networkMode: NetworkMode;
  /** host files bind-mounted onto /etc/hostname, /etc/hosts, /etc/resolv.conf */
  etcFiles: { hostname: string; hosts: string; resolvConf: string };
  /** --init: this static binary is bind-mounted read-only at /sbin/docker-init and runs first */
  init?: { hostPath: string };
  /** e.g. "/berth/<id>" */
  cgroupsPath: string;
  readonlyRootfs?: boolean;
  /** all capabilities, no seccomp, no masked or read-only paths, every host device */
  privileged?: boolean;
  /** "NET_ADMIN", "CAP_NET_ADMIN" or "ALL", any case */
  capAdd?: string[];
  capDrop?: string[];
  /** bytes */
  memoryLimit?: number;
  /** bytes of memory + swap; default twice memoryLimit (Docker); -1 = unlimited swap */
  memorySwap?: number;
  /** <= 0 means unlimited */
  pidsLimit?: number;
  /** microseconds */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** bytes, default 64 MiB */
  shmSize?: number;
  noNewPrivileges?: boolean;
  /** host directories bind-mounted read-only, after the default mounts */
  readonlyBinds?: readonly { source: string; destination: string }[];
}

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
export const INIT_PATH_IN_CONTAINER = '/sbin/docker-init';
/** Docker asks for no rlimits; its containers inherit containerd's nofile of 1048576. */
const NOFILE_WANTED = 1048576;

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/proc/interrupts',
];

export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const ID_RE = /^[0-9a-f]{64}$/;

export function buildSpec(o: SpecOptions, host: HostFacts = probeHost()): OciSpec {
  validate(o);
  const privileged = o.privileged === true;
  const readonlyRootfs = o.readonlyRootfs === true;

  const caps = resolveCapabilities(o, host);
  const args = o.init ? [INIT_PATH_IN_CONTAINER, '--', ...o.args] : [...o.args];

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: o.tty,
      user: { uid: o.user.uid, gid: o.user.gid, additionalGids: [o.user.gid, ...o.user.additionalGids] },
      args,
      env: containerEnv(o.env, o.hostname, o.tty),
      cwd: o.cwd === undefined || o.cwd === '' ? '/' : o.cwd,
      capabilities: capabilitySets(caps, o.user.uid),
    },
    root: readonlyRootfs ? { path: o.rootfsPath, readonly: true } : { path: o.rootfsPath },
    hostname: o.hostname,
    mounts: mounts(o, privileged, readonlyRootfs),
    linux: {
      namespaces: namespaces(o.networkMode, host),
      devices: privileged ? hostDevices() : [],
      resources: resources(o, privileged, host),
      cgroupsPath: o.cgroupsPath,
    },
  };

  const nofile = host.nofileHard === undefined ? undefined : Math.min(NOFILE_WANTED, host.nofileHard);
  if (nofile !== undefined) spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: nofile, hard: nofile }];
  if (o.noNewPrivileges === true) spec.process.noNewPrivileges = true;

  if (o.networkMode !== 'host') {
    // Docker sets these for every container with a network namespace of its own.
    const sysctl: Record<string, string> = {};
    if (host.sysctls.has(NETWORK_SYSCTLS[0])) sysctl[NETWORK_SYSCTLS[0]] = '0 2147483647';
    if (host.sysctls.has(NETWORK_SYSCTLS[1])) sysctl[NETWORK_SYSCTLS[1]] = '0';
    if (Object.keys(sysctl).length > 0) spec.linux.sysctl = sysctl;
  }

  if (!privileged) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
    const seccomp = convertSeccompProfile(DEFAULT_SECCOMP_PROFILE, {
      capabilities: spec.process.capabilities?.bounding ?? [],
      arch: host.arch,
      kernelRelease: host.kernelRelease,
    });
    if (seccomp !== undefined) spec.linux.seccomp = seccomp;
  }
  return spec;
}

function validate(o: SpecOptions): void {
  if (!ID_RE.test(o.id)) throw invalid(`invalid container id: ${o.id}`);
  if (!isAbsolute(o.rootfsPath)) throw invalid(`rootfs path must be absolute: ${o.rootfsPath}`);
  if (o.args.length === 0) throw invalid('no command specified', 'no-command');
  if (o.cwd !== undefined && o.cwd !== '' && !isAbsolute(o.cwd)) {
    throw invalid(`the working directory '${o.cwd}' is invalid, it needs to be an absolute path`);
  }
  if (o.shmSize !== undefined && o.shmSize < 0) throw invalid('SHM size can not be less than 0');
  if (o.init && !isAbsolute(o.init.hostPath)) throw invalid(`init path must be absolute: ${o.init.hostPath}`);
  for (const p of [o.etcFiles.hostname, o.etcFiles.hosts, o.etcFiles.resolvConf]) {
    if (!isAbsolute(p)) throw invalid(`bind mount source must be absolute: ${p}`);
  }
}

/**
 * Docker's CreateDaemonEnvironment: PATH, HOSTNAME and (with a tty) TERM=xterm first; the
 * container's entries replace a default of the same name in place or are appended; an entry
 * without "=" removes that default.
 */
export function containerEnv(env: readonly string[], hostname: string, tty: boolean): string[] {
  const out: string[] = [DEFAULT_PATH_ENV, `HOSTNAME=${hostname}`];
  if (tty) out.push('TERM=xterm');
  const defaults = new Map(out.map((e, i) => [e.slice(0, e.indexOf('=')), i]));
  for (const value of env) {
    const eq = value.indexOf('=');
    if (eq < 0) {
      const i = defaults.get(value);
      if (i !== undefined) out[i] = '';
      continue;
    }
    const i = defaults.get(value.slice(0, eq));
    if (i !== undefined) out[i] = value;
    else out.push(value);
  }
  return out.filter((e) => e !== '');
}

function namespaces(mode: NetworkMode, host: HostFacts): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (typeof mode === 'object') ns.push({ type: 'network', path: mode.path });
  else if (mode !== 'host') ns.push({ type: 'network' });
  ns.push({ type: 'uts' }, { type: 'pid' }, { type: 'ipc' });
  // Docker's default cgroupns mode is "private" on cgroup v2 and "host" on v1.
  if (host.cgroupV2) ns.push({ type: 'cgroup' });
  return ns;
}

function mounts(o: SpecOptions, privileged: boolean, readonlyRootfs: boolean): OciMount[] {
  const shmSize = o.shmSize === undefined || o.shmSize === 0 ? DEFAULT_SHM_SIZE : o.shmSize;
  const sysOpts = privileged ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  const cgroupOpts = privileged ? ['nosuid', 'noexec', 'nodev'] : ['ro', 'nosuid', 'noexec', 'nodev'];
  const ms: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOpts },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: cgroupOpts },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ];
  if (readonlyRootfs) {
    // Docker makes every default mount read-only too, except the ones a process must write.
    const writable = new Set(['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev']);
    for (const m of ms) {
      if (!writable.has(m.destination) && !(m.options ?? []).includes('ro')) m.options = [...(m.options ?? []), 'ro'];
    }
  }
  if (o.init) {
    ms.push({ destination: INIT_PATH_IN_CONTAINER, type: 'bind', source: o.init.hostPath, options: ['bind', 'ro'] });
  }
  const etcOpts = readonlyRootfs ? ['rbind', 'ro', 'rprivate'] : ['rbind', 'rprivate'];
  ms.push(
    { destination: '/etc/resolv.conf', type: 'bind', source: o.etcFiles.resolvConf, options: [...etcOpts] },
    { destination: '/etc/hostname', type: 'bind', source: o.etcFiles.hostname, options: [...etcOpts] },
    { destination: '/etc/hosts', type: 'bind', source: o.etcFiles.hosts, options: [...etcOpts] },
  );
  for (const b of o.readonlyBinds ?? []) ms.push({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', 'ro', 'nosuid', 'nodev', 'rprivate'] });
  return ms;
}

function resources(o: SpecOptions, privileged: boolean, host: HostFacts): OciResources {
  const r: OciResources = { devices: [...(privileged ? PRIVILEGED_DEVICE_RULES : DEFAULT_DEVICE_RULES)].map((d) => ({ ...d })) };
  if (o.memoryLimit !== undefined && o.memoryLimit > 0) {
    r.memory = { limit: o.memoryLimit };
    const swap = o.memorySwap === undefined || o.memorySwap === 0 ? o.memoryLimit * 2 : o.memorySwap;
    if (swap > 0 && swap < o.memoryLimit) {
      throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
    }
    // Without swap accounting Docker drops the swap limit ("Memory limited without swap").
    if (swap > 0 && host.swapLimit) r.memory.swap = swap;
  }
  if ((o.cpuQuota ?? 0) !== 0 || (o.cpuPeriod ?? 0) !== 0) {
    r.cpu = {};
    if ((o.cpuQuota ?? 0) !== 0) r.cpu.quota = o.cpuQuota;
    if ((o.cpuPeriod ?? 0) !== 0) r.cpu.period = o.cpuPeriod;
  }
  if (o.pidsLimit !== undefined) r.pids = { limit: o.pidsLimit > 0 ? o.pidsLimit : -1 };
  return r;
}
