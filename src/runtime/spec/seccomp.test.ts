import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isEngineError } from '../../core/errors.ts';
import { DEFAULT_CAPABILITIES } from './capabilities.ts';
import type { OciSeccomp } from './oci-spec.ts';
import { convertSeccompProfile, DEFAULT_SECCOMP_PROFILE, parseKernelRelease, type SeccompProfile } from './seccomp.ts';

const amd64 = { arch: 'amd64', kernelRelease: '6.1.0-18-amd64' };

function convert(caps: readonly string[], over: Partial<{ arch: string; kernelRelease: string }> = {}): OciSeccomp {
  const out = convertSeccompProfile(DEFAULT_SECCOMP_PROFILE, { capabilities: caps, ...amd64, ...over });
  assert.ok(out);
  return out;
}

/** Syscalls allowed whatever their arguments. */
function allowedOutright(s: OciSeccomp): Set<string> {
  return new Set(
    (s.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW' && r.args === undefined).flatMap((r) => r.names),
  );
}

function rulesFor(s: OciSeccomp, name: string) {
  return (s.syscalls ?? []).filter((r) => r.names.includes(name));
}

describe('convertSeccompProfile with Docker default profile', () => {
  test('keeps default action, errno and the x86_64 architectures', () => {
    const s = convert(DEFAULT_CAPABILITIES);
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 1);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });

  test('default caps: ptrace allowed on kernels >= 4.8, mount/reboot/bpf denied, chroot allowed', () => {
    const s = convert(DEFAULT_CAPABILITIES);
    const allowed = allowedOutright(s);
    for (const name of ['read', 'execve', 'ptrace', 'process_vm_readv', 'chroot', 'arch_prctl', 'modify_ldt']) {
      assert.ok(allowed.has(name), `${name} should be allowed`);
    }
    for (const name of ['mount', 'umount2', 'reboot', 'bpf', 'unshare', 'setns', 'init_module', 'clone3', 'syslog']) {
      assert.ok(!allowed.has(name), `${name} should not be allowed`);
    }
    // clone only without namespace flags, and the amd64 argument order
    const clone = rulesFor(s, 'clone');
    assert.equal(clone.length, 1);
    assert.deepEqual(clone[0]?.args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
    // clone3 answers ENOSYS so that libc falls back to clone
    assert.deepEqual(rulesFor(s, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    // socket: all families but AF_VSOCK (40)
    assert.deepEqual(
      rulesFor(s, 'socket').map((r) => r.args),
      [
        [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }],
        [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }],
        [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
      ],
    );
  });

  test('ptrace is not allowed before kernel 4.8 without CAP_SYS_PTRACE', () => {
    assert.ok(!allowedOutright(convert(DEFAULT_CAPABILITIES, { kernelRelease: '4.4.0-210-generic' })).has('ptrace'));
    assert.ok(allowedOutright(convert(DEFAULT_CAPABILITIES, { kernelRelease: '4.8.0' })).has('ptrace'));
    assert.ok(
      allowedOutright(convert([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE'], { kernelRelease: '4.4.0' })).has('ptrace'),
    );
  });

  test('CAP_SYS_ADMIN allows mount, unshare, setns, clone and clone3 outright', () => {
    const s = convert([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    const allowed = allowedOutright(s);
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'clone', 'clone3', 'bpf']) {
      assert.ok(allowed.has(name), `${name} should be allowed`);
    }
    assert.ok(rulesFor(s, 'clone').every((r) => r.args === undefined));
    assert.ok(rulesFor(s, 'clone3').every((r) => r.action === 'SCMP_ACT_ALLOW'));
  });

  test('dropping CAP_SYS_CHROOT removes chroot', () => {
    const caps = DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT');
    assert.ok(!allowedOutright(convert(caps)).has('chroot'));
  });

  test('arch rules: arm64 gets arm syscalls and not arch_prctl', () => {
    const s = convert(DEFAULT_CAPABILITIES, { arch: 'arm64' });
    assert.deepEqual(s.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    const allowed = allowedOutright(s);
    assert.ok(allowed.has('arm_fadvise64_64'));
    assert.ok(!allowed.has('arch_prctl'));
    assert.ok(!allowed.has('modify_ldt'));
  });

  test('s390 clone rule is left out on amd64 and used on s390x', () => {
    assert.ok(rulesFor(convert(DEFAULT_CAPABILITIES), 'clone').every((r) => r.args?.[0]?.index === 0));
    const s390 = rulesFor(convert(DEFAULT_CAPABILITIES, { arch: 's390x' }), 'clone');
    assert.deepEqual(s390.map((r) => r.args?.[0]?.index), [1]);
  });

  test('output carries no Docker-only fields', () => {
    const s = convert(DEFAULT_CAPABILITIES);
    for (const r of s.syscalls ?? []) {
      assert.deepEqual(Object.keys(r).filter((k) => !['names', 'action', 'errnoRet', 'args'].includes(k)), []);
    }
    assert.equal('archMap' in s, false);
  });
});

describe('convertSeccompProfile edge cases', () => {
  const ctx = { capabilities: [], ...amd64 };

  test('empty profile disables seccomp', () => {
    assert.equal(convertSeccompProfile({ defaultAction: '', syscalls: [] }, ctx), undefined);
  });

  test('legacy "name" form', () => {
    const p: SeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'mount', action: 'SCMP_ACT_ERRNO' }] };
    assert.deepEqual(convertSeccompProfile(p, ctx)?.syscalls, [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }]);
  });

  test('"name" with "names", "architectures" with "archMap", bad minKernel are invalid-parameter', () => {
    const bad: SeccompProfile[] = [
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ERRNO' }] },
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86'],
        archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: null }],
      },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4' } }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '0.0' } }] },
    ];
    for (const p of bad) assert.throws(() => convertSeccompProfile(p, ctx), (e) => isEngineError(e, 'invalid-parameter'));
  });

  test('excludes.minKernel drops a rule on new kernels', () => {
    const p: SeccompProfile = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', excludes: { minKernel: '5.10' } }],
    };
    assert.equal(convertSeccompProfile(p, { ...ctx, kernelRelease: '5.10.0' })?.syscalls, undefined);
    assert.equal(convertSeccompProfile(p, { ...ctx, kernelRelease: '5.4.0' })?.syscalls?.length, 1);
  });

  test('parseKernelRelease reads kernel.major only', () => {
    assert.deepEqual(parseKernelRelease('6.18.44-fc-v669'), { kernel: 6, major: 18 });
    assert.deepEqual(parseKernelRelease('3.12-1-amd64'), { kernel: 3, major: 12 });
    assert.throws(() => parseKernelRelease('garbage'));
  });
});
