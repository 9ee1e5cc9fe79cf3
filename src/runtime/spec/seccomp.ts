// Docker's seccomp profile format -> the OCI spec's linux.seccomp, as moby's profiles/seccomp
// setupSeccomp does it: keep the architectures of the native arch's archMap entry, and keep a
// rule only when its excludes do not match and its includes do (arches against the native
// arch name alone, caps against the container's bounding set, minKernel against uname's
// "<kernel>.<major>").

import { invalid } from '../../core/errors.ts';
import type { OciSeccomp, OciSeccompArg, OciSyscall } from './oci-spec.ts';
import defaultProfileJson from './docker-default-seccomp.json' with { type: 'json' };

export interface SeccompFilter {
  caps?: string[] | null;
  arches?: string[] | null;
  /** "<kernel>.<major>", e.g. "4.8" */
  minKernel?: string | null;
}

export interface SeccompRule {
  /** legacy single-name form */
  name?: string;
  names?: string[] | null;
  action: string;
  errnoRet?: number | null;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter | null;
  excludes?: SeccompFilter | null;
}

/** A profile as `docker run --security-opt seccomp=FILE` takes it. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number | null;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  flags?: string[] | null;
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompRule[] | null;
}

export interface SeccompContext {
  /** the container's bounding capability set */
  capabilities: readonly string[];
  /** libseccomp native arch name ("amd64") */
  arch: string;
  /** uname release */
  kernelRelease: string;
}

/** Docker's default profile (a copy of moby's profiles/seccomp/default.json). */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = defaultProfileJson as SeccompProfile;

// libseccomp native arch name -> SCMP_ARCH_* (moby's nativeToSeccomp)
const NATIVE_TO_SECCOMP: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mips3l64n32: 'SCMP_ARCH_MIPSEL64N32',
  mipsle: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
};

interface KernelVersion {
  kernel: number;
  major: number;
}

/** uname release -> kernel.major, ignoring the rest ("6.1.0-18-amd64" -> 6.1), like Sscanf("%d.%d"). */
export function parseKernelRelease(release: string): KernelVersion {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m === null) throw invalid(`failed to parse kernel version "${release}"`);
  return { kernel: Number(m[1]), major: Number(m[2]) };
}

function parseMinKernel(v: string): KernelVersion {
  const parts = v.split('.');
  const ok = parts.length === 2 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
  const k = ok ? { kernel: Number(parts[0]), major: Number(parts[1]) } : undefined;
  if (k === undefined || (k.kernel === 0 && k.major === 0)) {
    throw invalid(`invalid kernel version: "${v}", expected "<kernel>.<major>"`, 'invalid-seccomp-profile');
  }
  return k;
}

function kernelAtLeast(running: KernelVersion, min: KernelVersion): boolean {
  return running.kernel > min.kernel || (running.kernel === min.kernel && running.major >= min.major);
}

const nonEmpty = <T>(a: readonly T[] | null | undefined): a is readonly T[] => a !== null && a !== undefined && a.length > 0;

/** Returns undefined when the profile disables seccomp (no default action and no rules). */
export function convertSeccompProfile(profile: SeccompProfile, ctx: SeccompContext): OciSeccomp | undefined {
  if (profile.defaultAction === '' && !nonEmpty(profile.syscalls)) return undefined;
  if (nonEmpty(profile.architectures) && nonEmpty(profile.archMap)) {
    throw invalid(
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
      'invalid-seccomp-profile',
    );
  }
  const running = parseKernelRelease(ctx.kernelRelease);
  const caps = new Set(ctx.capabilities);

  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (typeof profile.defaultErrnoRet === 'number') out.defaultErrnoRet = profile.defaultErrnoRet;

  const architectures = [...(profile.architectures ?? [])];
  const seccompArch = NATIVE_TO_SECCOMP[ctx.arch];
  if (seccompArch !== undefined) {
    const entry = (profile.archMap ?? []).find((a) => a.architecture === seccompArch);
    if (entry !== undefined) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));
  }
  if (architectures.length > 0) out.architectures = architectures;
  if (nonEmpty(profile.flags)) out.flags = [...profile.flags];
  if (profile.listenerPath !== undefined && profile.listenerPath !== '') out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata !== undefined && profile.listenerMetadata !== '') {
    out.listenerMetadata = profile.listenerMetadata;
  }

  const syscalls: OciSyscall[] = [];
  for (const rule of profile.syscalls ?? []) {
    let names = rule.names ?? [];
    if (rule.name !== undefined && rule.name !== '') {
      if (names.length > 0) {
        throw invalid(
          "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'",
          'invalid-seccomp-profile',
        );
      }
      names = [rule.name];
    }
    // Every minKernel is validated, as moby does when it decodes the profile.
    const ex = rule.excludes;
    const exKernel = ex?.minKernel ? parseMinKernel(ex.minKernel) : undefined;
    const inc = rule.includes;
    const incKernel = inc?.minKernel ? parseMinKernel(inc.minKernel) : undefined;
    if (ex) {
      if (nonEmpty(ex.arches) && ex.arches.includes(ctx.arch)) continue;
      if (nonEmpty(ex.caps) && ex.caps.some((c) => caps.has(c))) continue;
      if (exKernel && kernelAtLeast(running, exKernel)) continue;
    }
    if (inc) {
      if (nonEmpty(inc.arches) && !inc.arches.includes(ctx.arch)) continue;
      if (nonEmpty(inc.caps) && !inc.caps.every((c) => caps.has(c))) continue;
      if (incKernel && !kernelAtLeast(running, incKernel)) continue;
    }
    const call: OciSyscall = { names: [...names], action: rule.action };
    if (typeof rule.errnoRet === 'number') call.errnoRet = rule.errnoRet;
    if (nonEmpty(rule.args)) {
      call.args = rule.args.map((a) => {
        const arg: OciSeccompArg = { index: a.index, value: a.value, op: a.op };
        if (a.valueTwo !== undefined && a.valueTwo !== 0) arg.valueTwo = a.valueTwo;
        return arg;
      });
    }
    syscalls.push(call);
  }
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}
