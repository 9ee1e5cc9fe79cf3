// Blobs by digest on disk:
//
//   <root>/blobs/sha256/<hex>   immutable, complete blobs only
//   <root>/ingest/<random>      blobs being written (same filesystem, so rename is atomic)
//
// A blob is streamed to an ingest file while hashed, checked against the expected digest and
// size, fsynced, then renamed to its final name and its directory fsynced. A half-written blob
// never has a final name; ingest leftovers are swept at start-up. adoptBlob does the same for a
// file someone else wrote on the store's filesystem (a registry upload): checked, fsynced and
// renamed into place, without copying it.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { digestHex, isDigest, type Digest } from '../core/digest.ts';
import { BatchedWriter } from '../util/batched-writer.ts';
import { errnoOf, invalid, isEngineError, notFound, systemError } from '../core/errors.ts';

export type BlobSource = Readable | AsyncIterable<Uint8Array> | Uint8Array;

export interface WriteBlobOptions {
  /** The blob must have this digest, or nothing is stored (invalid-parameter, digest-mismatch). */
  readonly expected?: Digest;
  /** The blob must have exactly this many bytes (stops reading as soon as it has more). */
  readonly size?: number;
  readonly signal?: AbortSignal;
}

export interface AdoptBlobOptions {
  /** The file must have this digest, or nothing is stored (invalid-parameter, digest-mismatch). */
  readonly expected: Digest;
  /** The file must have exactly this many bytes (invalid-parameter, size-mismatch). */
  readonly size?: number;
  /**
   * The digest of the file's bytes as its writer computed them while writing them (and nobody
   * wrote to it since). Absent: the file is read and hashed here.
   */
  readonly computed?: Digest;
  readonly signal?: AbortSignal;
}

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

export interface OpenBlobOptions {
  /** First byte, inclusive. */
  readonly start?: number;
  /** Last byte, inclusive (as HTTP ranges and fs.createReadStream). */
  readonly end?: number;
  /** Bytes per read (default 64 KiB). */
  readonly highWaterMark?: number;
}

export interface ContentReader {
  readBlob(digest: Digest): Promise<Buffer>;
  openBlob(digest: Digest, options?: OpenBlobOptions): Promise<Readable>;
  statBlob(digest: Digest): Promise<BlobInfo>;
  hasBlob(digest: Digest): Promise<boolean>;
}

export interface ContentWriter {
  writeBlob(source: BlobSource, options?: WriteBlobOptions): Promise<BlobInfo>;
}

/** Taking over a finished file instead of copying it. */
export interface ContentAdopter {
  /**
   * Make the file at `path` the blob `expected`: on success it is the blob and `path` is gone
   * (renamed into place, or removed when the blob was already there); on a mismatch nothing is
   * stored and the file is left where it was.
   */
  adoptBlob(path: string, options: AdoptBlobOptions): Promise<BlobInfo>;
}

export interface ContentManager {
  /** True when a blob was removed, false when there was none. */
  deleteBlob(digest: Digest): Promise<boolean>;
  listBlobs(): Promise<Digest[]>;
  /** Remove ingest files not being written by this process. Returns how many. */
  sweepIngest(): Promise<number>;
}

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += (await fh.write(data, off, data.byteLength - off)).bytesWritten;
}

function chunks(source: BlobSource): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    return (async function* () {
      yield source;
    })();
  }
  return source;
}

/** Read size when hashing a file: one buffer, reused. */
const HASH_BUFFER_BYTES = 256 * 1024;

export class ContentStore implements ContentReader, ContentWriter, ContentAdopter, ContentManager {
  private readonly active = new Set<string>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<ContentStore> {
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
    await mkdir(join(root, 'ingest'), { recursive: true, mode: 0o700 });
    return new ContentStore(root);
  }

  private blobPath(digest: Digest): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  async writeBlob(source: BlobSource, options: WriteBlobOptions = {}): Promise<BlobInfo> {
    const { expected, size: expectedSize, signal } = options;
    signal?.throwIfAborted();
    const name = randomBytes(16).toString('hex');
    const tmp = join(this.root, 'ingest', name);
    this.active.add(name);
    const hash = createHash('sha256');
    let size = 0;
    let committed = false;
    try {
      const fh = await open(tmp, 'wx', 0o644);
      const out = new BatchedWriter((data) => writeAll(fh, data));
      try {
        for await (const chunk of chunks(source)) {
          signal?.throwIfAborted();
          size += chunk.byteLength;
          if (expectedSize !== undefined && size > expectedSize) {
            throw invalid(`blob size mismatch: expected ${expectedSize} bytes, got more`, 'size-mismatch');
          }
          hash.update(chunk);
          await out.add(chunk);
        }
        await out.finish();
        signal?.throwIfAborted();
        const digest = `sha256:${hash.digest('hex')}` as Digest;
        if (expectedSize !== undefined && size !== expectedSize) {
          throw invalid(`blob size mismatch: expected ${expectedSize} bytes, got ${size}`, 'size-mismatch');
        }
        if (expected !== undefined && digest !== expected) {
          throw invalid(`digest mismatch: expected ${expected}, got ${digest}`, 'digest-mismatch');
        }
        await fh.sync();
        await fh.close().catch(() => undefined);
        const final = this.blobPath(digest);
        if (await exists(final)) return { digest, size }; // immutable: the one there is the same
        await rename(tmp, final);
        committed = true;
        await syncDir(join(this.root, 'blobs', 'sha256'));
        return { digest, size };
      } finally {
        await out.settle();
        await fh.close().catch(() => undefined);
      }
    } catch (e) {
      if (!isEngineError(e) && errnoOf(e) !== undefined && !(e instanceof Error && e.name === 'AbortError')) {
        throw systemError(`writing blob: ${(e as Error).message}`, e);
      }
      throw e;
    } finally {
      this.active.delete(name);
      if (!committed) await rm(tmp, { force: true });
    }
  }

  /**
   * Make a finished file on this store's filesystem the blob `expected` without copying it:
   * check its size and digest (the writer's `computed` one, or hash the file now), give it a
   * blob's mode (0644), fsync it, rename it to its final name and fsync that
   * directory. A crash leaves either the file where it was or the complete blob. A file on
   * another filesystem is copied (through writeBlob) and then removed.
   */
  async adoptBlob(path: string, options: AdoptBlobOptions): Promise<BlobInfo> {
    const { expected, size: expectedSize, computed, signal } = options;
    signal?.throwIfAborted();
    try {
      let size: number;
      const fh = await open(path, 'r');
      try {
        size = (await fh.stat()).size;
        if (expectedSize !== undefined && size !== expectedSize) {
          throw invalid(`blob size mismatch: expected ${expectedSize} bytes, got ${size}`, 'size-mismatch');
        }
        const digest = computed ?? (await hashFile(fh, signal));
        signal?.throwIfAborted();
        if (digest !== expected) throw invalid(`digest mismatch: expected ${expected}, got ${digest}`, 'digest-mismatch');
        await fh.chmod(0o644);
        await fh.sync();
      } finally {
        await fh.close().catch(() => undefined);
      }
      const final = this.blobPath(expected);
      if (await exists(final)) {
        await rm(path, { force: true }); // immutable: the one there is the same
        return { digest: expected, size };
      }
      try {
        await rename(path, final);
      } catch (e) {
        if (errnoOf(e) !== 'EXDEV') throw e;
        const info = await this.writeBlob(createReadStream(path), { expected, size, ...(signal ? { signal } : {}) });
        await rm(path, { force: true });
        return info;
      }
      await syncDir(join(this.root, 'blobs', 'sha256'));
      return { digest: expected, size };
    } catch (e) {
      if (!isEngineError(e) && errnoOf(e) !== undefined && !(e instanceof Error && e.name === 'AbortError')) {
        throw systemError(`adopting blob ${expected}: ${(e as Error).message}`, e);
      }
      throw e;
    }
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (e) {
      throw this.mapError(e, digest);
    }
  }

  async openBlob(digest: Digest, options: OpenBlobOptions = {}): Promise<Readable> {
    // Open first, so a missing blob is an error here rather than on the stream.
    const fh = await open(this.blobPath(digest), 'r').catch((e: unknown) => {
      throw this.mapError(e, digest);
    });
    return fh.createReadStream({ start: options.start, end: options.end, ...(options.highWaterMark ? { highWaterMark: options.highWaterMark } : {}) });
  }

  /**
   * The blob's file, open for reading, for a reader that brings its own buffers (a server
   * sending it without allocating a buffer per read). The caller closes it.
   */
  async openBlobFile(digest: Digest): Promise<FileHandle> {
    return open(this.blobPath(digest), 'r').catch((e: unknown) => {
      throw this.mapError(e, digest);
    });
  }

  async statBlob(digest: Digest): Promise<BlobInfo> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (e) {
      throw this.mapError(e, digest);
    }
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  async deleteBlob(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return false;
      throw systemError(`deleting blob ${digest}: ${(e as Error).message}`, e);
    }
  }

  async listBlobs(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const name of await readdir(join(this.root, 'blobs', 'sha256'))) {
      const d = `sha256:${name}`;
      if (isDigest(d)) out.push(d);
    }
    return out.sort();
  }

  async sweepIngest(): Promise<number> {
    let n = 0;
    for (const name of await readdir(join(this.root, 'ingest'))) {
      if (this.active.has(name)) continue;
      await rm(join(this.root, 'ingest', name), { recursive: true, force: true });
      n++;
    }
    return n;
  }

  private mapError(e: unknown, digest: Digest): Error {
    if (errnoOf(e) === 'ENOENT') return notFound(`blob ${digest} not found`, 'blob-unknown');
    return systemError(`reading blob ${digest}: ${(e as Error).message}`, e);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw e;
  }
}

/** sha256 of a whole open file, read through one reused buffer. */
async function hashFile(fh: FileHandle, signal: AbortSignal | undefined): Promise<Digest> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(HASH_BUFFER_BYTES);
  for (let pos = 0; ; ) {
    signal?.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return `sha256:${hash.digest('hex')}` as Digest;
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
