// Compressed tars as Docker recognises them (moby/go-archive DetectCompression, IsArchive): a
// stream is gzip, bzip2, xz or zstd by its magic bytes, otherwise taken as it is; a tar is a
// (decompressed) stream whose first block is a tar header with a right checksum. Used for the
// context a client sends (`berth build - < ctx.tar.xz`, POST /build) and for ADD's archives.
// gzip is Node's zlib; bzip2, xz and zstd are Debian's programs (packages bzip2, xz-utils, zstd),
// fed through pipes, killed when the reader stops early.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { EngineError, errnoOf, invalid, isEngineError } from '../../core/errors.ts';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const MAGIC: readonly [Exclude<Compression, 'none'>, readonly number[]][] = [
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Bytes to peek at to decide (the magic, or a whole tar header block for IsArchive). */
export const HEADER_SIZE = 512;

/** The compression a stream starting with `head` uses (moby's DetectCompression). */
export function detectCompression(head: Uint8Array): Compression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return 'none';
}

/** A tar header block: not all zeros, and its checksum right (what Go's tar reader accepts). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512 || block.every((b) => b === 0)) return false;
  const field = Buffer.from(block.subarray(148, 156)).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

/** The docker CLI's IsArchive for stdin: compressed (by magic), or a plain tar. */
export function looksLikeArchive(head: Uint8Array): boolean {
  return detectCompression(head) !== 'none' || isTarHeader(head.subarray(0, 512));
}

const PROGRAMS: Record<'bzip2' | 'xz' | 'zstd', { program: string; pkg: string }> = {
  bzip2: { program: 'bzip2', pkg: 'bzip2' },
  xz: { program: 'xz', pkg: 'xz-utils' },
  zstd: { program: 'zstd', pkg: 'zstd' },
};

/** The code of the error for data that does not decompress. */
export const BAD_DATA = 'bad-compressed-data';

const buf = (c: Uint8Array): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));

/** `input` through `<program> -dc`; a failure (bad data) is an invalid-parameter error. */
async function* throughProgram(kind: 'bzip2' | 'xz' | 'zstd', input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const { program, pkg } = PROGRAMS[kind];
  const child = spawn(program, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let spawnError: Error | undefined;
  const closed = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  // the input goes in while the output comes out; an early exit of the program breaks the pipe
  const feeding = pipeline(Readable.from(input), child.stdin).catch((e: unknown) => e);
  let finished = false;
  try {
    for await (const c of child.stdout) yield c as Buffer;
    const code = await closed;
    const fed = await feeding;
    if (spawnError) {
      throw errnoOf(spawnError) === 'ENOENT' ? new EngineError('unavailable', `${kind} data needs the ${program} program (Debian package ${pkg})`) : spawnError;
    }
    if (code !== 0) throw invalid(`bad ${kind} data: ${stderr.trim().split('\n').pop() || `${program} exited with ${code}`}`, BAD_DATA);
    if (fed instanceof Error && errnoOf(fed) !== 'EPIPE') throw fed;
    finished = true;
  } finally {
    if (!finished) {
      child.stdin.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all([closed, feeding]);
    }
  }
}

async function* gunzipped(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const source = Readable.from(input);
  const gunzip = createGunzip();
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  try {
    for await (const c of gunzip) yield c as Buffer;
  } catch (e) {
    if (errnoOf(e)?.startsWith('Z_') === true) throw invalid(`bad gzip data: ${(e as Error).message}`, BAD_DATA);
    throw e;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

/**
 * The bytes of `input`, decompressed when they start with a compression magic (moby's
 * DecompressStream). `onDetect` learns which compression it was before the first byte comes.
 */
export async function* decompressed(input: AsyncIterable<Uint8Array>, onDetect?: (c: Compression) => void): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  let finished = false;
  try {
    while (headLen < 6) {
      const r = await it.next();
      if (r.done === true) {
        ended = true;
        break;
      }
      head.push(buf(r.value));
      headLen += r.value.byteLength;
    }
    const first = Buffer.concat(head);
    async function* raw(): AsyncGenerator<Buffer> {
      if (first.length) yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield buf(r.value);
      }
    }
    const kind = detectCompression(first);
    onDetect?.(kind);
    if (kind === 'none') yield* raw();
    else if (kind === 'gzip') yield* gunzipped(raw());
    else yield* throughProgram(kind, raw());
    finished = true;
  } finally {
    if (!finished) await it.return?.()?.catch(() => undefined);
  }
}

/**
 * Whether `file` is an archive ADD unpacks (moby's isArchivePath): its decompressed content
 * starts with a readable tar header. A compressed file holding something else is not one.
 */
export async function isArchiveFile(file: string): Promise<boolean> {
  const chunks: Buffer[] = [];
  let len = 0;
  try {
    for await (const c of decompressed(createReadStream(file))) {
      chunks.push(c);
      len += c.length;
      if (len >= 512) break;
    }
  } catch (e) {
    // data that does not decompress is not an archive (Docker copies it as a file)
    if (isEngineError(e) && e.code === BAD_DATA) return false;
    throw e;
  }
  return isTarHeader(Buffer.concat(chunks).subarray(0, 512));
}
