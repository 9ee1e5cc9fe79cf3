// The device cgroup: Docker 20.10 writes "deny all, then allow null, zero, urandom, random, tty,
// console, and deny fuse" (oci.DefaultLinuxSpec); runc 1.1 then appends its own allow list
// (mknod of anything, full, ptmx, /dev/pts/*, tun). berth writes both parts explicitly so the
// container sees the same rules whichever runc version runs it. linux.devices stays empty:
// runc creates the standard nodes itself. --privileged allows everything and passes every host
// device, as Docker does.

import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { OciDevice, OciDeviceRule } from './oci-spec.ts';

const c = (major: number, minor: number, access = 'rwm'): OciDeviceRule => ({ allow: true, type: 'c', major, minor, access });

export const DEFAULT_DEVICE_RULES: readonly OciDeviceRule[] = [
  // Docker's own list (moby oci/defaults.go, v20.10.27)
  { allow: false, access: 'rwm' },
  c(1, 5), // zero
  c(1, 3), // null
  c(1, 9), // urandom
  c(1, 8), // random
  c(5, 0), // tty
  c(5, 1), // console
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // fuse
  // what runc 1.1 (libcontainer/specconv AllowedDevices) appends to every container
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  c(1, 7), // full
  c(136, -1), // /dev/pts/*
  c(5, 2), // ptmx
  c(10, 200), // net/tun
];

export const PRIVILEGED_DEVICE_RULES: readonly OciDeviceRule[] = [{ allow: true, access: 'rwm' }];

// Directories and names runc's devices.GetDevices leaves out of the host's /dev.
const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Every block and character device under `dir` (default /dev), as runc's HostDevices lists them. */
export function hostDevices(dir = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...hostDevices(path));
      continue;
    }
    if (e.name === 'console' || !(e.isCharacterDevice() || e.isBlockDevice())) continue;
    let st;
    try {
      st = lstatSync(path, { bigint: true });
    } catch {
      continue;
    }
    const { major, minor } = splitDev(st.rdev);
    out.push({
      type: st.isCharacterDevice() ? 'c' : 'b',
      path,
      major,
      minor,
      fileMode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
    });
  }
  return out;
}

/** glibc's major()/minor() of a dev_t. */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}
