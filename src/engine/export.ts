// `export`: a container's whole filesystem as one tar, as Docker writes it (go-archive's Tar of
// the root: names relative to it, no entry for the root itself, entries in name order,
// directories with a trailing "/", a second name of a hardlinked inode as a hardlink, sockets
// skipped, security.capability kept as a PAX xattr, whole-second mtimes).
//
// Lifecycle of a call: open a view of the container's filesystem -> stream the tar -> release
// the view when the stream ends or is destroyed. A running (or paused) container's mounted
// rootfs is read in place. Otherwise a private read-only view is mounted under the run root:
// an overlay of the image's layers with no upper directory, and over it a second overlay, read
// only, whose lower directories are the container's upper directory (its whiteouts and opaque
// directories honoured as in any lower) and that first mount. Nothing can write to the
// container's layers, and the container can be started meanwhile. (Two levels of overlay are
// within the kernel's stacking limit wherever containers run at all: a data root on overlayfs
// already refuses the container's own mount.) Views a daemon that died left behind are swept
// by the next export.
//
// The tree is walked from directory descriptors (`/proc/self/fd/N/name`, O_NOFOLLOW, regular
// files checked through an O_PATH descriptor first): a process of a running container that
// swaps a directory for a symlink mid-walk cannot send berth outside the container, and a
// directory that is a mount point is listed but not descended into.

import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import type { Digest } from '../core/digest.ts';
import { conflict, errnoOf, invalid, systemError } from '../core/errors.ts';
import type { ContainerRecord } from '../containers/types.ts';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from '../snapshots/index.ts';
import * as libc from '../sys/libc.ts';
import type { Overlay } from './container-service.ts';

/** The container records export needs. */
export interface ContainerLookup {
  resolve(idOrName: string): ContainerRecord;
  dirOf(id: string): string;
}

export interface ExportDeps {
  readonly containers: ContainerLookup;
  readonly overlay: Overlay;
  /** Views are mounted under `<runRoot>/export/`. */
  readonly runRoot: string;
}

export interface ExportOptions {
  readonly signal?: AbortSignal;
}

const O_PATH = 0o10000000; // Linux; not in Node's fs.constants
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const CHUNK = 256 * 1024;
const BATCH = 64 * 1024;

/** The host path naming `name` in the directory open as `fd`, resolved there and nowhere else. */
const at = (fd: number, name = ''): string => (name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

// -------------------------------------------------------------------------------- views

interface View {
  readonly root: string;
  release(): Promise<void>;
}

async function isMountPoint(path: string, parent: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(path), stat(parent)]);
    return a.dev !== b.dev;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}

/** Unmount a view's mounts (top first) and remove its directories; a view still busy is left. */
async function removeView(overlay: Overlay, base: string): Promise<void> {
  try {
    await overlay.unmount(join(base, 'root'));
    await overlay.unmount(join(base, 'layers'));
    for (const d of ['root', 'layers']) {
      await rmdir(join(base, d)).catch((e: unknown) => {
        if (errnoOf(e) !== 'ENOENT') throw e;
      });
    }
    await rmdir(base);
  } catch (e) {
    process.stderr.write(`berthd: cannot remove the export view ${base}: ${(e as Error).message}\n`);
  }
}

/** Views of daemons no longer running. */
async function sweepViews(overlay: Overlay, dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = /^(\d+)-[a-f0-9]+$/.exec(name);
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    await removeView(overlay, join(dir, name));
  }
}

/** Mount a read-only view of a stopped container at `<base>/root` (the caller removes `base` on failure). */
async function mountView(deps: ExportDeps, rec: ContainerRecord, base: string): Promise<void> {
  const upper = join(deps.containers.dirOf(rec.id), 'upper');
  const root = join(base, 'root');
  const layers = join(base, 'layers');
  const lowerChainIds: Digest[] = [...rec.layers].reverse();
  for (const p of [upper, layers]) if (/[,:\\]/.test(p)) throw invalid(`cannot export: ${JSON.stringify(p)} cannot be named in overlay options`);
  await mkdir(root, { mode: 0o755 });
  await mkdir(layers, { mode: 0o755 });
  // an image without layers leaves `layers` an empty directory
  if (lowerChainIds.length > 0) await deps.overlay.mountOverlay({ lowerChainIds, target: layers });
  try {
    await libc.mountAsync('overlay', root, 'overlay', libc.MS_RDONLY, `lowerdir=${upper}:${layers}`);
  } catch (e) {
    throw systemError(`mount overlay on ${root}: ${(e as Error).message}`, e);
  }
}

async function openView(deps: ExportDeps, rec: ContainerRecord): Promise<View> {
  const st = rec.state.status;
  if (st === 'removing') throw conflict(`container ${rec.id.slice(0, 12)} is being removed`);
  const dir = deps.containers.dirOf(rec.id);
  const rootfs = join(dir, 'rootfs');
  if ((st === 'running' || st === 'paused' || st === 'restarting') && (await isMountPoint(rootfs, dir))) {
    return { root: rootfs, release: async () => undefined };
  }
  const views = join(deps.runRoot, 'export');
  await mkdir(views, { recursive: true, mode: 0o700 });
  await sweepViews(deps.overlay, views);
  const base = join(views, `${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(base, { mode: 0o700 });
  try {
    await mountView(deps, rec, base);
  } catch (e) {
    await removeView(deps.overlay, base);
    throw e;
  }
  let released = false;
  return {
    root: join(base, 'root'),
    release: async () => {
      if (released) return;
      released = true;
      await removeView(deps.overlay, base);
    },
  };
}

// ---------------------------------------------------------------------------- the walk

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

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** Open `host` for reading if it is still the regular file `ino` (never opening a device swapped in). */
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

/** Collects small pieces of output into chunks of about BATCH bytes. */
class Batch {
  private parts: Buffer[] = [];
  private size = 0;
  add(b: Buffer): boolean {
    this.parts.push(b);
    this.size += b.length;
    return this.size >= BATCH;
  }
  take(): Buffer {
    const out = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return out;
  }
}

interface Walk {
  readonly dev: number;
  /** dev:ino -> the first name of a hardlinked inode */
  readonly links: Map<string, string>;
  readonly out: Batch;
  readonly signal: AbortSignal | undefined;
}

/** The entries under the directory open as `dir`, named `prefix` + name, in name order. */
async function* entries(dir: FileHandle, prefix: string, w: Walk): AsyncGenerator<Buffer> {
  let names: string[];
  try {
    names = (await readdir(at(dir.fd))).sort();
  } catch {
    return; // removed under us
  }
  for (const name of names) {
    w.signal?.throwIfAborted();
    const host = at(dir.fd, name);
    const st = await lstatOrUndefined(host);
    if (st === undefined) continue;
    const tarName = `${prefix}${name}`;
    const base = { name: tarName, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: 0 };

    if (st.isDirectory()) {
      const xattrs = securityCapability(host);
      if (w.out.add(encodeHeader({ ...base, type: 'directory', ...(xattrs ? { xattrs } : {}) }))) yield w.out.take();
      if (st.dev !== w.dev) continue; // a mount point: what is mounted there is not the container's
      let fh: FileHandle;
      try {
        fh = await open(host, DIR_FLAGS);
      } catch {
        continue; // replaced or removed under us
      }
      try {
        yield* entries(fh, `${tarName}/`, w);
      } finally {
        await fh.close();
      }
      continue;
    }
    if (st.isSocket()) continue;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = w.links.get(key);
      if (first !== undefined) {
        if (w.out.add(encodeHeader({ ...base, type: 'link', linkname: first }))) yield w.out.take();
        continue;
      }
      w.links.set(key, tarName);
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await readlink(host);
      } catch {
        continue;
      }
      if (w.out.add(encodeHeader({ ...base, type: 'symlink', linkname: target }))) yield w.out.take();
      continue;
    }
    if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type: TarWriteHeader['type'] = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'block';
      if (w.out.add(encodeHeader({ ...base, type, ...(st.isFIFO() ? {} : devNumbers(st.rdev)) }))) yield w.out.take();
      continue;
    }
    if (!st.isFile()) continue;
    const fh = await openRegular(host, st.ino);
    if (fh === undefined) continue;
    try {
      const xattrs = securityCapability(host);
      w.out.add(encodeHeader({ ...base, type: 'file', size: st.size, ...(xattrs ? { xattrs } : {}) }));
      yield* fileBody(fh, st.size, w.out);
    } finally {
      await fh.close();
    }
  }
}

/** `size` bytes of a file and its padding: cut, or zero-padded if it shrank meanwhile. */
async function* fileBody(fh: FileHandle, size: number, out: Batch): AsyncGenerator<Buffer> {
  let done = 0;
  while (done < size) {
    const want = Math.min(CHUNK, size - done);
    const buf = Buffer.alloc(want);
    const { bytesRead } = await fh.read(buf, 0, want, done);
    if (bytesRead === 0) {
      if (out.add(Buffer.alloc(size - done))) yield out.take();
      break;
    }
    if (out.add(bytesRead === want ? buf : buf.subarray(0, bytesRead))) yield out.take();
    done += bytesRead;
  }
  if (out.add(paddingFor(size))) yield out.take();
}

/**
 * GET /containers/{id}/export: the container's filesystem as a tar. The container is looked
 * up and its view opened before this returns; the view is released when the stream ends, fails
 * or is destroyed.
 */
export async function exportContainer(deps: ExportDeps, idOrName: string, opts: ExportOptions = {}): Promise<Readable> {
  const rec = deps.containers.resolve(idOrName);
  const view = await openView(deps, rec);
  let root: FileHandle;
  let dev: number;
  try {
    root = await open(view.root, DIR_FLAGS);
    dev = (await root.stat()).dev;
  } catch (e) {
    await view.release();
    throw e;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await root.close().catch(() => undefined);
    await view.release();
  };
  const { signal } = opts;
  async function* generate(): AsyncGenerator<Buffer> {
    try {
      const w: Walk = { dev, links: new Map(), out: new Batch(), signal };
      yield* entries(root, '', w);
      w.out.add(END_OF_ARCHIVE);
      yield w.out.take();
    } finally {
      await close();
    }
  }
  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: BATCH });
  // A stream destroyed before its first read never runs the generator (nor its finally).
  stream.once('close', () => void close());
  return signal === undefined ? stream : addAbortSignal(signal, stream);
}
