// distribution/client: berth as a registry client. Lifecycle: a Transport (one per daemon:
// connections, TLS, which registries are insecure) -> a RegistrySession per registry and set
// of credentials (ping, challenge, Bearer tokens cached until they expire) -> a Repository per
// repository -> pullImage / pushImage, which report progress events and store through narrow
// ports (PullStore, PushSource, LayerMemory) so that the engine decides where things go.
// Aborting (AbortSignal) stops every transfer; nothing half-made is left behind.

export { parseChallenges, pickChallenge, type Challenge } from './challenge.ts';
export { codeWords, describeEntry, networkError, parseErrorBody, RegistryResponseError, type RegistryErrorEntry } from './errors.ts';
export { compressionOf, decompress, type Compression, type DecompressOptions } from './decompress.ts';
export { FileLayerMemory, InMemoryLayerMemory, type LayerBlob, type LayerMemory } from './layer-memory.ts';
export { checkLogin, registryOfServerAddress, type LoginResult } from './login.ts';
export {
  chooseManifest,
  formatPlatform,
  hostPlatform,
  MANIFEST_ACCEPT,
  MediaType,
  normalizePlatform,
  parseManifest,
  parsePlatform,
  platformMatches,
  type Descriptor,
  type ImageManifest,
  type IndexManifest,
  type Manifest,
  type Platform,
} from './manifest.ts';
export { shortId, type ProgressEvent, type ProgressSink } from './progress.ts';
export { chainIdOf, pullImage, resolveManifest, verified, type PulledImage, type PulledLayer, type PullOptions, type PullRequest, type PullStore } from './pull.ts';
export { pushImage, schema2Manifest, sweepSpool, type PushOptions, type PushResult, type PushSource } from './push.ts';
export { Repository, type FetchedManifest } from './repository.ts';
export { repositoryScope, RegistrySession, TokenCache, type RegistryAuth, type SessionOptions } from './session.ts';
export {
  DEFAULT_CERTS_DIRS,
  DOCKER_HUB_HOST,
  INDEX_SERVER,
  isLoopbackHost,
  Transport,
  type BodySource,
  type RegistryEndpoint,
  type Reply,
  type SendOptions,
  type TransportOptions,
} from './transport.ts';
