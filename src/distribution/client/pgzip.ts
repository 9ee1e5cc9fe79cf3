// gzip for pushing layers, fast: the input is cut into segments compressed independently on
// libuv's thread pool (so several cores work at once, as pigz and Go's pgzip do) and joined
// into one ordinary gzip member that any gunzip reads. Each segment is raw deflate ended by a
// sync flush (byte-aligned, not final), primed with the previous segment's last 32 KiB as its
// dictionary so the ratio stays close to a single stream; the member ends with an empty final
// block, then CRC-32 and size.
//
// A segment that deflate cannot shrink (random or already-compressed data: a trial deflate of
// a sample gains under 2 %) is stored instead, as stored blocks written here: compressing it
// would cost ~50 MB/s of CPU for nothing — the commonest reason a big push is slow.

import { crc32, deflateRaw, deflateRawSync, constants } from 'node:zlib';

export interface ParallelGzipOptions {
  /** deflate level for compressible segments (default 6, gzip's and Go's default). */
  readonly level?: number;
  /** Bytes per segment (default 1 MiB). */
  readonly segment?: number;
  /** Segments compressed at once (default 4: libuv's thread pool size). */
  readonly parallel?: number;
}

const WINDOW = 32 * 1024;
/** Largest stored block (LEN is 16 bits). */
const STORED_MAX = 65535;
const SAMPLE = 16 * 1024;
/** Empty final block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/** gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown (as Go writes it). */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

function deflateSegment(data: Buffer, level: number, dictionary: Buffer | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    deflateRaw(data, { level, finishFlush: constants.Z_SYNC_FLUSH, ...(dictionary && level > 0 ? { dictionary } : {}) }, (e, out) => (e ? reject(e) : resolve(out)));
  });
}

/** Stored (uncompressed) deflate blocks of `data`, non-final: headers and views of `data`, no copy. */
export function storedBlocks(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.byteLength; off += STORED_MAX) {
    const n = Math.min(STORED_MAX, data.byteLength - off);
    const h = Buffer.alloc(5); // BFINAL=0, BTYPE=00, then LEN and its one's complement
    h.writeUInt16LE(n, 1);
    h.writeUInt16LE(~n & 0xffff, 3);
    out.push(h, data.subarray(off, off + n));
  }
  return out;
}

/** True when deflate gains less than 2 % on a sample from the middle of `data`. */
export function incompressible(data: Buffer): boolean {
  if (data.byteLength < SAMPLE) return false;
  const start = Math.floor((data.byteLength - SAMPLE) / 2);
  const sample = data.subarray(start, start + SAMPLE);
  return deflateRawSync(sample, { level: 1 }).byteLength > SAMPLE * 0.98;
}

function flat(b: Buffer | Buffer[]): Buffer[] {
  return Array.isArray(b) ? b : [b];
}

/** The gzip of `source`, segments compressed in parallel, output in order. */
export async function* parallelGzip(source: AsyncIterable<Uint8Array>, o: ParallelGzipOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const level = o.level ?? 6;
  const segment = Math.max(WINDOW, o.segment ?? 1024 * 1024);
  const parallel = Math.max(1, o.parallel ?? 4);
  const inflight: Promise<Buffer | Buffer[]>[] = [];
  let crc = 0;
  let size = 0;
  let tail: Buffer | undefined;
  let parts: Buffer[] = [];
  let buffered = 0;

  const submit = (data: Buffer): void => {
    crc = crc32(data, crc);
    size += data.byteLength;
    // Incompressible: stored blocks written here, no zlib stream (its state and output copies
    // were most of the memory a big push left behind).
    const p: Promise<Buffer | Buffer[]> = incompressible(data) ? Promise.resolve(storedBlocks(data)) : deflateSegment(data, level, tail);
    p.catch(() => undefined); // awaited in order below; a failure surfaces there
    inflight.push(p);
    tail = Buffer.from(data.subarray(Math.max(0, data.byteLength - WINDOW)));
  };

  yield HEADER;
  for await (const chunk of source) {
    let c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (c.byteLength > 0) {
      const take = Math.min(c.byteLength, segment - buffered);
      parts.push(c.subarray(0, take));
      buffered += take;
      c = c.subarray(take);
      if (buffered === segment) {
        // The segment is copied: the source may reuse its buffers once we ask for more.
        submit(Buffer.concat(parts, buffered));
        parts = [];
        buffered = 0;
        while (inflight.length >= parallel) yield* flat(await (inflight.shift() as Promise<Buffer | Buffer[]>));
      }
    }
  }
  if (buffered > 0) submit(Buffer.concat(parts, buffered));
  while (inflight.length > 0) yield* flat(await (inflight.shift() as Promise<Buffer | Buffer[]>));
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  yield Buffer.concat([FINAL_BLOCK, trailer]);
}
