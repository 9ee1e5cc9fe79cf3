// snapshots/: layers unpacked on disk as the read-only lower directories of overlay mounts,
// keyed by chain ID. Lifecycle: applyLayer (tar in, safely extracted into an incomplete
// directory, committed by writing meta.json) -> mountOverlay under a container's upper/work
// directories -> unmount -> diffLayer of the upper directory to commit it as a new layer ->
// removeSnapshot, children first, when garbage collection finds it unreachable. Whatever a
// crash leaves half-made is swept by SnapshotStore.open.

export {
  SnapshotStore,
  chainIdOf,
  chainIds,
  type AppliedLayer,
  type ApplyLayerOptions,
  type LayerApplier,
  type OverlayMounter,
  type OverlayMountOptions,
  type SnapshotInfo,
  type SnapshotManager,
  type SnapshotReader,
} from './store.ts';
export { diffLayer } from './diff.ts';
export { digestLayer, extractLayer, type LayerInput } from './apply.ts';
export { encodeHeader, paddingFor, END_OF_ARCHIVE, type TarWriteHeader } from './tar-writer.ts';
export { unmount } from './overlay.ts';
