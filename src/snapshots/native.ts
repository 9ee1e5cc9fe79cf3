// The few system calls Node lacks (mount, umount, mknod, xattrs, syncfs), behind one module so
// that switching to the koffi wrappers in src/sys/libc.ts later touches only this file.
//
// Today: mount, umount, mknod and syncfs go through the system tools (util-linux `mount`/`umount`,
// coreutils `mknod` and `sync -f`) with execFile; xattrs go through koffi straight to libc,
// because `setfattr`/`getfattr` (package attr) are not installed on these machines and an xattr
// is read for every directory of an upper dir when diffing.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import koffi from 'koffi';
import { systemError } from '../core/errors.ts';

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

function toolMessage(e: unknown): string {
  const f = e as Partial<ToolFailure> & { message?: string };
  return f.stderr !== undefined && f.stderr !== '' ? f.stderr : String(f.message ?? e);
}

export interface MountRequest {
  readonly type: string;
  readonly source: string;
  readonly target: string;
  /** The comma-separated option string passed to the kernel unchanged. */
  readonly options: string;
  /** Working directory of the mount call: relative paths in `options` resolve against it. */
  readonly cwd?: string;
}

export async function mount(req: MountRequest): Promise<void> {
  try {
    await run('mount', ['-n', '-t', req.type, '-o', req.options, req.source, req.target], { cwd: req.cwd });
  } catch (e) {
    throw systemError(`mount ${req.type} on ${req.target}: ${toolMessage(e)}`, e);
  }
}

/** Unmount `target`; `lazy` detaches it even while busy (MNT_DETACH). */
export async function unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  try {
    await run('umount', options.lazy === true ? ['-n', '-l', target] : ['-n', target]);
  } catch (e) {
    throw systemError(`unmount ${target}: ${toolMessage(e)}`, e);
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

/** mknod(2): a character or block device, or a FIFO, with permission bits `mode`. */
export async function mknod(path: string, kind: NodeKind, major: number, minor: number, mode: number): Promise<void> {
  const args = ['-m', (mode & 0o7777).toString(8), '--', path];
  if (kind === 'fifo') args.push('p');
  else args.push(kind === 'char' ? 'c' : 'b', String(major), String(minor));
  try {
    await run('mknod', args);
  } catch (e) {
    throw systemError(`mknod ${path}: ${toolMessage(e)}`, e);
  }
}

/** syncfs(2) on the filesystem holding `path`: flush a freshly unpacked layer before committing it. */
export async function syncFilesystem(path: string): Promise<void> {
  try {
    await run('sync', ['-f', path]);
  } catch (e) {
    throw systemError(`sync ${path}: ${toolMessage(e)}`, e);
  }
}

// ---- xattrs through libc (l* variants: never follow a symlink) ----

interface Libc {
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string, name: string, value: Buffer, size: number): number;
  llistxattr(path: string, list: Buffer, size: number): number;
}

let libc: Libc | undefined;
let errnoNames: Map<number, string> | undefined;
const XATTR_MAX = 65536;
let scratch: Buffer | undefined;

function lib(): Libc {
  if (libc === undefined) {
    const l = koffi.load('libc.so.6');
    libc = {
      lsetxattr: l.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
      lgetxattr: l.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)'),
      llistxattr: l.func('long llistxattr(const char *path, void *list, size_t size)'),
    } as Libc;
    errnoNames = new Map();
    for (const [name, n] of Object.entries(koffi.os.errno)) {
      if (!errnoNames.has(n)) errnoNames.set(n, name);
    }
    errnoNames.set(koffi.os.errno.ENOTSUP ?? 95, 'ENOTSUP');
  }
  return libc;
}

function errnoError(syscall: string, path: string): Error {
  const errno = koffi.errno();
  const code = errnoNames?.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`${syscall} ${path}: ${code}`), { code, errno, syscall, path });
}

function buffer(): Buffer {
  scratch ??= Buffer.alloc(XATTR_MAX);
  return scratch;
}

export function setXattr(path: string, name: string, value: Uint8Array): void {
  const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (lib().lsetxattr(path, name, v, v.length, 0) !== 0) throw errnoError('lsetxattr', path);
}

/** The value of xattr `name`, or undefined when it is not set (ENODATA) or unsupported. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const buf = buffer();
  const n = lib().lgetxattr(path, name, buf, buf.length);
  if (n >= 0) return Buffer.from(buf.subarray(0, n));
  const e = errnoError('lgetxattr', path);
  const code = (e as { code?: string }).code;
  if (code === 'ENODATA' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return undefined;
  throw e;
}

/** Names of the xattrs set on `path` (not following a symlink). */
export function listXattrs(path: string): string[] {
  const buf = buffer();
  const n = lib().llistxattr(path, buf, buf.length);
  if (n < 0) {
    const e = errnoError('llistxattr', path);
    const code = (e as { code?: string }).code;
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return [];
    throw e;
  }
  if (n === 0) return [];
  return buf.toString('utf8', 0, n - 1).split('\0');
}
