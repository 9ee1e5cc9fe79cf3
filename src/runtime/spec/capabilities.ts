// Capability sets: Docker's default 14, --cap-add/--cap-drop (with "ALL"), --privileged.
// Follows moby's oci/caps TweakCapabilities and oci.SetCapabilities (Docker 20.10.14+), except
// that "ALL"/--privileged mean every capability the kernel and the engine both have (Docker 23+;
// 20.10 stopped at CAP_AUDIT_READ to work around old runc releases).

import { invalid } from '../../core/errors.ts';

/** Linux capability names by number (capability.h), up to CAP_CHECKPOINT_RESTORE (40). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default set, in moby's order (oci/caps.DefaultCapabilities). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const ALL = 'ALL';

/** Every capability both berth and the running kernel know, in numeric order. */
export function knownCapabilities(capLastCap: number): string[] {
  return CAPABILITY_NAMES.slice(0, Math.max(0, capLastCap) + 1);
}

/** Names of the capabilities set in a /proc/<pid>/status mask ("000001fffeffffff"). */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt('0x' + hex);
  return CAPABILITY_NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

/** What the capability choice is checked against and what "ALL" grants. */
export interface CapabilityHost {
  /** /proc/sys/kernel/cap_last_cap: names beyond it are unknown */
  capLastCap: number;
  /**
   * The engine's own bounding set: "ALL" and --privileged grant the known capabilities in it
   * (a process cannot hand out a capability it cannot have: runc fails with "unable to apply
   * caps"). Undefined = no limit.
   */
  boundingCapabilities?: readonly string[];
}

function grantableCapabilities(host: CapabilityHost): string[] {
  const bounding = host.boundingCapabilities;
  const known = knownCapabilities(host.capLastCap);
  return bounding === undefined ? known : known.filter((c) => bounding.includes(c));
}

/** Upper-cases, adds the CAP_ prefix, keeps "ALL"; unknown names are an invalid-parameter error. */
export function normalizeCapabilities(names: readonly string[], capLastCap: number): string[] {
  const valid = new Set(knownCapabilities(capLastCap));
  return names.map((raw) => {
    let c = raw.toUpperCase();
    if (c === ALL) return c;
    if (!c.startsWith('CAP_')) c = 'CAP_' + c;
    if (!valid.has(c)) throw invalid(`unknown capability: "${c}"`, 'unknown-capability');
    return c;
  });
}

export interface CapabilityChoice {
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  privileged?: boolean;
}

/**
 * The container's capability list: privileged gets all grantable; --cap-add ALL gets those but
 * --cap-drop; --cap-drop ALL keeps only --cap-add; otherwise defaults minus drops plus adds.
 */
export function resolveCapabilities(choice: CapabilityChoice, host: CapabilityHost): string[] {
  if (choice.privileged === true) return grantableCapabilities(host);
  const adds = normalizeCapabilities(choice.capAdd ?? [], host.capLastCap);
  const drops = normalizeCapabilities(choice.capDrop ?? [], host.capLastCap);
  let caps: string[];
  if (adds.includes(ALL)) {
    caps = grantableCapabilities(host).filter((c) => !drops.includes(c));
  } else if (drops.includes(ALL)) {
    caps = adds;
  } else {
    caps = [...DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c)), ...adds];
  }
  return [...new Set(caps)];
}

/**
 * The spec's capability sets for a process running as `uid`: root gets bounding, effective and
 * permitted; any other user only the bounding set, so execve gives it no capabilities, as for a
 * non-root process on the host. Inheritable and ambient stay empty (CVE-2022-24769).
 */
export function capabilitySets(caps: readonly string[], uid: number): {
  bounding: string[];
  effective?: string[];
  permitted?: string[];
} {
  if (uid === 0) return { bounding: [...caps], effective: [...caps], permitted: [...caps] };
  return { bounding: [...caps] };
}
