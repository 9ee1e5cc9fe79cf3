// Facts about the machine that change what Docker would put in a spec: kernel version (seccomp
// minKernel rules), architecture (seccomp arch rules), cgroup version (cgroup namespace),
// the last capability the kernel knows, the nofile hard limit, which sysctls exist, swap limits.
// Read once per process; tests pass their own HostFacts instead.

import { existsSync, readFileSync } from 'node:fs';
import { arch as nodeArch, release } from 'node:os';
import { capabilitiesFromMask } from './capabilities.ts';

export interface HostFacts {
  /** uname release, e.g. "6.1.0-18-amd64" */
  kernelRelease: string;
  /** libseccomp's native name of the architecture, as moby derives it from GOARCH ("amd64", "arm64", …) */
  arch: string;
  /** /sys/fs/cgroup is the unified (v2) hierarchy */
  cgroupV2: boolean;
  /** /proc/sys/kernel/cap_last_cap */
  capLastCap: number;
  /** capabilities in this process's bounding set (what --privileged can grant); undefined = unknown */
  boundingCapabilities: readonly string[] | undefined;
  /** hard RLIMIT_NOFILE of this process; undefined when unreadable; Infinity for "unlimited" */
  nofileHard: number | undefined;
  /** sysctls (dotted names) that exist on this kernel, among those berth may set */
  sysctls: ReadonlySet<string>;
  /** the memory cgroup can limit swap (memory.memsw.* on v1) */
  swapLimit: boolean;
}

/** Sysctls Docker sets for containers with their own network namespace. */
export const NETWORK_SYSCTLS = ['net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start'] as const;

// Node's process.arch -> GOARCH-derived libseccomp name used by moby's profiles/seccomp.
const NODE_TO_NATIVE: Record<string, string> = {
  x64: 'amd64',
  ia32: 'x86',
  arm: 'arm',
  arm64: 'arm64',
  ppc64: 'ppc64le', // Node on Linux/ppc64 is little-endian
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loongarch64',
  mips: 'mips',
  mipsel: 'mipsel',
};

let cached: HostFacts | undefined;

export function probeHost(): HostFacts {
  cached ??= {
    kernelRelease: release(),
    arch: NODE_TO_NATIVE[nodeArch()] ?? nodeArch(),
    cgroupV2: existsSync('/sys/fs/cgroup/cgroup.controllers'),
    capLastCap: readCapLastCap(),
    boundingCapabilities: readBoundingCapabilities(),
    nofileHard: readNofileHard(),
    sysctls: new Set(NETWORK_SYSCTLS.filter((s) => existsSync('/proc/sys/' + s.replaceAll('.', '/')))),
    swapLimit: readSwapLimit(),
  };
  return cached;
}

function readCapLastCap(): number {
  try {
    const n = Number.parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim(), 10);
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // fall through
  }
  return 37; // CAP_AUDIT_READ, the last one every kernel since 3.16 knows
}

function readBoundingCapabilities(): string[] | undefined {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m?.[1] === undefined ? undefined : capabilitiesFromMask(m[1]);
  } catch {
    return undefined;
  }
}

/** Parses the hard "Max open files" limit out of /proc/<pid>/limits text. */
export function parseNofileHard(limits: string): number | undefined {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  if (line === undefined) return undefined;
  const fields = line.slice('Max open files'.length).trim().split(/\s+/);
  const hard = fields[1];
  if (hard === undefined) return undefined;
  if (hard === 'unlimited') return Infinity;
  const n = Number(hard);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function readNofileHard(): number | undefined {
  try {
    return parseNofileHard(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

function readSwapLimit(): boolean {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    try {
      return readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('memory');
    } catch {
      return false;
    }
  }
  return existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
}
