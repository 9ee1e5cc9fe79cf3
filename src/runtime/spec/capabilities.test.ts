import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isEngineError } from '../../core/errors.ts';
import { capabilitiesFromMask, capabilitySets, DEFAULT_CAPABILITIES, knownCapabilities, resolveCapabilities } from './capabilities.ts';

const LAST = { capLastCap: 40 };

/** The /proc/<pid>/status hex mask of a capability list. */
function mask(caps: readonly string[]): string {
  const names = knownCapabilities(40);
  let m = 0n;
  for (const c of caps) {
    const i = names.indexOf(c);
    assert.ok(i >= 0, c);
    m |= 1n << BigInt(i);
  }
  return m.toString(16).padStart(16, '0');
}

test('the default set is Docker CapEff 00000000a80425fb', () => {
  assert.equal(mask(resolveCapabilities({}, LAST)), '00000000a80425fb');
  assert.deepEqual(resolveCapabilities({}, LAST), DEFAULT_CAPABILITIES);
});

test('cap-add and cap-drop accept any case, with or without CAP_', () => {
  const caps = resolveCapabilities({ capAdd: ['net_admin', 'CAP_SYS_PTRACE'], capDrop: ['chown', 'CAP_NET_RAW'] }, LAST);
  assert.ok(caps.includes('CAP_NET_ADMIN'));
  assert.ok(caps.includes('CAP_SYS_PTRACE'));
  assert.ok(!caps.includes('CAP_CHOWN'));
  assert.ok(!caps.includes('CAP_NET_RAW'));
  assert.equal(caps.length, DEFAULT_CAPABILITIES.length);
});

test('adding a default capability does not duplicate it', () => {
  assert.deepEqual(resolveCapabilities({ capAdd: ['CHOWN'] }, LAST), DEFAULT_CAPABILITIES);
});

test('cap-add ALL gives everything but the drops; cap-drop ALL keeps only the adds', () => {
  const all = resolveCapabilities({ capAdd: ['all'], capDrop: ['SYS_ADMIN'] }, LAST);
  assert.equal(all.length, 40);
  assert.ok(!all.includes('CAP_SYS_ADMIN'));
  assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] }, LAST), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'] }, LAST), []);
});

test('privileged gets every capability the kernel knows', () => {
  assert.equal(mask(resolveCapabilities({ privileged: true, capDrop: ['ALL'] }, LAST)), '000001ffffffffff');
  assert.equal(resolveCapabilities({ privileged: true }, { capLastCap: 37 }).length, 38);
});

test('privileged and ALL grant only what the engine itself holds', () => {
  // this kind of machine: root without CAP_SYS_RESOURCE
  const host = { capLastCap: 40, boundingCapabilities: capabilitiesFromMask('000001fffeffffff') };
  assert.equal(mask(resolveCapabilities({ privileged: true }, host)), '000001fffeffffff');
  assert.ok(!resolveCapabilities({ capAdd: ['ALL'] }, host).includes('CAP_SYS_RESOURCE'));
  // an explicit add is passed on (runc reports it, as with Docker)
  assert.ok(resolveCapabilities({ capAdd: ['SYS_RESOURCE'] }, host).includes('CAP_SYS_RESOURCE'));
});

test('unknown capability is invalid-parameter with Docker message', () => {
  assert.throws(
    () => resolveCapabilities({ capAdd: ['FOO'] }, LAST),
    (e) => isEngineError(e, 'invalid-parameter') && e.message === 'unknown capability: "CAP_FOO"',
  );
  // a capability newer than the kernel is unknown too
  assert.throws(() => resolveCapabilities({ capAdd: ['BPF'] }, { capLastCap: 37 }), (e) => isEngineError(e, 'invalid-parameter'));
});

test('root gets bounding, effective, permitted; other users only bounding', () => {
  const caps = resolveCapabilities({}, LAST);
  assert.deepEqual(capabilitySets(caps, 0), { bounding: caps, effective: caps, permitted: caps });
  assert.deepEqual(capabilitySets(caps, 1000), { bounding: caps });
});
