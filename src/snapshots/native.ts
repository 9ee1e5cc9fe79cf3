// The few system calls Node lacks (mount, umount, mknod, xattrs, syncfs), for the snapshot
// store, through the koffi wrappers of src/sys/libc.ts (the one module that loads native code).
//
// One call still spawns a process: an overlay mount whose option string only fits in a page
// (4096 bytes, NUL included) with relative lower paths goes through util-linux `mount` run in
// the directory those paths are relative to (a process-wide chdir is not an option here).

import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { getSystemErrorMap } from 'node:util';
import { systemError } from '../core/errors.ts';
import * as libc from '../sys/libc.ts';

/** Longest option string mount(2) takes: the kernel copies one page, the NUL included. */
export const MOUNT_DATA_MAX = 4095;

interface ToolFailure {
  readonly stderr: string;
  readonly exitCode: number | string | undefined;
}

function run(file: string, args: readonly string[], options: { cwd?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd, encoding: 'utf8' }, (error, _stdout, stderr) => {
      if (error === null) return resolve();
      const failure: ToolFailure = { stderr: String(stderr).trim(), exitCode: (error as { code?: number | string }).code };
      reject(Object.assign(error, failure));
    });
  });
}

/** What went wrong: a tool's stderr, or a system error's description and code ("device or resource busy (EBUSY)"). */
function reason(e: unknown): string {
  const f = e as Partial<ToolFailure> & { message?: string; code?: unknown; errno?: unknown };
  if (f.stderr !== undefined) return f.stderr !== '' ? f.stderr : String(f.message); // a tool run by `run`
  if (typeof f.code === 'string' && typeof f.errno === 'number') {
    const description = getSystemErrorMap().get(f.errno)?.[1];
    if (description !== undefined) return `${description} (${f.code})`;
  }
  return String(f.message ?? e);
}

export interface MountRequest {
  readonly type: string;
  readonly source: string;
  readonly target: string;
  /** The comma-separated filesystem option string, passed to the kernel unchanged (no flags parsed from it). */
  readonly options: string;
  /** Working directory of the mount call: relative paths in `options` resolve against it. */
  readonly cwd?: string;
  /**
   * `options` with every path absolute (given with `cwd`). When it fits in a page the mount is
   * one mount(2) call; otherwise `options` are mounted from `cwd` by mount(8).
   */
  readonly absoluteOptions?: string;
}

/** Whether `options` can be handed to mount(2): it fits in the page the kernel copies. */
export function fitsMountData(options: string): boolean {
  return Buffer.byteLength(options) <= MOUNT_DATA_MAX;
}

export async function mount(req: MountRequest): Promise<void> {
  const direct = req.cwd === undefined ? req.options : req.absoluteOptions;
  try {
    if (direct !== undefined && fitsMountData(direct)) await libc.mountAsync(req.source, req.target, req.type, 0, direct);
    else await run('mount', ['-n', '-t', req.type, '-o', req.options, req.source, req.target], { cwd: req.cwd });
  } catch (e) {
    throw systemError(`mount ${req.type} on ${req.target}: ${reason(e)}`, e);
  }
}

/** Unmount `target`; `lazy` detaches it even while busy (MNT_DETACH). */
export async function unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  try {
    await libc.umount2Async(target, options.lazy === true ? libc.MNT_DETACH : 0);
  } catch (e) {
    throw systemError(`unmount ${target}: ${reason(e)}`, e);
  }
}

/** Undo the octal escapes (\040 for space…) of /proc/self/mountinfo fields. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Whether `path` (absolute, no trailing slash) is a mount point in this mount namespace. */
export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined && unescapeMountField(field) === path) return true;
  }
  return false;
}

export type NodeKind = 'char' | 'block' | 'fifo';

const NODE_TYPE: Readonly<Record<NodeKind, number>> = { char: libc.S_IFCHR, block: libc.S_IFBLK, fifo: libc.S_IFIFO };

/** mknod(2): a character or block device, or a FIFO, with exactly the permission bits `mode` (no umask). */
export async function mknod(path: string, kind: NodeKind, major: number, minor: number, mode: number): Promise<void> {
  const perm = mode & 0o7777;
  try {
    libc.mknod(path, NODE_TYPE[kind] | perm, kind === 'fifo' ? 0n : libc.makedev(major, minor));
    // mknod(2) applies the umask (and may drop setuid/setgid/sticky): set the bits asked for.
    if (perm !== 0) chmodSync(path, perm);
  } catch (e) {
    throw systemError(`mknod ${path}: ${reason(e)}`, e);
  }
}

/** syncfs(2) on the filesystem holding the directory `path`: flush a freshly unpacked layer before committing it. */
export async function syncFilesystem(path: string): Promise<void> {
  try {
    await libc.syncFilesystem(path);
  } catch (e) {
    throw systemError(`sync ${path}: ${reason(e)}`, e);
  }
}

// ---- xattrs (l* variants: never follow a symlink); errors are libc's, with errno codes ----

export function setXattr(path: string, name: string, value: Uint8Array): void {
  libc.lsetxattr(path, name, value);
}

/** The value of xattr `name`, or undefined when it is not set (ENODATA) or unsupported. */
export function getXattr(path: string, name: string): Buffer | undefined {
  try {
    return libc.lgetxattr(path, name) ?? undefined;
  } catch (e) {
    if (libc.hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) return undefined;
    throw e;
  }
}

/** Names of the xattrs set on `path` (not following a symlink); none where xattrs are unsupported. */
export function listXattrs(path: string): string[] {
  try {
    return libc.llistxattr(path);
  } catch (e) {
    if (libc.hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) return [];
    throw e;
  }
}
