// Blob upload sessions:
//
//   <root>/uploads/<uuid>/info.json   { name, startedAt }   the repository it belongs to
//   <root>/uploads/<uuid>/data        the bytes received so far (its size is the offset)
//
// Lifecycle: create -> append chunks in order (a chunk is all or nothing: a failed or short
// one is cut off again) -> finish hands `data` to the content store with the digest the client
// claims; the store renames it into place only if it hashes to that digest, so only a verified
// blob ever gets a name -> the session is removed. cancel removes it at once; a digest or size
// mismatch removes it too. Sessions idle longer than the age limit (and any left half-made) are
// swept at start-up and then periodically. Calls on one session are serialised, so two PATCHes
// can never interleave their bytes.
//
// The digest is computed while the bytes arrive: each session keeps a running sha256 of `data`
// in memory, so finishing costs an fsync and a rename, not a second pass over the blob. The
// state lives only in this process: after a restart (or if `data` changed size behind its
// back) there is none that matches, and the store hashes the file once at finish instead.

import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../core/digest.ts';
import { errnoOf, isEngineError } from '../../core/errors.ts';
import type { BlobInfo, ContentAdopter } from '../../content/index.ts';
import { readJson, writeJsonAtomic } from '../../util/fs.ts';
import { registryError } from './errors.ts';
import type { ByteRange } from './http.ts';
import type { RepositoryName } from './names.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface SessionInfo {
  readonly name: string;
  readonly startedAt: string;
}

export interface UploadStatus {
  readonly uuid: string;
  /** Bytes received so far. */
  readonly size: number;
}

export interface AppendOptions {
  /** The chunk's Content-Range: its start must be the current size. */
  readonly range?: ByteRange;
  readonly signal?: AbortSignal;
}

export interface FinishOptions {
  /** What the whole blob must hash to. */
  readonly digest: Digest;
  /** A last chunk sent with the closing request. */
  readonly last?: { readonly source: AsyncIterable<Uint8Array>; readonly range?: ByteRange };
  readonly signal?: AbortSignal;
}

/** sha256 of a session's first `size` bytes, as they were written. */
interface RunningHash {
  readonly hash: Hash;
  readonly size: number;
}

export class UploadSessions {
  private readonly dir: string;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly hashes = new Map<string, RunningHash>();

  private constructor(
    root: string,
    private readonly content: ContentAdopter,
  ) {
    this.dir = join(root, 'uploads');
  }

  static async open(root: string, content: ContentAdopter): Promise<UploadSessions> {
    const u = new UploadSessions(root, content);
    await mkdir(u.dir, { recursive: true, mode: 0o700 });
    return u;
  }

  private sessionDir(uuid: string): string {
    return join(this.dir, uuid);
  }

  private dataPath(uuid: string): string {
    return join(this.dir, uuid, 'data');
  }

  /** Run `fn` alone for this session. */
  private async withLock<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(uuid, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(uuid) === tail) this.locks.delete(uuid);
    }
  }

  async create(name: RepositoryName): Promise<UploadStatus> {
    const uuid = randomUUID();
    // Under the lock, so a periodic sweep never takes it for a half-made one.
    return this.withLock(uuid, async () => {
      await mkdir(this.sessionDir(uuid), { mode: 0o700 });
      await (await open(this.dataPath(uuid), 'wx', 0o600)).close();
      // info.json last: a session without it is half-made and swept.
      const info: SessionInfo = { name, startedAt: new Date().toISOString() };
      await writeJsonAtomic(join(this.sessionDir(uuid), 'info.json'), info);
      return { uuid, size: 0 };
    });
  }

  /** The session's status; BLOB_UPLOAD_UNKNOWN unless it exists and belongs to `name`. */
  async status(name: RepositoryName, uuid: string): Promise<UploadStatus> {
    await this.check(name, uuid);
    try {
      return { uuid, size: (await stat(this.dataPath(uuid))).size };
    } catch (e) {
      // finished (or cancelled) between the check and here
      if (errnoOf(e) === 'ENOENT') throw registryError('blob-upload-unknown', `blob upload unknown: ${uuid}`, { uuid });
      throw e;
    }
  }

  private async check(name: RepositoryName, uuid: string): Promise<void> {
    const unknown = () => registryError('blob-upload-unknown', `blob upload unknown: ${uuid}`, { uuid });
    if (!UUID_RE.test(uuid)) throw unknown();
    let info: SessionInfo | undefined;
    try {
      info = await readJson<SessionInfo>(join(this.sessionDir(uuid), 'info.json'));
    } catch (e) {
      if (errnoOf(e) === 'ENOTDIR') throw unknown();
      throw e;
    }
    if (info?.name !== name) throw unknown();
  }

  /** Append a chunk; returns the new size. An out-of-order chunk is a 416 (range-invalid). */
  async append(name: RepositoryName, uuid: string, source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<UploadStatus> {
    return this.withLock(uuid, async () => {
      await this.check(name, uuid);
      return { uuid, size: await this.appendLocked(uuid, source, options) };
    });
  }

  private async appendLocked(uuid: string, source: AsyncIterable<Uint8Array>, { range, signal }: AppendOptions): Promise<number> {
    const fh = await open(this.dataPath(uuid), 'r+');
    try {
      const start = (await fh.stat()).size;
      if (range !== undefined && range.start !== start) {
        throw registryError('range-invalid', `chunk starts at ${range.start}, expected ${start}`, { offset: start });
      }
      // Hash on a copy: a chunk that is cut off again must not count.
      const prior = this.hashes.get(uuid);
      const hash = prior?.size === start ? prior.hash.copy() : start === 0 ? createHash('sha256') : undefined;
      let pos = start;
      try {
        for await (const chunk of source) {
          signal?.throwIfAborted();
          const written = writeAt(fh, chunk, pos);
          hash?.update(chunk); // while the write is under way on libuv's thread pool
          await written;
          pos += chunk.byteLength;
          if (range !== undefined && pos - start > range.end - range.start + 1) {
            throw registryError('size-invalid', `chunk is longer than its Content-Range ${range.start}-${range.end}`);
          }
        }
        if (range !== undefined && pos - start !== range.end - range.start + 1) {
          throw registryError('size-invalid', `chunk has ${pos - start} bytes, Content-Range says ${range.end - range.start + 1}`);
        }
      } catch (e) {
        await fh.truncate(start);
        throw e;
      }
      if (hash !== undefined) this.hashes.set(uuid, { hash, size: pos });
      else this.hashes.delete(uuid);
      return pos;
    } finally {
      await fh.close();
    }
  }

  /**
   * Close the session: append the optional last chunk, then have the content store take `data`
   * over as the blob, which it does only if it hashes to `digest` (the running hash when it
   * covers the whole file, else the store reads it once). The session is removed on success
   * and on a digest or size mismatch (nothing is stored then).
   */
  async finish(name: RepositoryName, uuid: string, { digest, last, signal }: FinishOptions): Promise<BlobInfo> {
    return this.withLock(uuid, async () => {
      await this.check(name, uuid);
      if (last !== undefined) await this.appendLocked(uuid, last.source, { ...(last.range ? { range: last.range } : {}), ...(signal ? { signal } : {}) });
      const path = this.dataPath(uuid);
      const size = (await stat(path)).size;
      const running = this.hashes.get(uuid);
      // copy(): the state stays usable if this attempt fails for another reason (say, EIO).
      const computed = running?.size === size ? (`sha256:${running.hash.copy().digest('hex')}` as Digest) : undefined;
      try {
        const info = await this.content.adoptBlob(path, {
          expected: digest,
          size,
          ...(computed !== undefined ? { computed } : {}),
          ...(signal ? { signal } : {}),
        });
        await this.remove(uuid);
        return info;
      } catch (e) {
        if (isEngineError(e, 'invalid-parameter')) await this.remove(uuid);
        throw e;
      }
    });
  }

  async cancel(name: RepositoryName, uuid: string): Promise<void> {
    await this.withLock(uuid, async () => {
      await this.check(name, uuid);
      await this.remove(uuid);
    });
  }

  private async remove(uuid: string): Promise<void> {
    this.hashes.delete(uuid);
    await rm(this.sessionDir(uuid), { recursive: true, force: true });
  }

  /**
   * Remove sessions idle for more than `maxAgeMs` (last write to their data), half-made ones
   * and anything else that is not a session. Returns how many entries went.
   */
  async sweep(maxAgeMs: number, now = Date.now()): Promise<number> {
    let n = 0;
    for (const entry of await readdir(this.dir)) {
      if (this.locks.has(entry)) continue;
      const path = join(this.dir, entry);
      let stale = !UUID_RE.test(entry);
      if (!stale) {
        try {
          const info = await readJson<SessionInfo>(join(path, 'info.json'));
          const data = await stat(join(path, 'data'));
          stale = info === undefined || now - data.mtimeMs > maxAgeMs;
        } catch (e) {
          if (errnoOf(e) !== 'ENOENT' && errnoOf(e) !== 'ENOTDIR' && !(e instanceof SyntaxError)) throw e;
          stale = true;
        }
      }
      if (stale) {
        this.hashes.delete(entry);
        await rm(path, { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }
}

/** Write all of `chunk` at `pos`. */
async function writeAt(fh: FileHandle, chunk: Uint8Array, pos: number): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off, pos + off)).bytesWritten;
}
