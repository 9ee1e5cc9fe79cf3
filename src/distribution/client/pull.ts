// Pulling one image: the manifest by tag or digest (an index resolved to the wanted platform),
// the config (verified, its diff IDs matched against the layers), then the layers — those whose
// chain is already here are skipped ("Already exists"), the others downloaded in parallel (3 at
// a time), every byte checked against the layer's digest and size, decompressed, stored
// uncompressed under its diff ID (the store checks that digest), and applied bottom-up. The
// store behind PullStore makes each step atomic, so a failure leaves nothing half-made.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isDigest, sha256Digest, type Digest } from '../../core/digest.ts';
import { EngineError, invalid, isEngineError, notFound } from '../../core/errors.ts';
import { tee } from '../../util/tee.ts';
import { decompress, type DecompressOptions } from './decompress.ts';
import { isAbort } from './errors.ts';
import type { LayerMemory } from './layer-memory.ts';
import { chooseManifest, formatPlatform, normalizePlatform, platformMatches, type Descriptor, type ImageManifest, type Platform } from './manifest.ts';
import { shortId, throttled, type ProgressSink } from './progress.ts';
import type { Repository } from './repository.ts';

/** Where a pull puts things: the content store, the snapshots, and what the image store knows. */
export interface PullStore {
  /** An image with this ID (config digest) is here already: the pull ends at once. */
  hasImage(configDigest: Digest): boolean;
  /** Size of the layer whose snapshot has this chain ID, when there is one. */
  layerSize(chainId: Digest): number | undefined;
  hasBlob(digest: Digest): Promise<boolean>;
  /** Store a blob, committed only if its digest is `expected`. */
  writeBlob(source: Readable, o: { readonly expected: Digest; readonly signal?: AbortSignal }): Promise<void>;
  /** Apply the stored layer tar `diffId` on top of `parentChainId`; `onBytes` gets tar bytes read so far. */
  applyLayer(
    diffId: Digest,
    parentChainId: Digest | undefined,
    o: { readonly signal?: AbortSignal; readonly onBytes?: (n: number) => void },
  ): Promise<{ readonly chainId: Digest; readonly size: number }>;
  /**
   * Apply a layer tar as it arrives, on top of `parentChainId` (which is here): committed only
   * once `beforeCommit` resolves, which it does only when the same bytes, written to the
   * content store, had digest `diffId`. Optional: without it every layer is stored first and
   * applied after.
   */
  applyLayerStream?(
    tar: Readable,
    diffId: Digest,
    parentChainId: Digest | undefined,
    o: { readonly signal?: AbortSignal; readonly beforeCommit: () => Promise<void> },
  ): Promise<{ readonly chainId: Digest; readonly size: number }>;
}

export interface PullRequest {
  /** A tag or a digest. */
  readonly reference: string;
  readonly platform: Platform;
  /** The platform was asked for (--platform): a single-platform image must then match it. */
  readonly explicitPlatform?: boolean;
  /** Familiar repository name for messages: busybox, localhost:5000/app. */
  readonly displayName: string;
}

export interface PullOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressSink;
  /** Parallel downloads (default 3). */
  readonly concurrency?: number;
  /** Tries of one layer download (default 3). */
  readonly attempts?: number;
  readonly retryDelayMs?: number;
  readonly memory?: LayerMemory;
  readonly decompress?: DecompressOptions;
}

export interface PulledLayer {
  readonly diffId: Digest;
  readonly chainId: Digest;
  readonly size: number;
}

export interface PulledImage {
  /** Digest of what the reference names (the index, when there is one): the repo digest. */
  readonly manifestDigest: Digest;
  readonly configDigest: Digest;
  /** The config's exact bytes and the layers; both undefined when the image was here already. */
  readonly config?: Buffer;
  readonly layers?: readonly PulledLayer[];
}

const CONFIG_MAX_BYTES = 32 * 1024 * 1024;

export function chainIdOf(parent: Digest | undefined, diffId: Digest): Digest {
  return parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`);
}

/** The bytes of `body`, checked against `d` (size and digest) as they pass. */
export async function* verified(
  body: AsyncIterable<Buffer>,
  d: Pick<Descriptor, 'digest' | 'size'>,
  hooks: { onBytes?: (n: number) => void; onVerified?: () => void } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  let n = 0;
  try {
    for await (const chunk of body) {
      n += chunk.byteLength;
      if (n > d.size) throw invalid(`filesystem layer verification failed for digest ${d.digest}: more than the ${d.size} bytes the manifest gives`, 'size-mismatch');
      hash.update(chunk);
      hooks.onBytes?.(n);
      yield chunk;
    }
  } catch (e) {
    if (isEngineError(e) || isAbort(e)) throw e;
    throw new EngineError('unavailable', `error pulling ${d.digest}: unexpected EOF after ${n} of ${d.size} bytes`, { code: 'unexpected-eof', cause: e });
  }
  if (n < d.size) throw new EngineError('unavailable', `error pulling ${d.digest}: unexpected EOF after ${n} of ${d.size} bytes`, { code: 'unexpected-eof' });
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== d.digest) throw invalid(`filesystem layer verification failed for digest ${d.digest}`, 'digest-mismatch');
  hooks.onVerified?.();
}

async function* counted(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of source) {
    n += c.byteLength;
    onBytes(n);
    yield c;
  }
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

/** A small semaphore: at most `n` holders. */
class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  get available(): boolean {
    return this.free > 0;
  }
  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.free++;
    };
  }
}

interface ConfigShape {
  readonly os?: unknown;
  readonly architecture?: unknown;
  readonly variant?: unknown;
  readonly rootfs?: { readonly diff_ids?: unknown };
}

/** Fetch the manifest a reference names and, for an index, the one for the platform. */
export async function resolveManifest(
  repo: Repository,
  req: PullRequest,
  signal?: AbortSignal,
): Promise<{ manifestDigest: Digest; manifest: ImageManifest; imageDigest: Digest }> {
  const top = await repo.getManifest(req.reference, signal);
  if (top.manifest.kind === 'image') return { manifestDigest: top.digest, manifest: top.manifest, imageDigest: top.digest };
  const entry = chooseManifest(top.manifest, req.platform);
  if (entry === undefined) {
    throw notFound(`no matching manifest for ${formatPlatform(normalizePlatform(req.platform))} in the manifest list entries`, 'platform-unknown');
  }
  const child = await repo.getManifest(entry.digest, signal);
  if (child.manifest.kind !== 'image') throw invalid(`manifest ${entry.digest} of the index is not an image manifest`, 'manifest-invalid');
  return { manifestDigest: top.digest, manifest: child.manifest, imageDigest: child.digest };
}

export async function pullImage(repo: Repository, store: PullStore, req: PullRequest, o: PullOptions = {}): Promise<PulledImage> {
  const { signal, onProgress } = o;
  const emit: ProgressSink = (e) => onProgress?.(e);
  const { manifestDigest, manifest } = await resolveManifest(repo, req, signal);
  emit({ id: req.reference, status: `Pulling from ${req.displayName}` });

  // An image is its config: when that is here, so is everything else (unless a platform was
  // asked for: the config then says whether the image is for it).
  const configDigest = manifest.config.digest;
  if (store.hasImage(configDigest) && !req.explicitPlatform) return { manifestDigest, configDigest };
  // The config: small, fetched first, verified like any blob.
  if (manifest.config.size > CONFIG_MAX_BYTES) throw invalid(`image config is too large (${manifest.config.size} bytes)`);
  const configReply = await repo.openBlob(configDigest, signal);
  const parts: Buffer[] = [];
  try {
    for await (const c of verified(configReply.body as AsyncIterable<Buffer>, manifest.config)) parts.push(c);
  } finally {
    configReply.body.destroy();
  }
  const config = Buffer.concat(parts);

  let parsed: ConfigShape;
  try {
    parsed = JSON.parse(config.toString('utf8')) as ConfigShape;
  } catch {
    throw invalid(`invalid image config ${configDigest}: not JSON`);
  }
  const diffIds = parsed.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d): d is Digest => typeof d === 'string' && isDigest(d))) {
    throw invalid(`invalid image config ${configDigest}: rootfs.diff_ids`);
  }
  if (diffIds.length !== manifest.layers.length) {
    throw invalid(`layers from manifest don't match image configuration: ${manifest.layers.length} layers, ${diffIds.length} diff IDs`);
  }
  if (req.explicitPlatform && typeof parsed.os === 'string' && typeof parsed.architecture === 'string') {
    const actual = { os: parsed.os, architecture: parsed.architecture, ...(typeof parsed.variant === 'string' && parsed.variant ? { variant: parsed.variant } : {}) };
    if (!platformMatches(req.platform, actual)) {
      throw notFound(
        `image with reference ${req.displayName}:${req.reference} was found but does not match the specified platform: wanted ${formatPlatform(normalizePlatform(req.platform))}, actual: ${formatPlatform(normalizePlatform(actual))}`,
        'platform-mismatch',
      );
    }
  }
  if (store.hasImage(configDigest)) return { manifestDigest, configDigest };

  interface Plan {
    readonly index: number;
    readonly layer: Descriptor;
    readonly id: string;
    readonly diffId: Digest;
    readonly chainId: Digest;
    readonly parent: Digest | undefined;
    readonly existing?: number;
    /** Unpacked while it downloads (its parent is here from the start). */
    readonly streamed?: boolean;
  }
  const plans: Plan[] = [];
  let parent: Digest | undefined;
  let below = true;
  manifest.layers.forEach((layer, index) => {
    const diffId = diffIds[index] as Digest;
    const chainId = chainIdOf(parent, diffId);
    const size = below ? store.layerSize(chainId) : undefined;
    below = size !== undefined;
    plans.push({ index, layer, id: shortId(layer.digest), diffId, chainId, parent, ...(size !== undefined ? { existing: size } : {}) });
    parent = chainId;
  });
  for (const p of plans) emit({ id: p.id, status: p.existing !== undefined ? 'Already exists' : 'Pulling fs layer', layer: true });
  // The lowest layer to fetch sits on layers that are all here: it can be unpacked while it
  // downloads (the tar goes to the content store and to the snapshot at once), instead of
  // after. The others wait for their parent, so they are stored first and applied in order.
  const first = plans.findIndex((p) => p.existing === undefined);
  if (first >= 0 && store.applyLayerStream) plans[first] = { ...(plans[first] as Plan), streamed: true };
  const streamedApplied = new Map<number, { readonly chainId: Digest; readonly size: number }>();

  const ac = new AbortController();
  const onAbort = (): void => ac.abort(signal?.reason);
  if (signal?.aborted) ac.abort(signal.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const inner = ac.signal;
  const slots = new Slots(Math.max(1, o.concurrency ?? 3));
  const attempts = Math.max(1, o.attempts ?? 3);

  const download = async (p: Plan): Promise<number | undefined> => {
    if (!slots.available) emit({ id: p.id, status: 'Waiting', layer: true });
    const release = await slots.take();
    try {
      inner.throwIfAborted();
      if (await store.hasBlob(p.diffId)) {
        emit({ id: p.id, status: 'Download complete', layer: true });
        return undefined;
      }
      for (let attempt = 1; ; attempt++) {
        let uncompressed = 0;
        try {
          const reply = await repo.openBlob(p.layer.digest, inner);
          const total = p.layer.size;
          const report = throttled(onProgress, p.id, 'Downloading', total);
          try {
            const bytes = verified(reply.body as AsyncIterable<Buffer>, p.layer, {
              onBytes: (n) => report(n),
              onVerified: () => {
                report(total, true);
                emit({ id: p.id, status: 'Verifying Checksum', layer: true });
              },
            });
            const tar = counted(decompress(bytes, o.decompress ?? {}), (n) => (uncompressed = n));
            if (p.streamed && store.applyLayerStream) {
              const [toBlob, toSnapshot] = tee(tar);
              const stored = store.writeBlob(toBlob, { expected: p.diffId, signal: inner });
              stored.catch((e: unknown) => toSnapshot.destroy(e as Error));
              const applied = store.applyLayerStream(toSnapshot, p.diffId, p.parent, { signal: inner, beforeCommit: () => stored });
              applied.catch((e: unknown) => toBlob.destroy(e as Error));
              const [s1, s2] = await Promise.allSettled([stored, applied]);
              if (s1.status === 'rejected') throw s1.reason;
              if (s2.status === 'rejected') throw s2.reason;
              streamedApplied.set(p.index, s2.value);
            } else {
              await store.writeBlob(Readable.from(tar), { expected: p.diffId, signal: inner });
            }
          } finally {
            reply.body.destroy();
          }
          await o.memory
            ?.remember({ diffId: p.diffId, digest: p.layer.digest, mediaType: p.layer.mediaType, size: p.layer.size, registry: repo.session.endpoint.domain, repository: repo.name })
            .catch(() => undefined);
          emit({ id: p.id, status: 'Download complete', layer: true });
          return uncompressed;
        } catch (e) {
          if (inner.aborted) throw inner.reason ?? e;
          if (!(isEngineError(e, 'unavailable') && attempt < attempts)) throw e;
          const seconds = attempt;
          emit({ id: p.id, status: `Retrying in ${seconds} second${seconds === 1 ? '' : 's'}`, layer: true });
          await sleep((o.retryDelayMs ?? 1000) * seconds, inner);
        }
      }
    } finally {
      release();
    }
  };

  const downloads = new Map<number, Promise<number | undefined>>();
  for (const p of plans) {
    if (p.existing !== undefined) continue;
    const d = download(p);
    d.catch((e: unknown) => {
      if (!ac.signal.aborted) ac.abort(e);
    });
    downloads.set(p.index, d);
  }

  const layers: PulledLayer[] = [];
  try {
    for (const p of plans) {
      if (p.existing !== undefined) {
        layers.push({ diffId: p.diffId, chainId: p.chainId, size: p.existing });
        continue;
      }
      const uncompressed = await downloads.get(p.index);
      const report = throttled(onProgress, p.id, 'Extracting', uncompressed);
      const applied = streamedApplied.get(p.index) ?? (await store.applyLayer(p.diffId, p.parent, { signal: inner, onBytes: (n) => report(n) }));
      report(uncompressed ?? 0, true);
      if (applied.chainId !== p.chainId) throw invalid(`layer ${p.diffId} gave chain ${applied.chainId}, expected ${p.chainId}`);
      emit({ id: p.id, status: 'Pull complete', layer: true });
      layers.push({ diffId: p.diffId, chainId: p.chainId, size: applied.size });
    }
  } catch (e) {
    if (!ac.signal.aborted) ac.abort(e);
    // Let every download finish failing, so no ingest file outlives the pull.
    await Promise.allSettled(downloads.values());
    throw firstCause(e, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return { manifestDigest, configDigest, config, layers };
}

/** The failure to report: the caller's abort, else the error that stopped the pull. */
function firstCause(e: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason ?? e;
  return e;
}
