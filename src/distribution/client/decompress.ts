// A layer blob's bytes -> the uncompressed tar. The compression is told by the bytes themselves
// (gzip 1f 8b, zstd 28 b5 2f fd), whatever the media type says. Node has gzip built in; zstd
// arrives in Node 22.15/23.8 (zlib.createZstdDecompress), so on Node 20 it goes through the
// system's `zstd -d` when that program is installed, and is refused (not-implemented) otherwise.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { EngineError, errnoOf, invalid } from '../../core/errors.ts';

/**
 * Bytes per decompressed chunk. zlib's 16 KiB default made a 100 MiB pull ~20 % slower (1265 vs
 * 974 ms median of 5); 256 KiB was no faster than 64 KiB and kept berthd ~5 MB bigger after it.
 */
const OUT_CHUNK = 64 * 1024;

export type Compression = 'gzip' | 'zstd' | 'none';

export function compressionOf(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export interface DecompressOptions {
  /** Path of a `zstd` program; null: none (zstd layers are refused); default: found on PATH. */
  readonly zstd?: string | null;
}

let zstdOnPath: string | null | undefined;
function findZstd(): string | null {
  if (zstdOnPath !== undefined) return zstdOnPath;
  zstdOnPath = null;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, 'zstd');
    try {
      accessSync(p, constants.X_OK);
      zstdOnPath = p;
      break;
    } catch {
      /* next */
    }
  }
  return zstdOnPath;
}

function zlibNative(): ((...a: unknown[]) => NodeJS.ReadWriteStream) | undefined {
  const f = (zlib as unknown as Record<string, unknown>).createZstdDecompress;
  return typeof f === 'function' ? (f as () => NodeJS.ReadWriteStream) : undefined;
}

/** The uncompressed bytes of `source`; errors of `source` come through unchanged. */
export async function* decompress(source: AsyncIterable<Buffer>, o: DecompressOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let len = 0;
  let ended = false;
  try {
    while (len < 4) {
      const r = await it.next();
      if (r.done === true) {
        ended = true;
        break;
      }
      head.push(r.value);
      len += r.value.byteLength;
    }
    const first = Buffer.concat(head);
    const kind = compressionOf(first);
    const rest = async function* (): AsyncGenerator<Buffer> {
      if (first.byteLength) yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield r.value;
      }
    };
    if (kind === 'none') {
      yield* rest();
      return;
    }
    if (kind === 'gzip') {
      yield* through(rest(), zlib.createGunzip({ chunkSize: OUT_CHUNK }), 'gzip');
      return;
    }
    const native = zlibNative();
    if (native) {
      yield* through(rest(), native(), 'zstd');
      return;
    }
    const program = o.zstd === undefined ? findZstd() : o.zstd;
    if (program === null) {
      throw new EngineError('not-implemented', 'zstd-compressed layers are not supported by this berth (Node 20 has no zstd; install the zstd program)', {
        code: 'zstd-unsupported',
      });
    }
    yield* zstdProgram(rest(), program);
  } finally {
    await it.return?.();
  }
}

async function* through(input: AsyncIterable<Buffer>, stage: NodeJS.ReadWriteStream, what: string): AsyncGenerator<Buffer> {
  const src = Readable.from(input, { objectMode: false });
  let failure: unknown;
  pipeline(src, stage, (e) => {
    if (e) failure = e;
  });
  try {
    for await (const chunk of stage as AsyncIterable<Buffer>) yield chunk;
  } catch (e) {
    throw mapCodecError(failure ?? e, what);
  } finally {
    src.destroy();
    (stage as unknown as Readable).destroy();
  }
  if (failure !== undefined) throw mapCodecError(failure, what);
}

function mapCodecError(e: unknown, what: string): unknown {
  if (errnoOf(e)?.startsWith('Z_') === true) return invalid(`invalid layer: bad ${what} data: ${(e as Error).message}`, 'invalid-layer');
  return e;
}

async function* zstdProgram(input: AsyncIterable<Buffer>, program: string): AsyncGenerator<Buffer> {
  const child = spawn(program, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString();
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  exited.catch(() => undefined);
  let feedError: unknown;
  const feeding = new Promise<void>((resolve) => {
    pipeline(Readable.from(input), child.stdin, (e) => {
      if (e && errnoOf(e) !== 'EPIPE') feedError = e;
      resolve();
    });
  });
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    await feeding;
    if (feedError !== undefined) throw feedError;
    const code = await exited;
    if (code !== 0) throw invalid(`invalid layer: bad zstd data: ${stderr.trim() || `zstd exited with status ${code}`}`, 'invalid-layer');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
