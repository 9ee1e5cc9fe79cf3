// Pushing one image under one tag, as Docker does: for each layer (3 at a time) ask first —
// a compressed form remembered for it may already be in the repository (HEAD: "Layer already
// exists") or in another repository of the registry (cross-repository mount: "Mounted from
// …") — and only otherwise gzip it (pgzip.ts: in parallel, incompressible parts stored) while
// uploading it in one streamed PATCH, then PUT with its digest. With a set chunk size the gzip
// goes to a spool file first (its digest is then asked for again) and is sent in PATCH chunks,
// or in one PUT when small. Then the config blob, then a Docker schema2 manifest.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../core/digest.ts';
import { isEngineError } from '../../core/errors.ts';
import type { LayerBlob, LayerMemory } from './layer-memory.ts';
import { isGzipLayerType, MediaType } from './manifest.ts';
import { parallelGzip } from './pgzip.ts';
import { shortId, throttled, type ProgressSink } from './progress.ts';
import type { Repository } from './repository.ts';

/** The image to push, as the image store has it. */
export interface PushSource {
  /** The config's exact bytes; its digest is the image ID. */
  readonly config: Buffer;
  readonly configDigest: Digest;
  /** Bottom layer first. */
  readonly diffIds: readonly Digest[];
  /** A layer's uncompressed tar. */
  openLayer(diffId: Digest, signal?: AbortSignal): Promise<Readable>;
  /** Its size in bytes, for progress. */
  layerSize?(diffId: Digest): Promise<number>;
}

export interface PushOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressSink;
  readonly memory: LayerMemory;
  /** Where compressed layers are spooled while they are uploaded (removed after). */
  readonly spoolDir: string;
  /** Parallel layer uploads (default 3). */
  readonly concurrency?: number;
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks (default 16 MiB). */
  readonly monolithicMax?: number;
  /** Upload compressed layers from a spool file in PATCH chunks of this size. Default: none —
   *  the layer is compressed while it is sent, in one PATCH, as Docker does it (registries such
   *  as docker-registry take one long PATCH much faster than many short ones). */
  readonly chunkSize?: number;
  /** Tries of one blob upload (default 3). */
  readonly attempts?: number;
  readonly retryDelayMs?: number;
}

export interface PushResult {
  readonly digest: Digest;
  readonly size: number;
  readonly manifest: Buffer;
}

interface Blob {
  readonly digest: Digest;
  readonly size: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function counter(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.byteLength;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

const active = new Set<string>();

/** Remove spool files a crashed push left (older than an hour, not in use here). */
export async function sweepSpool(dir: string, maxAgeMs = 60 * 60 * 1000): Promise<number> {
  let n = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name);
    if (active.has(p)) continue;
    const st = await stat(p).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > maxAgeMs) {
      await rm(p, { force: true, recursive: true });
      n++;
    }
  }
  return n;
}

/** gzip a layer into a spool file: its digest and size, and the file to upload from. */
async function spoolLayer(tar: Readable, dir: string, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<Blob & { path: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${randomBytes(12).toString('hex')}.tar.gz`);
  active.add(path);
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      tar,
      counter(onBytes),
      (source: AsyncIterable<Buffer>) => parallelGzip(source),
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.byteLength;
          cb(null, chunk);
        },
      }),
      createWriteStream(path, { mode: 0o600 }),
      ...(signal ? [{ signal }] : []),
    );
  } catch (e) {
    active.delete(path);
    await rm(path, { force: true });
    throw e;
  }
  return { path, digest: `sha256:${hash.digest('hex')}` as Digest, size };
}

async function dropSpool(path: string): Promise<void> {
  active.delete(path);
  await rm(path, { force: true });
}

/** Upload a blob from a file (or a buffer), retrying the whole upload after a server fault. */
async function uploadBlob(
  repo: Repository,
  blob: Blob,
  from: { readonly path: string } | { readonly data: Buffer },
  o: PushOptions,
  onBytes?: (n: number) => void,
): Promise<void> {
  const attempts = Math.max(1, o.attempts ?? 3);
  const monolithicMax = o.monolithicMax ?? 16 * 1024 * 1024;
  const chunkSize = Math.max(1, o.chunkSize ?? 8 * 1024 * 1024);
  const open = (start: number, end: number): Readable | Buffer => {
    if (end < start) return Buffer.alloc(0);
    if ('data' in from) return from.data.subarray(start, end + 1);
    const s = createReadStream(from.path, { start, end });
    if (!onBytes) return s;
    return s.pipe(counter((n) => onBytes(start + n)));
  };
  for (let attempt = 1; ; attempt++) {
    let location: URL | undefined;
    try {
      location = await repo.startUpload(o.signal);
      if (blob.size <= monolithicMax) {
        await repo.putBlob(location, { length: blob.size, open: () => open(0, blob.size - 1) }, blob.digest, o.signal);
      } else {
        for (let start = 0; start < blob.size; start += chunkSize) {
          const end = Math.min(blob.size, start + chunkSize) - 1;
          location = await repo.patchChunk(location, { length: end - start + 1, open: () => open(start, end) }, start, o.signal);
        }
        await repo.finishUpload(location, blob.digest, o.signal);
      }
      return;
    } catch (e) {
      if (location) repo.cancelUpload(location);
      if (o.signal?.aborted) throw o.signal.reason ?? e;
      if (!(isEngineError(e, 'unavailable') && attempt < attempts)) throw e;
      await sleep((o.retryDelayMs ?? 1000) * attempt, o.signal);
    }
  }
}

/**
 * Compress a layer while uploading it, as Docker does: POST, one PATCH whose body is the gzip
 * as it is made, then PUT with the digest that came out. Nothing is spooled; a retry after a
 * server fault compresses again (the output is the same bytes, see pgzip.ts).
 */
async function streamLayer(repo: Repository, src: PushSource, diffId: Digest, o: PushOptions): Promise<Blob> {
  const id = shortId(diffId);
  const total = await src.layerSize?.(diffId).catch(() => undefined);
  const attempts = Math.max(1, o.attempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    let location: URL | undefined;
    const pushing = throttled(o.onProgress, id, 'Pushing', total);
    try {
      location = await repo.startUpload(o.signal);
      const tar = await src.openLayer(diffId, o.signal);
      const hash = createHash('sha256');
      let size = 0;
      const body = Readable.from(
        (async function* (): AsyncGenerator<Buffer> {
          let read = 0;
          const counted = (async function* (): AsyncGenerator<Buffer> {
            for await (const c of tar as AsyncIterable<Buffer>) {
              read += c.byteLength;
              pushing(read);
              yield c;
            }
          })();
          for await (const c of parallelGzip(counted)) {
            hash.update(c);
            size += c.byteLength;
            yield c;
          }
        })(),
        { objectMode: false },
      );
      try {
        location = await repo.patchStream(location, { open: () => body }, o.signal);
      } finally {
        body.destroy();
        tar.destroy();
      }
      const blob: Blob = { digest: `sha256:${hash.digest('hex')}` as Digest, size };
      await repo.finishUpload(location, blob.digest, o.signal);
      if (total !== undefined) pushing(total, true);
      return blob;
    } catch (e) {
      if (location) repo.cancelUpload(location);
      if (o.signal?.aborted) throw o.signal.reason ?? e;
      if (!(isEngineError(e, 'unavailable') && attempt < attempts)) throw e;
      await sleep((o.retryDelayMs ?? 1000) * attempt, o.signal);
    }
  }
}

/** A descriptor of a gzip layer in a Docker schema2 manifest. */
interface LayerDescriptor {
  readonly mediaType: string;
  readonly size: number;
  readonly digest: Digest;
}

async function pushLayer(repo: Repository, src: PushSource, diffId: Digest, o: PushOptions): Promise<LayerDescriptor> {
  const id = shortId(diffId);
  const emit: ProgressSink = (e) => o.onProgress?.(e);
  const domain = repo.session.endpoint.domain;
  const here = (b: Blob): LayerBlob => ({ diffId, digest: b.digest, size: b.size, mediaType: MediaType.dockerLayer, registry: domain, repository: repo.name });
  const remember = (b: LayerBlob): Promise<void> => o.memory.remember(b).catch(() => undefined);
  const done = (b: Blob): LayerDescriptor => ({ mediaType: MediaType.dockerLayer, size: b.size, digest: b.digest });

  const known = o.memory.blobsOf(diffId).filter((b) => isGzipLayerType(b.mediaType) && (b.registry === domain || b.registry === ''));
  const digests = [...new Map(known.map((b) => [b.digest, b])).values()];
  // Already in this repository?
  for (const b of digests.slice(0, 5)) {
    const size = await repo.statBlob(b.digest, o.signal);
    if (size !== undefined) {
      const blob = { digest: b.digest, size: size >= 0 ? size : b.size };
      await remember(here(blob));
      emit({ id, status: 'Layer already exists', layer: true });
      return done(blob);
    }
  }
  // In another repository of the same registry: mount it.
  const sources = known.filter((b) => b.registry === domain && b.repository !== '' && b.repository !== repo.name);
  for (const b of sources.slice(0, 3)) {
    if (await repo.mountBlob(b.digest, b.repository, o.signal)) {
      await remember(here(b));
      emit({ id, status: `Mounted from ${b.repository}`, layer: true });
      return done(b);
    }
  }
  if (o.chunkSize === undefined) {
    const blob = await streamLayer(repo, src, diffId, o);
    await remember({ diffId, digest: blob.digest, size: blob.size, mediaType: MediaType.dockerLayer, registry: '', repository: '' });
    await remember(here(blob));
    emit({ id, status: 'Pushed', layer: true });
    return done(blob);
  }
  // Chunked uploads of a set size: compress it (once), ask again for that digest, then upload.
  const compressing = throttled(o.onProgress, id, 'Pushing', undefined);
  const spool = await spoolLayer(await src.openLayer(diffId, o.signal), o.spoolDir, o.signal, (n) => compressing(n));
  try {
    await remember({ diffId, digest: spool.digest, size: spool.size, mediaType: MediaType.dockerLayer, registry: '', repository: '' });
    if (!digests.some((b) => b.digest === spool.digest)) {
      const size = await repo.statBlob(spool.digest, o.signal);
      if (size !== undefined) {
        await remember(here(spool));
        emit({ id, status: 'Layer already exists', layer: true });
        return done(spool);
      }
    }
    const pushing = throttled(o.onProgress, id, 'Pushing', spool.size);
    await uploadBlob(repo, spool, spool, o, (n) => pushing(n));
    pushing(spool.size, true);
    await remember(here(spool));
    emit({ id, status: 'Pushed', layer: true });
    return done(spool);
  } finally {
    await dropSpool(spool.path);
  }
}

/** Docker's schema2 manifest (indented as Docker writes it). */
export function schema2Manifest(config: Blob, layers: readonly LayerDescriptor[]): Buffer {
  const m = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  return Buffer.from(JSON.stringify(m, null, 3));
}

export async function pushImage(repo: Repository, tag: string, src: PushSource, o: PushOptions): Promise<PushResult> {
  const emit: ProgressSink = (e) => o.onProgress?.(e);
  await sweepSpool(o.spoolDir).catch(() => 0);
  // Top layer first, as Docker lists them.
  const order = [...src.diffIds.keys()].reverse();
  const unique = order.filter((i, k) => order.findIndex((j) => src.diffIds[j] === src.diffIds[i]) === k);
  for (const i of unique) emit({ id: shortId(src.diffIds[i] ?? ''), status: 'Preparing', layer: true });

  const ac = new AbortController();
  const onAbort = (): void => ac.abort(o.signal?.reason);
  if (o.signal?.aborted) ac.abort(o.signal.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const inner: PushOptions = { ...o, signal: ac.signal };
  const limit = Math.max(1, o.concurrency ?? 3);
  let running = 0;
  const queue: (() => void)[] = [];
  const take = async (id: string): Promise<void> => {
    if (running >= limit) {
      emit({ id, status: 'Waiting', layer: true });
      await new Promise<void>((resolve) => queue.push(resolve));
    } else running++;
  };
  const release = (): void => {
    const next = queue.shift();
    if (next) next();
    else running--;
  };

  const results = new Map<Digest, Promise<LayerDescriptor>>();
  for (const i of unique) {
    const diffId = src.diffIds[i] as Digest;
    const p = (async () => {
      await take(shortId(diffId));
      try {
        ac.signal.throwIfAborted();
        return await pushLayer(repo, src, diffId, inner);
      } finally {
        release();
      }
    })();
    p.catch((e: unknown) => {
      if (!ac.signal.aborted) ac.abort(e);
    });
    results.set(diffId, p);
  }
  try {
    const settled = await Promise.allSettled(results.values());
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw o.signal?.aborted ? (o.signal.reason ?? failed.reason) : failed.reason;
    const layers: LayerDescriptor[] = [];
    for (const d of src.diffIds) layers.push(await (results.get(d) as Promise<LayerDescriptor>));

    const config: Blob = { digest: src.configDigest, size: src.config.byteLength };
    if ((await repo.statBlob(config.digest, o.signal)) === undefined) {
      await uploadBlob(repo, config, { data: src.config }, o);
    }
    const manifest = schema2Manifest(config, layers);
    const digest = await repo.putManifest(tag, manifest, MediaType.dockerManifest, o.signal);
    emit({ status: `${tag}: digest: ${digest} size: ${manifest.byteLength}` });
    emit({ status: '', aux: { tag, digest, size: manifest.byteLength } });
    return { digest, size: manifest.byteLength, manifest };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
