// The changeset of a container's writable layer: the overlay upper directory as a layer tar.
// Overlay whiteouts (char device 0:0) become `.wh.NAME` entries and opaque directories
// (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry right after their own. Entries are
// sorted by name within each directory; owners, modes, mtimes and xattrs are kept (overlay's
// own trusted.overlay.* xattrs are not); hardlinks within the upper dir are found by inode.

import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import * as native from './native.ts';
import { OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX } from './apply.ts';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from './tar-writer.ts';
import { devMajor, devMinor } from '../core/device.ts';

const CHUNK = 64 * 1024;
/** Read size for large files: fewer thread-pool round trips and hash calls than CHUNK. */
const LARGE_CHUNK = 1024 * 1024;
/** Files up to this size are read with one synchronous read (metadata is always read synchronously). */
const SMALL_FILE = 256 * 1024;


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

/** Up to `size` bytes of a regular file, zero-padded if it shrank while being read. */
function smallFileData(abs: string, size: number): Buffer {
  const buf = Buffer.alloc(size);
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, null);
      if (n === 0) break;
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * `size` bytes of a large file in chunks of LARGE_CHUNK, the next chunk read (positionally, on
 * the thread pool) while the consumer hashes and writes the current one; zero-padded if the
 * file shrank while being read.
 */
async function* largeFileData(abs: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  const readAt = async (pos: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(Math.min(LARGE_CHUNK, size - pos));
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    return bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  };
  let next: Promise<Buffer> | undefined;
  try {
    let pos = 0;
    next = size > 0 ? readAt(0) : undefined;
    while (next !== undefined) {
      const buf = await next;
      next = undefined;
      if (buf.length === 0) {
        // The file shrank while being read: keep the archive well-formed.
        yield Buffer.alloc(size - pos);
        return;
      }
      pos += buf.length;
      if (pos < size) next = readAt(pos);
      yield buf;
    }
  } finally {
    // Stopped early (error, abort): let the read in flight finish before closing its handle.
    await next?.catch(() => undefined);
    await fh.close();
  }
}

/** Collects small pieces of output into chunks of about CHUNK bytes. */
class Batch {
  private parts: Buffer[] = [];
  private size = 0;
  add(b: Buffer): boolean {
    this.parts.push(b);
    this.size += b.length;
    return this.size >= CHUNK;
  }
  take(): Buffer {
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return out;
  }
  get empty(): boolean {
    return this.size === 0;
  }
}

interface Child {
  readonly name: string;
  /** Name in the archive: `.wh.NAME` for a whiteout. */
  readonly entryName: string;
  readonly st: BigIntStats;
}

async function* walk(root: string, rel: string, links: Map<string, string>, out: Batch, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const dir = rel === '' ? root : join(root, rel);
  const children: Child[] = [];
  for (const name of readdirSync(dir)) {
    const st = lstatSync(join(dir, name), { bigint: true });
    children.push({ name, entryName: isWhiteout(st) ? `${WHITEOUT_PREFIX}${name}` : name, st });
  }
  children.sort((a, b) => (a.entryName < b.entryName ? -1 : a.entryName > b.entryName ? 1 : 0));

  for (const { name, entryName, st } of children) {
    signal?.throwIfAborted();
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const abs = join(root, childRel);
    const entryPath = rel === '' ? entryName : `${rel}/${entryName}`;
    let full = false;

    if (isWhiteout(st)) {
      full = out.add(encodeHeader({ ...base(st), name: entryPath, type: 'file', mode: 0o600, size: 0 }));
    } else if (st.isDirectory()) {
      out.add(encodeHeader({ ...base(st), name: entryPath, type: 'directory', size: 0, xattrs: xattrsOf(abs) }));
      if (native.getXattr(abs, OPAQUE_XATTR)?.toString() === 'y') {
        out.add(encodeHeader({ ...base(st), name: `${entryPath}/${OPAQUE_WHITEOUT}`, type: 'file', mode: Number(st.mode) & 0o777, size: 0 }));
      }
      yield* walk(root, childRel, links, out, signal);
      continue;
    } else if (st.nlink > 1n && links.has(`${st.dev}:${st.ino}`)) {
      full = out.add(encodeHeader({ ...base(st), name: entryPath, type: 'link', size: 0, linkname: links.get(`${st.dev}:${st.ino}`) }));
    } else {
      if (st.nlink > 1n) links.set(`${st.dev}:${st.ino}`, entryPath);
      if (st.isFile()) {
        const size = Number(st.size);
        out.add(encodeHeader({ ...base(st), name: entryPath, type: 'file', size, xattrs: xattrsOf(abs) }));
        if (size <= SMALL_FILE) {
          out.add(smallFileData(abs, size));
        } else {
          yield out.take();
          yield* largeFileData(abs, size);
        }
        full = out.add(paddingFor(size));
      } else if (st.isSymbolicLink()) {
        full = out.add(encodeHeader({ ...base(st), name: entryPath, type: 'symlink', size: 0, linkname: readlinkSync(abs), xattrs: xattrsOf(abs) }));
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        full = out.add(
          encodeHeader({
            ...base(st),
            name: entryPath,
            type: st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'block',
            size: 0,
            devmajor: st.isFIFO() ? 0 : devMajor(st.rdev),
            devminor: st.isFIFO() ? 0 : devMinor(st.rdev),
            xattrs: xattrsOf(abs),
          }),
        );
      }
      // Sockets cannot be archived; Docker skips them too.
    }
    if (full) yield out.take();
  }
}

/**
 * A layer tar of the changes recorded in an overlay upper directory (unmounted, or at least with
 * the container stopped). The stream is lazy: the directory is read as the tar is consumed, in
 * chunks of about 64 KiB. Metadata and files up to 256 KiB are read synchronously (about 40 µs
 * a file, 8x faster than a promise per call); larger files are read asynchronously, 1 MiB at a
 * time with the next read in flight (64 KiB reads made a 1 GiB file take twice as long).
 */
export function diffLayer(upperDir: string, options: { signal?: AbortSignal } = {}): Readable {
  const { signal } = options;
  async function* generate(): AsyncGenerator<Buffer> {
    const out = new Batch();
    yield* walk(upperDir, '', new Map(), out, signal);
    out.add(END_OF_ARCHIVE);
    yield out.take();
  }
  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: CHUNK });
  return signal === undefined ? stream : addAbortSignal(signal, stream);
}
