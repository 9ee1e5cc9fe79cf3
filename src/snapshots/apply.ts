// Applying one layer changeset to an empty directory, the lower directory of an overlay mount:
// files, directories, links and device nodes with their owners, modes (setuid bits kept), times
// and xattrs; OCI whiteouts become overlay whiteouts (`.wh.NAME` -> char device 0:0 NAME,
// `.wh..wh..opq` -> xattr trusted.overlay.opaque=y). Nothing is ever written outside the
// directory: see safe-path.ts. The diff ID (sha256 of the uncompressed tar) is computed while
// extracting.

import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  write as fsWrite,
  writeSync,
} from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { Digest } from '../core/digest.ts';
import { EngineError, errnoOf, invalid, isEngineError } from '../core/errors.ts';
import { BatchedWriter } from '../util/batched-writer.ts';
import * as native from './native.ts';
import { cleanEntryPath, escapes, isWhiteoutDevice, SafeTree } from './safe-path.ts';
import { readTar, type TarEntry, type TarHeader } from './tar-reader.ts';

export type LayerInput = Readable | AsyncIterable<Uint8Array> | Uint8Array;

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

export interface ExtractResult {
  readonly diffId: Digest;
  /** Bytes of regular-file data written. */
  readonly size: number;
}

export function chunksOf(input: LayerInput): AsyncIterable<Uint8Array> {
  if (input instanceof Uint8Array) {
    return (async function* () {
      yield input;
    })();
  }
  return input;
}

/**
 * The uncompressed bytes of a layer (gunzipped when it starts with the gzip magic), hashed as
 * they pass. `digest()` is valid once the stream has been read to its end.
 */
export function uncompressedLayer(input: LayerInput, signal?: AbortSignal, knownDigest?: Digest): { chunks: AsyncIterable<Buffer>; digest(): Digest } {
  // A digest the caller checks on the same bytes elsewhere (see extractLayer) is not computed twice.
  const hash = knownDigest === undefined ? createHash('sha256') : undefined;
  let digest: Digest | undefined;
  async function* chunks(): AsyncGenerator<Buffer> {
    const it = chunksOf(input)[Symbol.asyncIterator]();
    let finished = false;
    let source: Readable | undefined;
    try {
      // Peek at the first bytes for a compression magic.
      const head: Buffer[] = [];
      let headLen = 0;
      let done = false;
      while (headLen < 4) {
        signal?.throwIfAborted();
        const r = await it.next();
        if (r.done === true) {
          done = true;
          break;
        }
        const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        head.push(b);
        headLen += b.length;
      }
      const first = Buffer.concat(head);
      const rest = async function* (): AsyncGenerator<Buffer> {
        if (first.length > 0) yield first;
        if (done) return;
        for (;;) {
          const r = await it.next();
          if (r.done === true) return;
          yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        }
      };
      let plain: AsyncIterable<Buffer>;
      if (first[0] === 0x1f && first[1] === 0x8b) {
        source = Readable.from(rest(), { objectMode: false });
        const gunzip = createGunzip();
        source.on('error', (e) => gunzip.destroy(e));
        source.pipe(gunzip);
        source = gunzip;
        plain = gunzip;
      } else if (first.length >= 4 && first.readUInt32LE(0) === 0xfd2fb528) {
        throw new EngineError('not-implemented', 'zstd-compressed layers are not supported');
      } else {
        plain = rest();
      }
      for await (const c of plain) {
        signal?.throwIfAborted();
        hash?.update(c);
        yield c;
      }
      digest = hash ? (`sha256:${hash.digest('hex')}` as Digest) : knownDigest;
      finished = true;
    } catch (e) {
      if (errnoOf(e)?.startsWith('Z_') === true) throw invalid(`invalid layer: bad gzip data: ${(e as Error).message}`, 'invalid-layer');
      throw e;
    } finally {
      source?.destroy();
      // Stopped early (error, abort): close the input too; it is ours to consume.
      if (!finished) void it.return?.()?.catch(() => undefined);
    }
  }
  return {
    chunks: chunks(),
    digest(): Digest {
      if (digest === undefined) throw new Error('layer digest read before the end of the stream');
      return digest;
    },
  };
}

/** Read a layer to its end only to learn its diff ID. */
export async function digestLayer(input: LayerInput, signal?: AbortSignal): Promise<Digest> {
  const layer = uncompressedLayer(input, signal);
  for await (const _ of readTar(layer.chunks)) { /* validate the archive while hashing it */ }
  return layer.digest();
}

const isRoot = process.getuid?.() === 0;

/** Files at least this large are written on the thread pool, a batch at a time, while the next batch is read. */
const ASYNC_WRITE_MIN = 1024 * 1024;
const writeAsync = promisify(fsWrite);

/**
 * Write a large file's data with the writes on the thread pool, one batch in flight while the
 * next is gathered: the event loop stays free to hash and unpack what a pull is still receiving
 * (synchronous writes of a 100 MiB file held it for a quarter of a second).
 */
async function writeOverlapped(fd: number, body: AsyncIterable<Buffer>): Promise<void> {
  const out = new BatchedWriter(async (data) => {
    let off = 0;
    while (off < data.byteLength) off += (await writeAsync(fd, data, off, data.byteLength - off)).bytesWritten;
  });
  try {
    for await (const chunk of body) await out.add(chunk);
    await out.finish();
  } finally {
    // Never leave a write in flight on a descriptor the caller is about to close.
    await out.settle();
  }
}

function seconds(t: number): number {
  return Number.isFinite(t) ? t : 0;
}

/** Xattrs that must never come from a layer: overlayfs's own metadata. */
function refusedXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

class Extractor {
  private readonly tree: SafeTree;
  private readonly dirTimes: { abs: string; atime: number; mtime: number }[] = [];
  size = 0;

  constructor(root: string, private readonly signal: AbortSignal | undefined) {
    this.tree = new SafeTree(root);
  }

  private readonly hooks = {
    replacedWhiteout: (abs: string): void => native.setXattr(abs, OPAQUE_XATTR, Buffer.from('y')),
  };

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const comps = cleanEntryPath(h.name);
    const base = comps[comps.length - 1];
    if (base === undefined) {
      if (h.type !== 'directory') throw invalid(`invalid layer: ${h.type} entry ${JSON.stringify(h.name)} at the layer root`, 'invalid-layer');
      this.attributes(this.tree.root, h);
      return;
    }
    const parent = comps.slice(0, -1);
    for (const part of parent) {
      if (part.startsWith(WHITEOUT_META_PREFIX)) return; // aufs metadata (.wh..wh.plnk/...): skipped like Docker
      if (part.startsWith(WHITEOUT_PREFIX)) throw invalid(`invalid layer: entry ${JSON.stringify(h.name)} is inside a whiteout`, 'invalid-layer');
    }

    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.tree.ensureDir(parent, h.name, this.hooks);
      if (base === OPAQUE_WHITEOUT) {
        native.setXattr(this.tree.abs(parent), OPAQUE_XATTR, Buffer.from('y'));
      } else if (!base.startsWith(WHITEOUT_META_PREFIX)) {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === '' || hidden === '.' || hidden === '..') throw invalid(`invalid layer: bad whiteout ${JSON.stringify(h.name)}`, 'invalid-layer');
        const abs = this.tree.abs([...parent, hidden]);
        // A path of this same layer is not hidden by its whiteout (it already hides the lowers).
        if (lstatSync(abs, { throwIfNoEntry: false }) === undefined) await native.mknod(abs, 'char', 0, 0, 0);
      }
      return;
    }

    this.tree.ensureDir(parent, h.name, this.hooks);
    const abs = this.tree.abs(comps);
    const existing = lstatSync(abs, { throwIfNoEntry: false });
    let replacedWhiteout = false;
    if (existing !== undefined && !(existing.isDirectory() && h.type === 'directory')) {
      // The changeset's entry replaces what an earlier entry of this layer put here.
      replacedWhiteout = isWhiteoutDevice(existing);
      rmSync(abs, { recursive: true, force: true });
      this.tree.forget(comps);
    }

    switch (h.type) {
      case 'directory':
        if (existing === undefined || !existing.isDirectory()) mkdirSync(abs, { mode: 0o700 });
        this.tree.addDir(comps);
        if (replacedWhiteout) native.setXattr(abs, OPAQUE_XATTR, Buffer.from('y'));
        this.attributes(abs, h);
        return;
      case 'file':
        await this.writeFile(abs, entry);
        return;
      case 'symlink':
        symlinkSync(h.linkname, abs);
        if (isRoot) lchownSync(abs, h.uid, h.gid);
        this.xattrs(abs, h);
        lutimesSync(abs, atimeOf(h), seconds(h.mtime));
        return;
      case 'link': {
        const target = cleanEntryPath(h.linkname, 'hardlink target');
        const targetBase = target[target.length - 1];
        if (targetBase === undefined) throw invalid(`invalid layer: hardlink ${JSON.stringify(h.name)} to the layer root`, 'invalid-layer');
        if (!this.tree.checkDir(target.slice(0, -1), h.linkname)) {
          throw invalid(`invalid layer: hardlink ${JSON.stringify(h.name)} to ${JSON.stringify(h.linkname)}, which is not in the layer`, 'invalid-layer');
        }
        const targetAbs = this.tree.abs(target);
        const st = lstatSync(targetAbs, { throwIfNoEntry: false });
        if (st === undefined || st.isDirectory()) {
          throw invalid(`invalid layer: hardlink ${JSON.stringify(h.name)} to ${JSON.stringify(h.linkname)}, which is not a file of the layer`, 'invalid-layer');
        }
        linkSync(targetAbs, abs); // link(2) does not follow a symlink target
        return;
      }
      case 'char':
      case 'block':
      case 'fifo':
        // Device nodes are allowed in layers (Docker allows them); only root can make them.
        if (!isRoot) return;
        await native.mknod(abs, h.type, h.devmajor, h.devminor, h.mode);
        this.attributes(abs, h);
        return;
    }
  }

  private async writeFile(abs: string, entry: TarEntry): Promise<void> {
    const h = entry.header;
    // O_EXCL|O_NOFOLLOW: never open through a symlink, never reuse something already there.
    const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      if (h.size >= ASYNC_WRITE_MIN) await writeOverlapped(fd, entry.body);
      else {
        for await (const chunk of entry.body) {
          let off = 0;
          while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        }
      }
      this.size += h.size;
      if (isRoot) fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode); // after chown, which clears setuid/setgid
      this.xattrs(abs, h); // after chown, which clears security.capability
      futimesSync(fd, atimeOf(h), seconds(h.mtime));
    } finally {
      closeSync(fd);
    }
  }

  /** Owner, mode, xattrs and times of a directory or device node (never a symlink: checked by the caller). */
  private attributes(abs: string, h: TarHeader): void {
    if (isRoot) lchownSync(abs, h.uid, h.gid);
    chmodSync(abs, h.mode);
    this.xattrs(abs, h);
    if (h.type === 'directory') this.dirTimes.push({ abs, atime: atimeOf(h), mtime: seconds(h.mtime) });
    else lutimesSync(abs, atimeOf(h), seconds(h.mtime));
  }

  private xattrs(abs: string, h: TarHeader): void {
    for (const [name, value] of h.xattrs) {
      if (refusedXattr(name)) continue;
      try {
        native.setXattr(abs, name, value);
      } catch (e) {
        // As Docker: a filesystem or a kernel that refuses an xattr does not fail the layer.
        const code = errnoOf(e);
        if (code === 'EINVAL' || code === 'ERANGE' || code === 'E2BIG') {
          throw invalid(`invalid layer: xattr ${name} of ${JSON.stringify(h.name)} was refused (${code})`, 'invalid-layer');
        }
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
      }
    }
  }

  /** Directory times last: writing their content changed them. */
  finish(): void {
    for (const d of this.dirTimes) {
      const st = lstatSync(d.abs, { throwIfNoEntry: false });
      if (st?.isDirectory() === true) lutimesSync(d.abs, d.atime, d.mtime);
    }
  }

  checkAbort(): void {
    this.signal?.throwIfAborted();
  }
}

function atimeOf(h: TarHeader): number {
  const m = seconds(h.mtime);
  return h.atime !== undefined && h.atime > m ? h.atime : m;
}

/**
 * Extract a layer changeset into `dir` (an existing empty directory). On error `dir` is left
 * half-written: the caller removes it.
 */
/**
 * Unpack a layer into `dir`. `knownDiffId`: the caller verifies these very bytes against it
 * before using the result (a pull that writes the same stream to the content store, which
 * checks the digest); the layer is then not hashed a second time and that is its diff ID.
 */
export async function extractLayer(input: LayerInput, dir: string, options: { signal?: AbortSignal; knownDiffId?: Digest } = {}): Promise<ExtractResult> {
  const layer = uncompressedLayer(input, options.signal, options.knownDiffId);
  const x = new Extractor(dir, options.signal);
  try {
    for await (const entry of readTar(layer.chunks)) {
      x.checkAbort();
      await x.apply(entry);
    }
    x.finish();
  } catch (e) {
    if (isEngineError(e) || (e as { name?: string }).name === 'AbortError') throw e;
    const code = errnoOf(e);
    if (code === 'ENOTDIR' || code === 'ELOOP' || code === 'EEXIST' || code === 'ENAMETOOLONG') {
      throw invalid(`invalid layer: ${(e as Error).message}`, 'invalid-layer');
    }
    throw e;
  }
  return { diffId: layer.digest(), size: x.size };
}

export { escapes };
