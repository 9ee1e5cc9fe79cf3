// distribution/server: berth's own OCI registry (distribution-spec v1.1), served by
// `berth registry serve`. Lifecycle: createRegistryServer opens the storage under a root
// directory (a content store for blobs, repositories of links, tags and manifest revisions,
// upload sessions), sweeps what a crash left half-made, and returns an HTTP(S) server that is
// not yet listening; the caller listens, and close() stops it. Pushed blobs become visible
// only once verified against their digest; manifests only once everything they name is there.

export {
  createRegistryServer,
  type RegistryServer,
  type RegistryServerOptions,
  type RequestLogEntry,
} from './server.ts';
export { errorResponse, RegistryError, type RegistryErrorCode } from './errors.ts';
export { parseRepositoryName, parseTag, parseReference, parseRegistryDigest, type RepositoryName, type Tag } from './names.ts';
export { DEFAULT_ADDR, formatLogLine, parseAddr, parseServeArgs, serveRegistry, SERVE_USAGE, type RunningRegistry, type ServeOptions } from './serve.ts';
