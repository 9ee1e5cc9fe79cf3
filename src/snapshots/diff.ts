// The changeset of a container's writable layer: the overlay upper directory as a layer tar.
// Overlay whiteouts (char device 0:0) become `.wh.NAME` entries and opaque directories
// (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry right after their own. Entries are
// sorted by name within each directory; owners, modes, mtimes and xattrs are kept (overlay's
// own trusted.overlay.* xattrs are not); hardlinks within the upper dir are found by inode.

import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import * as native from './native.ts';
import { OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX } from './apply.ts';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from './tar-writer.ts';

const CHUNK = 64 * 1024;

function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

function xattrsOf(abs: string): Map<string, Buffer> | undefined {
  let out: Map<string, Buffer> | undefined;
  for (const name of native.listXattrs(abs)) {
    if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) continue;
    const value = native.getXattr(abs, name);
    if (value === undefined) continue;
    (out ??= new Map()).set(name, value);
  }
  return out;
}

function base(st: BigIntStats): Pick<TarWriteHeader, 'mode' | 'uid' | 'gid' | 'mtime'> {
  return {
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: Number(st.mtimeNs / 1_000_000_000n),
  };
}

async function* fileData(abs: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        // The file shrank while being read: keep the archive well-formed.
        yield Buffer.alloc(left);
        return;
      }
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

interface Child {
  readonly name: string;
  /** Name in the archive: `.wh.NAME` for a whiteout. */
  readonly entryName: string;
  readonly st: BigIntStats;
}

async function* walk(root: string, rel: string, links: Map<string, string>, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const dir = rel === '' ? root : join(root, rel);
  const children: Child[] = [];
  for (const name of await readdir(dir)) {
    const st = await lstat(join(dir, name), { bigint: true });
    children.push({ name, entryName: isWhiteout(st) ? `${WHITEOUT_PREFIX}${name}` : name, st });
  }
  children.sort((a, b) => (a.entryName < b.entryName ? -1 : a.entryName > b.entryName ? 1 : 0));

  for (const { name, entryName, st } of children) {
    signal?.throwIfAborted();
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const abs = join(root, childRel);
    const entryPath = rel === '' ? entryName : `${rel}/${entryName}`;

    if (isWhiteout(st)) {
      yield encodeHeader({ ...base(st), name: entryPath, type: 'file', mode: 0o600, size: 0 });
      continue;
    }
    if (st.isDirectory()) {
      yield encodeHeader({ ...base(st), name: entryPath, type: 'directory', size: 0, xattrs: xattrsOf(abs) });
      if (native.getXattr(abs, OPAQUE_XATTR)?.toString() === 'y') {
        yield encodeHeader({ ...base(st), name: `${entryPath}/${OPAQUE_WHITEOUT}`, type: 'file', mode: Number(st.mode) & 0o777, size: 0 });
      }
      yield* walk(root, childRel, links, signal);
      continue;
    }
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        yield encodeHeader({ ...base(st), name: entryPath, type: 'link', size: 0, linkname: first });
        continue;
      }
      links.set(key, entryPath);
    }
    if (st.isFile()) {
      const size = Number(st.size);
      yield encodeHeader({ ...base(st), name: entryPath, type: 'file', size, xattrs: xattrsOf(abs) });
      yield* fileData(abs, size);
      const pad = paddingFor(size);
      if (pad.length > 0) yield pad;
    } else if (st.isSymbolicLink()) {
      yield encodeHeader({ ...base(st), name: entryPath, type: 'symlink', size: 0, linkname: await readlink(abs), xattrs: xattrsOf(abs) });
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      yield encodeHeader({
        ...base(st),
        name: entryPath,
        type: st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'block',
        size: 0,
        devmajor: st.isFIFO() ? 0 : devMajor(st.rdev),
        devminor: st.isFIFO() ? 0 : devMinor(st.rdev),
        xattrs: xattrsOf(abs),
      });
    }
    // Sockets cannot be archived; Docker skips them too.
  }
}

/**
 * A layer tar of the changes recorded in an overlay upper directory. The stream is lazy: the
 * directory is read as the tar is consumed (the container must not be running).
 */
export function diffLayer(upperDir: string, options: { signal?: AbortSignal } = {}): Readable {
  const { signal } = options;
  async function* generate(): AsyncGenerator<Buffer> {
    yield* walk(upperDir, '', new Map(), signal);
    yield END_OF_ARCHIVE;
  }
  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: CHUNK });
  return signal === undefined ? stream : addAbortSignal(signal, stream);
}
