// content/: blobs addressed by digest (layers, configs, manifests). Lifecycle: writeBlob
// streams into ingest/, verifies, fsyncs and renames into blobs/ -> read/open/stat by digest ->
// deleteBlob when garbage collection, marking from images, containers and the build cache,
// finds no root holding it. sweepIngest at start-up removes what a crash left half-written.
// adoptBlob takes over a file already written on the same filesystem (a registry upload):
// verified, fsynced and renamed into blobs/ instead of copied.

export {
  ContentStore,
  type AdoptBlobOptions,
  type BlobInfo,
  type BlobSource,
  type ContentAdopter,
  type ContentManager,
  type ContentReader,
  type ContentWriter,
  type OpenBlobOptions,
  type WriteBlobOptions,
} from './store.ts';
