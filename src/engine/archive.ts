// Copying files in and out of a container (`docker cp`): stat a path, read a path as a tar
// archive, extract a tar archive into a directory, on running and stopped containers alike.
//
// Lifecycle of a call: open a view of the container's filesystem (the mounted rootfs of a
// running container; for a stopped one a temporary overlay mount of the same layers and upper
// directory that start mounts, under the container's directory, shared by concurrent calls and
// unmounted after the last one, even on error), work in it, release it. A GET holds its view
// until its tar stream has ended or been destroyed.
//
// Every path resolves inside the container root (resolveInRoot's rules: a symlink is followed
// relative to the root, ".." never climbs above it), but the walk is made one component at a
// time from open directory descriptors (`/proc/self/fd/N/name`): no host path is ever handed to
// the kernel to be resolved again, so a process of a running container that swaps a directory
// for a symlink in the middle of a copy cannot send berth outside the container (the
// CVE-2018-15664 race, which Docker closed by chrooting). Nothing here follows a final symlink
// when writing: files are created O_EXCL|O_NOFOLLOW, modes and owners are set through
// descriptors, trees are removed descriptor by descriptor.
//
// Docker's rules are kept (moby daemon/archive_unix.go, go-archive Unpack and createTarFile):
// paths are cleaned against "/", a trailing "/" or "/." asserts a directory, the tar of a
// directory is named after the path's basename ("." for "/x/."), archive entries that climb out
// of the extraction directory, hardlinks outside it and symlinks whose target leaves it are
// refused, implied parent directories are made 0755 root:root, entries keep the uid/gid of the
// archive unless copyUIDGID asks for the container user's (moby's actual behaviour: without
// --archive the archive's owners are kept, with it a container with a USER gets that user).

import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, rm, rmdir, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { getSystemErrorMap } from 'node:util';
import { EngineError, conflict, errnoOf, invalid, isEngineError, notFound } from '../core/errors.ts';
import type { ContainerRecord } from '../containers/types.ts';
import { resolveUser } from '../runtime/spec/index.ts';
import { readTar, type TarEntry } from '../snapshots/tar-reader.ts';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from '../snapshots/tar-writer.ts';
import * as libc from '../sys/libc.ts';
import type { Overlay } from './container-service.ts';

// ------------------------------------------------------------------------------------ types

/** What HEAD/GET /containers/{id}/archive report (moby's container.PathStat). */
export interface PathStat {
  readonly name: string;
  readonly size: number;
  /** A Go os.FileMode: permission bits plus Go's type and setuid/setgid/sticky bits. */
  readonly mode: number;
  /** RFC 3339 with nanoseconds, UTC. */
  readonly mtime: string;
  /** For a symlink: the fully evaluated target, as a path in the container. */
  readonly linkTarget: string;
}

export interface GetArchiveOptions {
  /** Follow a final symlink (the tar is still named after the path asked for). */
  readonly followLink?: boolean;
}

export interface PutArchiveOptions {
  /** Refuse to replace a directory with a non-directory and vice versa. */
  readonly noOverwriteDirNonDir?: boolean;
  /** Own every entry by the container's configured user (when it has one). */
  readonly copyUIDGID?: boolean;
  readonly signal?: AbortSignal;
}

/** The container records this service needs. */
export interface ContainerLookup {
  resolve(idOrName: string): ContainerRecord;
  dirOf(id: string): string;
}

// Go's os.FileMode bits.
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_NAMED_PIPE = 2 ** 25;
const MODE_SOCKET = 2 ** 24;
const MODE_SETUID = 2 ** 23;
const MODE_SETGID = 2 ** 22;
const MODE_CHAR_DEVICE = 2 ** 21;
const MODE_STICKY = 2 ** 20;

/** Go's FileMode of a POSIX st_mode (os.fillFileStatFromSys). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & 0o170000) {
    case 0o060000:
      m += MODE_DEVICE;
      break;
    case 0o020000:
      m += MODE_DEVICE + MODE_CHAR_DEVICE;
      break;
    case 0o040000:
      m += MODE_DIR;
      break;
    case 0o010000:
      m += MODE_NAMED_PIPE;
      break;
    case 0o120000:
      m += MODE_SYMLINK;
      break;
    case 0o140000:
      m += MODE_SOCKET;
      break;
  }
  if (mode & 0o4000) m += MODE_SETUID;
  if (mode & 0o2000) m += MODE_SETGID;
  if (mode & 0o1000) m += MODE_STICKY;
  return m;
}

/** Go's time.Time JSON form (RFC 3339, nanoseconds without trailing zeros), in UTC. */
export function rfc3339Nano(ns: bigint): string {
  let sec = ns / 1_000_000_000n;
  let frac = ns % 1_000_000_000n;
  if (frac < 0n) {
    frac += 1_000_000_000n;
    sec -= 1n;
  }
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  const f = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${f}Z`;
}

// ------------------------------------------------------------------------ Go path semantics

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = out.join('/');
  return abs ? `/${s}` : s === '' ? '.' : s;
}

/** Go's filepath.Base. */
export function baseName(p: string): string {
  if (p === '') return '.';
  const t = p.replace(/\/+$/, '');
  if (t === '') return '/';
  return t.slice(t.lastIndexOf('/') + 1);
}

const hasTrailingSeparator = (p: string): boolean => p.endsWith('/');
const specifiesCurrentDir = (p: string): boolean => baseName(p) === '.';
const assertsDirectory = (p: string): boolean => hasTrailingSeparator(p) || specifiesCurrentDir(p);

/** go-archive PreserveTrailingDotOrSeparator. */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  let p = cleaned;
  if (!specifiesCurrentDir(p) && specifiesCurrentDir(original)) {
    if (!hasTrailingSeparator(p)) p += '/';
    p += '.';
  }
  if (!hasTrailingSeparator(p) && hasTrailingSeparator(original)) p += '/';
  return p;
}

/** A container path as Docker takes it: joined to "/", cleaned, trailing "/" or "/." kept. */
function absolutePath(path: string): string {
  return preserveTrailingDotOrSeparator(cleanPath(`/${path}`), path);
}

// ------------------------------------------------------------- walking inside the root by fd

const O_PATH = 0o10000000; // Linux; not in Node's fs.constants
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const MAX_LINKS = 255;

/** The host path that names `name` in the directory open as `fd` (one component, resolved there). */
const at = (fd: number, name = ''): string => (name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

/** An errno error about a path in the container (never a host path). */
function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${syscall} ${path}: ${strerror(code)}`);
  e.code = code;
  e.syscall = syscall;
  e.path = path;
  return e;
}

function strerror(code: string): string {
  const n = (osConstants.errno as Record<string, number>)[code];
  return (n !== undefined ? getSystemErrorMap().get(-n)?.[1] : undefined) ?? code;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** A directory open inside the container root, with its path there. */
interface OpenDir {
  readonly fh: FileHandle;
  /** Its path in the container, symlinks resolved. */
  readonly path: string;
  close(): Promise<void>;
}

/** Where a path leads: entry `name` of `dir` (`name` '' = `dir` itself); `st` undefined when absent. */
interface Location {
  readonly dir: OpenDir;
  readonly name: string;
  readonly path: string;
  readonly st: Stats | undefined;
}

interface WalkOptions {
  /** Follow a symlink in the last component too. */
  readonly followFinal: boolean;
  /** Make missing directories on the way (0755, root:root), the last one included. */
  readonly create?: boolean;
}

/** The root directory of a container's filesystem, open; every path is resolved inside it. */
class ContainerRoot {
  private constructor(
    private readonly fh: FileHandle,
    readonly hostPath: string,
  ) {}

  static async open(hostPath: string): Promise<ContainerRoot> {
    return new ContainerRoot(await open(hostPath, DIR_FLAGS), hostPath);
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private rootDir(): OpenDir {
    return { fh: this.fh, path: '/', close: async () => undefined };
  }

  /**
   * Walk `unsafePath` from the root. Symlinks met on the way are read and their targets walked
   * in turn (an absolute one from the root again); ".." pops a directory and stops at the root.
   * The last component is looked up but not opened. A missing directory on the way is ENOENT
   * (unless `create`), a non-directory ENOTDIR.
   */
  async locate(unsafePath: string, o: WalkOptions): Promise<Location> {
    const stack: { fh: FileHandle; name: string }[] = [];
    const cur = (): FileHandle => stack[stack.length - 1]?.fh ?? this.fh;
    const closeAll = async (): Promise<void> => {
      for (const s of stack.splice(0)) await s.fh.close();
    };
    let pending = unsafePath.split('/').filter((p) => p !== '' && p !== '.');
    let links = 0;
    try {
      for (;;) {
        const part = pending.shift();
        if (part === undefined) break;
        if (part === '..') {
          await stack.pop()?.fh.close();
          continue;
        }
        const last = pending.length === 0;
        const host = at(cur().fd, part);
        const st = await lstatOrUndefined(host);
        if (st === undefined) {
          if (o.create) {
            await mkdir(host, 0o755).catch((e: unknown) => {
              if (errnoOf(e) !== 'EEXIST') throw e;
            });
            await lchown(host, 0, 0);
            pending.unshift(part);
            continue;
          }
          if (last) return this.location(stack, part, undefined);
          throw fsError('ENOENT', 'lstat', unsafePath);
        }
        if (st.isSymbolicLink() && (!last || o.followFinal)) {
          if (++links > MAX_LINKS) throw fsError('ELOOP', 'lstat', unsafePath);
          const target = await readlink(host);
          if (target.startsWith('/')) await closeAll();
          pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
          continue;
        }
        if (last) return this.location(stack, part, st);
        if (!st.isDirectory()) throw fsError('ENOTDIR', 'lstat', unsafePath);
        stack.push({ fh: await open(host, DIR_FLAGS), name: part });
      }
      // The path names a directory already open (or the root).
      const top = stack.pop();
      const parentPath = `/${stack.map((s) => s.name).join('/')}`;
      await closeAll();
      if (top === undefined) return { dir: this.rootDir(), name: '', path: '/', st: await this.fh.stat() };
      const path = posix.join(parentPath, top.name);
      return { dir: { fh: top.fh, path, close: () => top.fh.close() }, name: '', path, st: await top.fh.stat() };
    } catch (e) {
      await closeAll();
      throw e;
    }
  }

  /** Keep the innermost directory of `stack` open as the location's directory; close the rest. */
  private async location(stack: { fh: FileHandle; name: string }[], name: string, st: Stats | undefined): Promise<Location> {
    const top = stack.pop();
    const names = stack.map((s) => s.name);
    for (const s of stack.splice(0)) await s.fh.close();
    if (top === undefined) return { dir: this.rootDir(), name, path: posix.join('/', name), st };
    const dirPath = `/${[...names, top.name].join('/')}`;
    return { dir: { fh: top.fh, path: dirPath, close: () => top.fh.close() }, name, path: posix.join(dirPath, name), st };
  }

  /** The directory `unsafePath` leads to (symlinks followed), open. */
  async openDir(unsafePath: string, o: { create?: boolean } = {}): Promise<OpenDir> {
    const loc = await this.locate(unsafePath, { followFinal: true, create: o.create === true });
    return openLocatedDir(loc, unsafePath);
  }

  /**
   * A path with every symlink evaluated inside the root, as far as it exists (moby's
   * symlink.FollowSymlinkInScope(path, "/")): what HEAD reports as a symlink's linkTarget.
   */
  async evaluate(unsafePath: string): Promise<string> {
    let pending = unsafePath.split('/').filter((p) => p !== '' && p !== '.');
    const stack: { fh: FileHandle; name: string }[] = [];
    const cur = (): FileHandle => stack[stack.length - 1]?.fh ?? this.fh;
    const closeAll = async (): Promise<void> => {
      for (const s of stack.splice(0)) await s.fh.close();
    };
    let links = 0;
    try {
      for (;;) {
        const part = pending.shift();
        if (part === undefined) return `/${stack.map((s) => s.name).join('/')}`;
        if (part === '..') {
          await stack.pop()?.fh.close();
          continue;
        }
        const host = at(cur().fd, part);
        const st = await lstatOrUndefined(host);
        const lexical = (): string => cleanPath(`/${[...stack.map((s) => s.name), part, ...pending].join('/')}`);
        if (st === undefined) return lexical();
        if (st.isSymbolicLink()) {
          if (++links > MAX_LINKS) throw fsError('ELOOP', 'lstat', unsafePath);
          const target = await readlink(host);
          if (target.startsWith('/')) await closeAll();
          pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
          continue;
        }
        if (!st.isDirectory()) return lexical();
        stack.push({ fh: await open(host, DIR_FLAGS), name: part });
      }
    } finally {
      await closeAll();
    }
  }
}

/** Open the directory a location names (it must be one), closing the location's own directory. */
async function openLocatedDir(loc: Location, what: string): Promise<OpenDir> {
  if (loc.name === '') return loc.dir;
  try {
    if (loc.st === undefined) throw fsError('ENOENT', 'lstat', what);
    if (!loc.st.isDirectory()) throw fsError('ENOTDIR', 'lstat', what);
    const fh = await open(at(loc.dir.fh.fd, loc.name), DIR_FLAGS);
    return { fh, path: loc.path, close: () => fh.close() };
  } finally {
    await loc.dir.close();
  }
}

/**
 * chmod(2) follows symlinks and there is no lchmod: go through an O_PATH descriptor of the
 * node, whose /proc/self/fd link names that very inode; a symlink is left alone.
 */
async function chmodNoFollow(host: string, mode: number): Promise<void> {
  const fh = await open(host, O_PATH | constants.O_NOFOLLOW);
  try {
    if (!(await fh.stat()).isSymbolicLink()) await chmod(at(fh.fd), mode);
  } finally {
    await fh.close();
  }
}

/** Remove `name` of directory `dirFd` and everything under it, never following a symlink. */
async function removeTree(dirFd: number, name: string): Promise<void> {
  const host = at(dirFd, name);
  const st = await lstatOrUndefined(host);
  if (st === undefined) return;
  if (!st.isDirectory()) {
    await unlink(host);
    return;
  }
  const fh = await open(host, DIR_FLAGS);
  try {
    for (const child of await readdir(at(fh.fd))) await removeTree(fh.fd, child);
  } finally {
    await fh.close();
  }
  await rmdir(host);
}

// ------------------------------------------------------------------------ reading a tar out

const CHUNK = 256 * 1024;

function devNumbers(rdev: number): { devmajor: number; devminor: number } {
  const d = BigInt(rdev);
  return {
    devmajor: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)),
    devminor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn)),
  };
}

function securityCapability(host: string): Map<string, Uint8Array> | undefined {
  try {
    const v = libc.lgetxattr(host, 'security.capability');
    return v === null ? undefined : new Map([['security.capability', v]]);
  } catch {
    return undefined;
  }
}

/**
 * The tar entries of `name` in directory `dirFd` (a directory recursively, in name order) as
 * go-archive's Tarballer writes them: directories with a trailing "/", a second name of a
 * hardlinked inode as a hardlink to the first, sockets skipped. Entries that vanish or change
 * type while being read are skipped; a file that changes size is cut or padded to the size
 * in its header.
 */
async function* tarEntries(dirFd: number, name: string, tarName: string, path: string, st: Stats, walk: TarWalk, self?: FileHandle): AsyncGenerator<Buffer> {
  const host = at(dirFd, name);
  const mounted = walk.mounts.get(path);
  if (mounted !== undefined && st.isFile()) {
    yield* mountedFile(mounted, tarName);
    return;
  }
  const links = walk.links;
  const base = { name: tarName, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: 0 };
  if (st.isDirectory()) {
    let fh: FileHandle;
    try {
      fh = self ?? (await open(host, DIR_FLAGS));
    } catch {
      return; // replaced or removed under us
    }
    try {
      const xattrs = self === undefined ? securityCapability(host) : undefined;
      yield encodeHeader({ ...base, type: 'directory', ...(xattrs ? { xattrs } : {}) });
      const children = (await readdir(at(fh.fd))).sort();
      const prefix = tarName.endsWith('/') ? tarName : `${tarName}/`;
      for (const child of children) {
        const cst = await lstatOrUndefined(at(fh.fd, child));
        if (cst === undefined) continue;
        yield* tarEntries(fh.fd, child, `${prefix}${child}`, posix.join(path, child), cst, walk);
      }
    } finally {
      if (self === undefined) await fh.close();
    }
    return;
  }
  if (st.isSocket()) return;
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = links.get(key);
    if (first !== undefined) {
      yield encodeHeader({ ...base, type: 'link', linkname: first });
      return;
    }
    links.set(key, tarName);
  }
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = await readlink(host);
    } catch {
      return;
    }
    yield encodeHeader({ ...base, type: 'symlink', linkname: target });
    return;
  }
  if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
    const type: TarWriteHeader['type'] = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'block';
    yield encodeHeader({ ...base, type, ...(st.isFIFO() ? {} : devNumbers(st.rdev)) });
    return;
  }
  if (!st.isFile()) return;
  const fh = await openRegular(host, st.ino);
  if (fh === undefined) return;
  try {
    const xattrs = securityCapability(host);
    yield encodeHeader({ ...base, type: 'file', size: st.size, ...(xattrs ? { xattrs } : {}) });
    yield* fileBody(fh, st.size);
  } finally {
    await fh.close();
  }
}

/**
 * Open the regular file `host` for reading, or undefined if it is no longer the inode `ino`.
 * An O_PATH descriptor is checked first: a device node swapped in meanwhile is never opened
 * (opening one runs its driver).
 */
async function openRegular(host: string, ino: number): Promise<FileHandle | undefined> {
  let path: FileHandle;
  try {
    path = await open(host, O_PATH | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = await path.stat();
    if (!st.isFile() || st.ino !== ino) return undefined;
    return await open(at(path.fd), constants.O_RDONLY);
  } catch {
    return undefined;
  } finally {
    await path.close();
  }
}

/** `size` bytes of a file and the padding after them: cut, or zero-padded if the file shrank meanwhile. */
async function* fileBody(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
  let done = 0;
  while (done < size) {
    const want = Math.min(CHUNK, size - done);
    const buf = Buffer.alloc(want);
    const { bytesRead } = await fh.read(buf, 0, want, done);
    if (bytesRead === 0) {
      yield Buffer.alloc(size - done);
      break;
    }
    yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
    done += bytesRead;
  }
  yield paddingFor(size);
}

/** One of the files bind-mounted over the container's own (/etc/hosts...): berth's copy, in its place. */
async function* mountedFile(hostFile: string, tarName: string): AsyncGenerator<Buffer> {
  const fh = await open(hostFile, constants.O_RDONLY);
  try {
    const st = await fh.stat();
    yield encodeHeader({ name: tarName, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: st.size });
    yield* fileBody(fh, st.size);
  } finally {
    await fh.close();
  }
}

/** What a walk of the tree shares: inodes seen (for hardlinks), the files mounted over the tree. */
interface TarWalk {
  readonly links: Map<string, string>;
  readonly mounts: ReadonlyMap<string, string>;
}

// ------------------------------------------------------------------- extracting a tar in

interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** Xattrs never taken from an archive: overlayfs's own. */
const refusedXattr = (name: string): boolean => name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');

const q = (s: string): string => JSON.stringify(s);

/** go-archive boundTime(latestTime(atime, mtime)), in seconds. */
function times(h: TarEntry['header']): { atime: number; mtime: number } {
  const mtime = Number.isFinite(h.mtime) ? h.mtime : 0;
  const atime = h.atime !== undefined && Number.isFinite(h.atime) && h.atime > mtime ? h.atime : mtime;
  return { atime, mtime };
}

class Extractor {
  /** The parent directory of the last entry, kept open for the next entries of that directory. */
  private cached: { key: string; dir: OpenDir } | undefined;
  private readonly dirTimes: { path: string; atime: number; mtime: number }[] = [];

  constructor(
    private readonly root: ContainerRoot,
    private readonly dest: OpenDir,
    private readonly o: { noOverwriteDirNonDir: boolean; owner: Owner | undefined; mounts: ReadonlyMap<string, string> },
  ) {}

  async close(): Promise<void> {
    await this.dropCache();
  }

  private async dropCache(): Promise<void> {
    const c = this.cached;
    this.cached = undefined;
    if (c !== undefined && c.dir !== this.dest) await c.dir.close();
  }

  /** The directory an entry goes in: made if missing (implied directories), symlinks followed inside the root. */
  private async parentDir(comps: readonly string[]): Promise<OpenDir> {
    if (comps.length === 0) return this.dest;
    const key = comps.join('/');
    if (this.cached?.key === key) return this.cached.dir;
    await this.dropCache();
    const dir = await this.root.openDir(posix.join(this.dest.path, ...comps), { create: true });
    this.cached = { key, dir };
    return dir;
  }

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const dest = this.dest.path;
    const name = cleanPath(h.name);
    if (name === '..' || name.startsWith('../')) throw invalid(`${q(name)} is outside of ${q(dest)}`);
    const comps = name.split('/').filter((c) => c !== '' && c !== '.');
    const base = comps.pop();
    if (base === undefined) {
      // the extraction directory itself: merged, never replaced
      if (h.type === 'directory') return;
      throw invalid(`cannot overwrite directory ${q(dest)} with non-directory ${q(dest)}`);
    }
    // The archive's own path for the entry (Docker's filepath.Join(dest, hdr.Name)), for its checks.
    const lexical = cleanPath(`${dest}/${name}`);
    if (h.type === 'symlink') {
      const target = cleanPath(`${posix.dirname(lexical)}/${h.linkname}`);
      if (!target.startsWith(dest)) throw invalid(`invalid symlink ${q(lexical)} -> ${q(h.linkname)}`);
    }
    if (h.type === 'link') {
      const target = cleanPath(`${dest}/${h.linkname}`);
      if (!target.startsWith(dest)) throw invalid(`invalid hardlink ${q(target)} -> ${q(h.linkname)}`);
    }

    const parent = await this.parentDir(comps);
    const pfd = parent.fh.fd;
    const host = at(pfd, base);
    const entryPath = posix.join(parent.path, base);
    // Docker's view has its bind mounts there, which cannot be replaced
    if (this.o.mounts.has(entryPath)) throw new EngineError('system', `unlinkat ${entryPath}: device or resource busy`, { code: 'EBUSY' });
    const existing = await lstatOrUndefined(host);
    if (existing !== undefined) {
      const isDir = existing.isDirectory();
      const wantsDir = h.type === 'directory';
      if (this.o.noOverwriteDirNonDir && isDir && !wantsDir) throw invalid(`cannot overwrite directory ${q(entryPath)} with non-directory ${q(dest)}`);
      if (this.o.noOverwriteDirNonDir && !isDir && wantsDir) throw invalid(`cannot overwrite non-directory ${q(entryPath)} with directory ${q(dest)}`);
      if (!(isDir && wantsDir)) {
        await removeTree(pfd, base);
        // a cached directory may have been under what was removed
        if (this.cached !== undefined && this.cached.dir !== parent) await this.dropCache();
      }
    }
    const uid = this.o.owner?.uid ?? h.uid;
    const gid = this.o.owner?.gid ?? h.gid;
    const { atime, mtime } = times(h);

    switch (h.type) {
      case 'directory': {
        if (existing === undefined || !existing.isDirectory()) await mkdir(host, 0o700);
        const fh = await open(host, DIR_FLAGS);
        try {
          await fh.chown(uid, gid);
          this.xattrs(host, h.xattrs);
          await fh.chmod(h.mode);
        } finally {
          await fh.close();
        }
        this.dirTimes.push({ path: entryPath, atime, mtime });
        return;
      }
      case 'file': {
        const fh = await open(host, CREATE_FLAGS, 0o600);
        try {
          for await (const chunk of entry.body) {
            let off = 0;
            while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
          }
          await fh.chown(uid, gid);
          this.xattrs(host, h.xattrs);
          await fh.chmod(h.mode); // after chown, which clears setuid/setgid
          await fh.utimes(atime, mtime);
        } finally {
          await fh.close();
        }
        return;
      }
      case 'symlink':
        await symlink(h.linkname, host);
        await lchown(host, uid, gid);
        this.xattrs(host, h.xattrs);
        await lutimes(host, atime, mtime);
        return;
      case 'link': {
        const target = await this.root.locate(cleanPath(`${dest}/${h.linkname}`), { followFinal: false });
        try {
          if (target.st === undefined || target.name === '') throw fsError('ENOENT', 'link', cleanPath(`${dest}/${h.linkname}`));
          await link(at(target.dir.fh.fd, target.name), host); // link(2) does not follow a symlink
        } finally {
          await target.dir.close();
        }
        await lchown(host, uid, gid);
        // chown cleared setuid/setgid of the shared inode: give it its mode back
        await chmodNoFollow(host, h.mode);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const type = h.type === 'char' ? libc.S_IFCHR : h.type === 'block' ? libc.S_IFBLK : libc.S_IFIFO;
        libc.mknod(host, type | (h.mode & 0o7777), libc.makedev(h.devmajor, h.devminor));
        await lchown(host, uid, gid);
        this.xattrs(host, h.xattrs);
        await chmodNoFollow(host, h.mode);
        await lutimes(host, atime, mtime);
        return;
      }
    }
  }

  private xattrs(host: string, xattrs: ReadonlyMap<string, Buffer>): void {
    for (const [name, value] of xattrs) {
      if (refusedXattr(name)) continue;
      try {
        libc.lsetxattr(host, name, value);
      } catch (e) {
        const code = errnoOf(e);
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
      }
    }
  }

  /** Directory times last: writing their content changed them. */
  async finish(): Promise<void> {
    await this.dropCache();
    for (const d of this.dirTimes) {
      const loc = await this.root.locate(d.path, { followFinal: false }).catch(() => undefined);
      if (loc === undefined) continue;
      try {
        if (loc.st?.isDirectory() !== true) continue;
        const fh = loc.name === '' ? undefined : await open(at(loc.dir.fh.fd, loc.name), DIR_FLAGS).catch(() => undefined);
        if (fh === undefined) continue;
        try {
          await fh.utimes(d.atime, d.mtime);
        } finally {
          await fh.close();
        }
      } finally {
        await loc.dir.close();
      }
    }
  }
}

// ------------------------------------------------------------------------------ the service

/** A view of a container's filesystem: a host directory holding its root. */
interface View {
  readonly root: string;
  release(): Promise<void>;
}

interface SharedView {
  readonly base: string;
  readonly ready: Promise<void>;
  refs: number;
}

const VIEW_PREFIX = 'archive-';

async function isMountPoint(path: string, parent: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(path), stat(parent)]);
    return a.dev !== b.dev;
  } catch {
    return false;
  }
}

async function* chunksOf(input: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const c of input) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

export class ContainerArchive {
  private readonly views = new Map<string, SharedView>();
  private readonly unmounting = new Map<string, Promise<void>>();
  private readonly swept = new Set<string>();

  constructor(
    private readonly containers: ContainerLookup,
    private readonly overlay: Overlay,
  ) {}

  /** HEAD /containers/{name}/archive: the path's stat (a final symlink is not followed unless the path ends in "/" or "/."). */
  async statPath(idOrName: string, path: string): Promise<PathStat> {
    const rec = this.containers.resolve(idOrName);
    if (path === '') throw invalid('bad parameter: path cannot be empty');
    return this.withRoot(rec, idOrName, path, async (root) => {
      const { big, linkTarget } = await this.lookup(root, absolutePath(path), false, this.mountsOf(rec));
      return toPathStat(baseName(path), big, linkTarget);
    });
  }

  /**
   * GET /containers/{name}/archive: the stat of the path and a tar of it, named after its
   * basename. The view of the container stays open until the stream ends or is destroyed.
   */
  async getArchive(idOrName: string, path: string, opts: GetArchiveOptions = {}): Promise<{ stat: PathStat; tar: Readable }> {
    const rec = this.containers.resolve(idOrName);
    if (path === '') throw invalid('bad parameter: path cannot be empty');
    const absPath = absolutePath(path);
    const view = await this.acquire(rec);
    let root: ContainerRoot | undefined;
    try {
      root = await ContainerRoot.open(view.root);
      const mounts = this.mountsOf(rec);
      const { st, big, linkTarget, loc } = await this.lookup(root, absPath, opts.followLink === true, mounts, true);
      const name = baseName(absPath);
      const stat = toPathStat(name, big, linkTarget);
      const owned = root;
      let closed = false;
      const close = async (): Promise<void> => {
        if (closed) return;
        closed = true;
        await loc.dir.close().catch(() => undefined);
        await owned.close().catch(() => undefined);
        await view.release();
      };
      const gen = async function* (): AsyncGenerator<Buffer> {
        try {
          const walk: TarWalk = { links: new Map(), mounts };
          if (loc.name === '') yield* tarEntries(loc.dir.fh.fd, '', name, loc.path, st, walk, loc.dir.fh);
          else yield* tarEntries(loc.dir.fh.fd, loc.name, name, loc.path, st, walk);
          // released before the end-of-archive blocks: a client that stops reading there
          // finds the container's view gone already
          await close();
          yield END_OF_ARCHIVE;
        } finally {
          await close();
        }
      };
      return { stat, tar: Readable.from(gen(), { objectMode: false }) };
    } catch (e) {
      await root?.close().catch(() => undefined);
      await view.release();
      throw this.mapError(e, path, idOrName);
    }
  }

  /**
   * PUT /containers/{name}/archive: extract a tar archive into the directory `path` (which
   * must exist; a final symlink is followed).
   */
  async putArchive(idOrName: string, path: string, input: AsyncIterable<Uint8Array>, opts: PutArchiveOptions = {}): Promise<void> {
    const rec = this.containers.resolve(idOrName);
    if (path === '') throw invalid('bad parameter: path cannot be empty');
    await this.withRoot(rec, idOrName, path, async (root) => {
      const loc = await root.locate(cleanPath(`/${path}`), { followFinal: true });
      if (loc.st === undefined) {
        await loc.dir.close();
        throw fsError('ENOENT', 'lstat', path);
      }
      if (!loc.st.isDirectory()) {
        await loc.dir.close();
        throw invalid('extraction point is not a directory');
      }
      const dest = await openLocatedDir(loc, path);
      try {
        if (rec.hostConfig.readonlyRootfs) throw invalid('container rootfs is marked read-only');
        const owner = opts.copyUIDGID === true && rec.config.user !== '' ? await resolveUser(root.hostPath, rec.config.user) : undefined;
        const x = new Extractor(root, dest, { noOverwriteDirNonDir: opts.noOverwriteDirNonDir === true, owner, mounts: this.mountsOf(rec) });
        try {
          for await (const entry of readTar(chunksOf(input))) {
            opts.signal?.throwIfAborted();
            await x.apply(entry);
          }
          await x.finish();
        } finally {
          await x.close();
        }
      } finally {
        await dest.close();
      }
    });
  }

  /** Stat `absPath`, with Docker's rules on a trailing "/" or "/.". */
  private async lookup(
    root: ContainerRoot,
    absPath: string,
    followLink: boolean,
    mounts: ReadonlyMap<string, string>,
    keep = false,
  ): Promise<{ st: Stats; big: BigIntStats; linkTarget: string; loc: Location }> {
    const dirAsserted = assertsDirectory(absPath);
    const loc = await root.locate(absPath, { followFinal: dirAsserted || followLink });
    try {
      if (loc.st === undefined) throw fsError('ENOENT', 'lstat', absPath);
      if (dirAsserted && !loc.st.isDirectory()) throw fsError('ENOTDIR', 'lstat', absPath);
      const linkTarget = loc.st.isSymbolicLink() ? await root.evaluate(absPath) : '';
      const mounted = loc.st.isFile() ? mounts.get(loc.path) : undefined;
      const big =
        mounted !== undefined
          ? await stat(mounted, { bigint: true })
          : loc.name === ''
            ? await loc.dir.fh.stat({ bigint: true })
            : await lstat(at(loc.dir.fh.fd, loc.name), { bigint: true });
      if (!keep) await loc.dir.close();
      return { st: loc.st, big, linkTarget, loc };
    } catch (e) {
      await loc.dir.close();
      throw e;
    }
  }

  /** The files Docker's view of a container has bind-mounted: the container's own /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  private mountsOf(rec: ContainerRecord): ReadonlyMap<string, string> {
    const dir = this.containers.dirOf(rec.id);
    return new Map([
      ['/etc/hostname', join(dir, 'hostname')],
      ['/etc/hosts', join(dir, 'hosts')],
      ['/etc/resolv.conf', join(dir, 'resolv.conf')],
    ]);
  }

  private async withRoot<T>(rec: ContainerRecord, idOrName: string, path: string, fn: (root: ContainerRoot) => Promise<T>): Promise<T> {
    const view = await this.acquire(rec);
    try {
      const root = await ContainerRoot.open(view.root);
      try {
        return await fn(root);
      } finally {
        await root.close();
      }
    } catch (e) {
      throw this.mapError(e, path, idOrName);
    } finally {
      await view.release();
    }
  }

  /** Errors as Docker words them: a missing path is "Could not find the file ...". */
  private mapError(e: unknown, path: string, idOrName: string): unknown {
    if (isEngineError(e)) {
      if (e.code === 'invalid-layer') return invalid(e.message.replace(/^invalid layer: /, ''));
      return e;
    }
    const code = errnoOf(e);
    if (code === undefined) return e;
    if (code === 'ENOENT') return notFound(`Could not find the file ${path} in container ${idOrName}`);
    const own = e as NodeJS.ErrnoException;
    // Our own errors name container paths; Node's name /proc/self/fd paths: never shown.
    const message = own.path !== undefined && !own.path.startsWith('/proc/') ? own.message : `${path}: ${strerror(code)}`;
    const kind = ['ENOTDIR', 'ELOOP', 'EISDIR', 'ENAMETOOLONG', 'EEXIST', 'ENOTEMPTY'].includes(code) ? 'invalid-parameter' : 'system';
    return new EngineError(kind, message, { code, cause: e });
  }

  // -------------------------------------------------------------------------------- views

  private async acquire(rec: ContainerRecord): Promise<View> {
    const st = rec.state.status;
    if (st === 'removing') throw conflict(`container ${rec.id.slice(0, 12)} is being removed`);
    const dir = this.containers.dirOf(rec.id);
    const rootfs = join(dir, 'rootfs');
    if ((st === 'running' || st === 'paused' || st === 'restarting') && (await isMountPoint(rootfs, dir))) {
      return { root: rootfs, release: async () => undefined };
    }
    let shared = this.views.get(rec.id);
    if (shared === undefined) {
      const base = join(dir, `${VIEW_PREFIX}${randomBytes(4).toString('hex')}`);
      // one overlay on the upper directory at a time: wait for the last view to be gone
      const previous = this.unmounting.get(rec.id) ?? Promise.resolve();
      const created: SharedView = { base, ready: previous.then(() => this.mountView(rec, dir, base)), refs: 0 };
      this.views.set(rec.id, created);
      created.ready.catch(() => {
        if (this.views.get(rec.id) === created) this.views.delete(rec.id);
      });
      shared = created;
    }
    const view = shared;
    view.refs++;
    try {
      await view.ready;
    } catch (e) {
      view.refs--;
      throw e;
    }
    let released = false;
    return {
      root: join(view.base, 'root'),
      release: async () => {
        if (released) return;
        released = true;
        if (--view.refs > 0) return;
        if (this.views.get(rec.id) === view) this.views.delete(rec.id);
        const gone = this.unmountView(view.base);
        this.unmounting.set(rec.id, gone);
        await gone;
        if (this.unmounting.get(rec.id) === gone) this.unmounting.delete(rec.id);
      },
    };
  }

  /** Mount the container's layers and upper directory at `<base>/root`, with a work directory of its own. */
  private async mountView(rec: ContainerRecord, dir: string, base: string): Promise<void> {
    if (!this.swept.has(rec.id)) {
      // views a crashed daemon left behind
      this.swept.add(rec.id);
      for (const e of await readdir(dir).catch(() => [] as string[])) {
        if (e.startsWith(VIEW_PREFIX) && join(dir, e) !== base) await this.unmountView(join(dir, e));
      }
    }
    await mkdir(base, { mode: 0o700 });
    try {
      await mkdir(join(base, 'root'), { mode: 0o755 });
      await mkdir(join(base, 'work'), { mode: 0o700 });
      await this.overlay.mountOverlay({
        lowerChainIds: [...rec.layers].reverse(),
        upperDir: join(dir, 'upper'),
        workDir: join(base, 'work'),
        target: join(base, 'root'),
      });
    } catch (e) {
      await this.unmountView(base);
      throw e;
    }
  }

  /** Unmount a view and remove its directories; a mount point that stays busy is left alone. */
  private async unmountView(base: string): Promise<void> {
    try {
      await this.overlay.unmount(join(base, 'root'));
      await rmdir(join(base, 'root')).catch((e: unknown) => {
        if (errnoOf(e) !== 'ENOENT') throw e;
      });
      await rm(join(base, 'work'), { recursive: true, force: true });
      await rmdir(base);
    } catch (e) {
      process.stderr.write(`berthd: cannot remove the archive view ${base}: ${(e as Error).message}\n`);
    }
  }
}

function toPathStat(name: string, st: BigIntStats, linkTarget: string): PathStat {
  return { name, size: Number(st.size), mode: goFileMode(Number(st.mode)), mtime: rfc3339Nano(st.mtimeNs), linkTarget };
}
