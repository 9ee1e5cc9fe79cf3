// `import`: a root filesystem tarball (plain or gzip) becomes a one-layer image.
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Digest } from '../core/digest.ts';
import { invalid } from '../core/errors.ts';
import { applyChanges } from './changes.ts';
import type { BlobStore, ImageStore } from './store.ts';
import type { ImageConfig, ImageRecord } from './types.ts';

export interface LayerApplier {
  applyLayer(tar: Readable, opts: { parentChainId?: Digest; signal?: AbortSignal }): Promise<{ chainId: Digest; diffId: Digest; size: number }>;
}

/** Peek at the first bytes and gunzip when needed. */
async function decompressed(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
  const rest = Readable.from((async function* () {
    if (head.length) yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value as Buffer;
    }
  })());
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip();
    rest.pipe(gz);
    rest.on('error', (e) => gz.destroy(e));
    return gz;
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) throw invalid('zstd-compressed archives are not supported for import');
  if (head.length > 0 && head.length < 512 && first.done) throw invalid('archive/tar: invalid tar header');
  return rest;
}

export async function importImage(
  input: Readable,
  deps: { images: ImageStore; blobs: BlobStore; layers: LayerApplier },
  opts: { changes?: string[]; message?: string; tag?: string; signal?: AbortSignal },
): Promise<ImageRecord> {
  const tar = await decompressed(input);
  const toBlob = new PassThrough({ highWaterMark: 1 << 20 });
  const toLayer = new PassThrough({ highWaterMark: 1 << 20 });
  const tee = pipeline(tar, async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) {
      const a = toBlob.write(chunk);
      const b = toLayer.write(chunk);
      if (!a) await new Promise((r) => toBlob.once('drain', r));
      if (!b) await new Promise((r) => toLayer.once('drain', r));
    }
    toBlob.end();
    toLayer.end();
  }).catch((e: unknown) => {
    toBlob.destroy(e as Error);
    toLayer.destroy(e as Error);
    throw e;
  });
  const [blob, layer] = await Promise.all([
    deps.blobs.writeBlob(toBlob, { signal: opts.signal }),
    deps.layers.applyLayer(toLayer, { signal: opts.signal }),
    tee,
  ]);
  if (blob.digest !== layer.diffId) throw invalid('layer digest mismatch while importing');
  const now = new Date().toISOString();
  const config: ImageConfig = {
    created: now,
    architecture: 'amd64',
    os: 'linux',
    config: applyChanges({}, opts.changes ?? []),
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: now, created_by: '', comment: opts.message || 'Imported from -' }],
  };
  const rec = await deps.images.add(config, [{ diffId: layer.diffId, chainId: layer.chainId, size: layer.size }]);
  if (opts.tag) await deps.images.tag(rec.id, opts.tag);
  return rec;
}
