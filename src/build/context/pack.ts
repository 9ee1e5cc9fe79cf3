// The build context a client sends: a directory as a tar, the way the docker CLI makes it
// (cli/command/image/build, moby/go-archive TarWithOptions): .dockerignore applied with Docker's
// rules, except that the Dockerfile and .dockerignore themselves are always sent (the daemon
// drops them after reading them if they are excluded); entries in the order Go's WalkDir
// visits them; owners forced to 0:0; hard links within the context as link entries; sockets
// left out. An excluded directory is not sent, but is still walked when an exception pattern
// (`!dir/keep`) may re-include something below it. A Dockerfile from elsewhere (`-f -`, or a
// file outside the context) is added as `.dockerfile.<random>` and listed in .dockerignore, as
// the CLI does, so that the daemon removes it from the context.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { errnoOf, invalid } from '../../core/errors.ts';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from '../../snapshots/index.ts';
import { IgnoreMatcher, keepBuildFiles, readDockerignore } from './dockerignore.ts';
import { byteOrder } from './scope.ts';
import { devMajor, devMinor } from '../../core/device.ts';

export interface ContextFromDirOptions {
  /**
   * `-f`: the Dockerfile, absolute or relative to the current directory as `docker build -f`
   * takes it; `-` when its text is given as dockerfileText. Default: `Dockerfile` in the
   * directory (or `dockerfile` when only that exists).
   */
  readonly dockerfile?: string;
  /** The Dockerfile's text for `-f -`. */
  readonly dockerfileText?: string;
  readonly signal?: AbortSignal;
}

export interface ContextTar {
  /** The context as an uncompressed tar, produced as it is read. */
  readonly stream: Readable;
  /** The Dockerfile's path inside the context: what POST /build's `dockerfile` parameter gets. */
  readonly dockerfile: string;
}

const CHUNK = 64 * 1024;
const DEFAULT_DOCKERFILE = 'Dockerfile';


function contextDirectory(dir: string): string {
  let real: string;
  try {
    real = realpathSync(resolve(dir));
  } catch (e) {
    throw invalid(`unable to evaluate symlinks in context path: ${(e as Error).message}`);
  }
  if (!statSync(real).isDirectory()) throw invalid(`context must be a directory: ${real}`);
  return real;
}

/**
 * The CLI's getDockerfileRelPath: the Dockerfile's real path, and that path relative to the
 * context (starting with `../` when it is outside).
 */
function dockerfilePath(contextDir: string, given: string | undefined): { abs: string; rel: string } {
  let abs: string;
  if (given === undefined || given === '') {
    abs = join(contextDir, DEFAULT_DOCKERFILE);
    if (lstatSync(abs, { throwIfNoEntry: false }) === undefined) {
      const lower = join(contextDir, DEFAULT_DOCKERFILE.toLowerCase());
      if (lstatSync(lower, { throwIfNoEntry: false }) !== undefined) abs = lower;
    }
  } else {
    abs = isAbsolute(given) ? given : resolve(given);
  }
  try {
    abs = realpathSync(abs);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw invalid(`cannot locate Dockerfile: ${JSON.stringify(abs)}`);
    throw invalid(`unable to evaluate symlinks in Dockerfile path: ${(e as Error).message}`);
  }
  return { abs, rel: relative(contextDir, abs).split(sep).join('/') };
}

function header(st: BigIntStats, name: string, type: TarWriteHeader['type'], extra: Partial<TarWriteHeader> = {}): TarWriteHeader {
  return {
    name,
    type,
    mode: Number(st.mode) & 0o7777,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: Number(st.mtimeNs / 1_000_000_000n),
    ...extra,
  };
}

function readSmall(abs: string, size: number): Buffer {
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

async function* readLarge(abs: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        yield Buffer.alloc(left); // the file shrank: keep the archive well-formed
        return;
      }
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

interface Replacement {
  /** New content of an entry of this name (its header otherwise kept), or of one added at the end. */
  readonly content: (old: Buffer | undefined) => Buffer;
  readonly mode: number;
}

async function* walkContext(
  root: string,
  matcher: IgnoreMatcher,
  replacements: Map<string, Replacement>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const links = new Map<string, string>();
  const replaced = new Set<string>();

  async function* walk(rel: string): AsyncGenerator<Buffer> {
    const dir = rel === '' ? root : join(root, rel);
    let names: string[];
    try {
      names = readdirSync(dir).sort(byteOrder);
    } catch (e) {
      if (errnoOf(e) === 'EACCES') throw invalid(`can't stat '${dir}'`);
      throw e;
    }
    for (const name of names) {
      signal?.throwIfAborted();
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, childRel);
      const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
      if (st === undefined) continue;
      if (matcher.matches(childRel)) {
        if (st.isDirectory() && matcher.mayReinclude(childRel)) yield* walk(childRel);
        continue;
      }
      if (st.isDirectory()) {
        yield encodeHeader(header(st, childRel, 'directory'));
        yield* walk(childRel);
        continue;
      }
      const replacement = replacements.get(childRel);
      if (replacement !== undefined && st.isFile()) {
        replaced.add(childRel);
        const data = replacement.content(readFileSync(abs));
        yield encodeHeader(header(st, childRel, 'file', { size: data.length }));
        yield data;
        yield paddingFor(data.length);
        continue;
      }
      const inode = `${st.dev}:${st.ino}`;
      if (st.nlink > 1n && links.has(inode)) {
        yield encodeHeader(header(st, childRel, 'link', { linkname: links.get(inode) }));
        continue;
      }
      if (st.isFile()) {
        if (st.nlink > 1n) links.set(inode, childRel);
        const size = Number(st.size);
        try {
          yield encodeHeader(header(st, childRel, 'file', { size }));
          if (size <= 256 * 1024) yield readSmall(abs, size);
          else yield* readLarge(abs, size);
        } catch (e) {
          if (errnoOf(e) === 'EACCES') throw invalid(`no permission to read from '${abs}'`);
          throw e;
        }
        yield paddingFor(size);
      } else if (st.isSymbolicLink()) {
        yield encodeHeader(header(st, childRel, 'symlink', { linkname: readlinkSync(abs) }));
      } else if (st.isFIFO()) {
        if (st.nlink > 1n) links.set(inode, childRel);
        yield encodeHeader(header(st, childRel, 'fifo'));
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        if (st.nlink > 1n) links.set(inode, childRel);
        yield encodeHeader(header(st, childRel, st.isCharacterDevice() ? 'char' : 'block', { devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) }));
      }
      // Sockets cannot be archived: left out, as the CLI leaves them out.
    }
  }

  yield* walk('');
  const now = Math.floor(Date.now() / 1000);
  for (const [name, r] of replacements) {
    if (replaced.has(name)) continue;
    const data = r.content(undefined);
    yield encodeHeader({ name, type: 'file', mode: r.mode, uid: 0, gid: 0, size: data.length, mtime: now });
    yield data;
    yield paddingFor(data.length);
  }
  yield END_OF_ARCHIVE;
}

/** Batch small buffers into chunks of about 64 KiB. */
async function* batched(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const b of source) {
    parts.push(b);
    size += b.length;
    if (size >= CHUNK) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/**
 * A directory as the build context tar the docker CLI would send. Checks the directory and the
 * Dockerfile now (invalid-parameter errors with the CLI's messages); the tar is produced as the
 * stream is read.
 */
export function readContextFromDir(dir: string, options: ContextFromDirOptions = {}): ContextTar {
  const root = contextDirectory(dir);
  const fromStdin = options.dockerfile === '-';
  if (fromStdin && options.dockerfileText === undefined) throw invalid('dockerfile "-" needs its text');

  let external: string | undefined = fromStdin ? options.dockerfileText : undefined;
  let relDockerfile = '';
  if (!fromStdin) {
    const found = dockerfilePath(root, options.dockerfile);
    relDockerfile = found.rel;
    if (relDockerfile === '..' || relDockerfile.startsWith('../')) {
      // Outside the context: sent inside it under a random name, as the CLI does.
      external = readFileSync(found.abs, 'utf8');
    }
  }

  const ignoreText = (() => {
    try {
      return readFileSync(join(root, '.dockerignore'), 'utf8');
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return '';
      throw e;
    }
  })();
  const patterns = keepBuildFiles(readDockerignore(ignoreText), relDockerfile, fromStdin || external !== undefined);
  const matcher = new IgnoreMatcher(patterns);

  const replacements = new Map<string, Replacement>();
  if (external !== undefined) {
    const text = external;
    relDockerfile = `.dockerfile.${randomBytes(10).toString('hex')}`;
    const name = relDockerfile;
    replacements.set('.dockerignore', {
      mode: 0o600,
      content: (old) => Buffer.concat([old ?? Buffer.from('.dockerignore'), Buffer.from(`\n${name}\n`)]),
    });
    replacements.set(name, { mode: 0o600, content: () => Buffer.from(text) });
  }

  const { signal } = options;
  const stream = Readable.from(batched(walkContext(root, matcher, replacements, signal)), { objectMode: false, highWaterMark: CHUNK });
  return { stream: signal === undefined ? stream : addAbortSignal(signal, stream), dockerfile: relDockerfile };
}
