// A new image from a parent image plus one layer (a container's changes, a COPY, a RUN step):
// the layer tar goes to the content store first (its digest is the diff ID), then is applied
// as a snapshot on top of the parent's chain; the config gets the diff ID and a history entry.
import type { Readable } from 'node:stream';
import type { Digest } from '../core/digest.ts';
import type { ImageStore, BlobStore } from './store.ts';
import type { ImageConfig, ImageRecord, ImageRunConfig, LayerInfo } from './types.ts';

export interface LayerStore {
  applyLayer(tar: AsyncIterable<Uint8Array> | Readable, opts: { parentChainId?: Digest; diffId?: Digest; signal?: AbortSignal }): Promise<{ chainId: Digest; diffId: Digest; size: number }>;
}

export interface BlobOpener extends BlobStore {
  openBlob(digest: Digest, o?: { readonly highWaterMark?: number }): Promise<Readable>;
}

export interface HistoryEntry {
  readonly createdBy: string;
  readonly comment?: string;
  readonly author?: string;
}

/** Store a layer tar and stack it on `parent`'s layers; returns the new layer. */
export async function addLayer(
  deps: { blobs: BlobOpener; layers: LayerStore },
  parent: readonly LayerInfo[],
  tar: Readable,
  signal?: AbortSignal,
): Promise<LayerInfo> {
  const { digest } = await deps.blobs.writeBlob(tar, { signal });
  const top = parent[parent.length - 1];
  const applied = await deps.layers.applyLayer(await deps.blobs.openBlob(digest, { highWaterMark: 1024 * 1024 }), {
    ...(top ? { parentChainId: top.chainId } : {}),
    diffId: digest,
    signal,
  });
  return { diffId: applied.diffId, chainId: applied.chainId, size: applied.size };
}

/** The image config of `parent` with a new run config, one more layer (or an empty one) and its history. */
export function childConfig(parent: ImageRecord | undefined, run: ImageRunConfig, layer: LayerInfo | undefined, h: HistoryEntry, created = new Date().toISOString()): ImageConfig {
  return {
    created,
    ...(h.author ? { author: h.author } : {}),
    architecture: parent?.config.architecture ?? 'amd64',
    os: parent?.config.os ?? 'linux',
    config: run,
    rootfs: { type: 'layers', diff_ids: [...(parent?.config.rootfs.diff_ids ?? []), ...(layer ? [layer.diffId] : [])] },
    history: [
      ...(parent?.config.history ?? []),
      { created, created_by: h.createdBy, ...(h.comment ? { comment: h.comment } : {}), ...(h.author ? { author: h.author } : {}), ...(layer ? {} : { empty_layer: true }) },
    ],
  };
}

export async function addChildImage(
  deps: { images: ImageStore },
  parent: ImageRecord | undefined,
  run: ImageRunConfig,
  layer: LayerInfo | undefined,
  h: HistoryEntry,
): Promise<ImageRecord> {
  const cfg = childConfig(parent, run, layer, h);
  return deps.images.add(cfg, [...(parent?.layers ?? []), ...(layer ? [layer] : [])], parent?.id);
}
