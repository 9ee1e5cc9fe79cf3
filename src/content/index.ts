// content/: blobs addressed by digest (layers, configs, manifests). Lifecycle: writeBlob
// streams into ingest/, verifies, fsyncs and renames into blobs/ -> read/open/stat by digest ->
// deleteBlob when garbage collection, marking from images, containers and the build cache,
// finds no root holding it. sweepIngest at start-up removes what a crash left half-written.

export {
  ContentStore,
  type BlobInfo,
  type BlobSource,
  type ContentManager,
  type ContentReader,
  type ContentWriter,
  type OpenBlobOptions,
  type WriteBlobOptions,
} from './store.ts';
