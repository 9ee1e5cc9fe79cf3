// Opening the content store and the snapshot store, with the garbage-collection step each
// needs: remove what is not in the live set (marked from images and containers).
import { ContentStore } from '../content/index.ts';
import type { Readable } from 'node:stream';
import { SnapshotStore, diffLayer } from '../snapshots/index.ts';
import type { Digest } from '../core/digest.ts';
import type { BlobStore } from '../images/store.ts';
import type { LayerApplier } from '../images/import.ts';
import type { Overlay } from './container-service.ts';

export interface ContentPort extends BlobStore {
  openBlob(digest: Digest, o?: { readonly highWaterMark?: number }): Promise<Readable>;
  statBlob(digest: Digest): Promise<{ digest: Digest; size: number }>;
  removeUnreferenced(live: ReadonlySet<string>): Promise<number>;
}

export interface SnapshotPort extends LayerApplier, Overlay {
  diffLayer(upperDir: string, signal?: AbortSignal): Readable;
  /** Apply a layer that must have digest `diffId`, committed only once `beforeCommit` resolves. */
  applyCheckedLayer(
    tar: Readable,
    o: {
      readonly diffId: Digest;
      readonly parentChainId?: Digest;
      readonly signal?: AbortSignal;
      readonly beforeCommit?: () => Promise<void>;
      /** beforeCommit resolves only once the same bytes were checked against diffId. */
      readonly diffIdCheckedByGate?: boolean;
    },
  ): Promise<{ chainId: Digest; diffId: Digest; size: number }>;
  removeUnreferenced(live: ReadonlySet<string>): Promise<number>;
}

export async function openContent(root: string): Promise<ContentPort> {
  const store = await ContentStore.open(root);
  await store.sweepIngest();
  return {
    writeBlob: (data, opts) => store.writeBlob(data, opts),
    readBlob: (d) => store.readBlob(d),
    openBlob: (d, o) => store.openBlob(d, o),
    statBlob: (d) => store.statBlob(d),
    async removeUnreferenced(live) {
      let freed = 0;
      for (const d of await store.listBlobs()) {
        if (live.has(d)) continue;
        const size = (await store.statBlob(d).catch(() => ({ size: 0 }))).size;
        if (await store.deleteBlob(d)) freed += size;
      }
      return freed;
    },
  };
}

export async function openSnapshots(root: string): Promise<SnapshotPort> {
  const store = await SnapshotStore.open(root);
  return {
    applyLayer: (tar, opts) => store.applyLayer(tar, opts),
    applyCheckedLayer: (tar, opts) => store.applyLayer(tar, opts),
    mountOverlay: (o) => store.mountOverlay(o),
    unmount: (t) => store.unmount(t),
    diffLayer: (upper, signal) => diffLayer(upper, signal ? { signal } : {}),
    async removeUnreferenced(live) {
      // a snapshot is live if it, or any snapshot above it, is referenced
      const all = store.listSnapshots();
      const keep = new Set<Digest>();
      const byId = new Map(all.map((s) => [s.chainId, s]));
      for (const s of all) {
        if (!live.has(s.chainId)) continue;
        let cur: typeof s | undefined = s;
        while (cur && !keep.has(cur.chainId)) {
          keep.add(cur.chainId);
          cur = cur.parent ? byId.get(cur.parent) : undefined;
        }
      }
      let freed = 0;
      // children first: repeat until nothing more can go
      for (let progress = true; progress; ) {
        progress = false;
        for (const s of store.listSnapshots()) {
          if (keep.has(s.chainId)) continue;
          if (store.listSnapshots().some((o) => o.parent === s.chainId)) continue;
          await store.removeSnapshot(s.chainId);
          freed += s.size;
          progress = true;
        }
      }
      return freed;
    },
  };
}
