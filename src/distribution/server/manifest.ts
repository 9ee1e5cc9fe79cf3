// Manifests a client pushes: Docker schema2 manifests and manifest lists, OCI image manifests
// and indexes. `parseManifest` checks the JSON shape and says what the manifest refers to
// (blobs that must be in the repository, child manifests that must be in it, an optional
// subject that need not exist yet) and what the referrers API reports for it.

import type { Digest } from '../../core/digest.ts';
import { registryError } from './errors.ts';
import { parseRegistryDigest } from './names.ts';

export const MediaType = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

const SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** Content-Types that say nothing about the manifest; the `mediaType` field decides then. */
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

const INDEX_TYPES = new Set<string>([MediaType.dockerManifestList, MediaType.ociIndex]);
const IMAGE_TYPES = new Set<string>([MediaType.dockerManifest, MediaType.ociManifest]);

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ParsedManifest {
  readonly mediaType: string;
  /** Config and layers that must be blobs of the repository (foreign layers with URLs excluded). */
  readonly blobs: readonly Descriptor[];
  /** Children of an index that must be manifests of the repository. */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  /** What the referrers API lists for this manifest. */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A 4 MiB manifest must be accepted (spec); refuse what is far beyond any real one. */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

function invalidManifest(message: string, detail?: unknown): never {
  throw registryError('manifest-invalid', `manifest invalid: ${message}`, detail);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    invalidManifest(`${where} must be a map of strings`);
  }
  return v as Record<string, string>;
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) invalidManifest(`${where} is not a descriptor`);
  const { mediaType, digest, size, urls, artifactType, annotations } = v;
  if (typeof mediaType !== 'string' || mediaType === '') invalidManifest(`${where}.mediaType is missing`);
  if (typeof digest !== 'string') invalidManifest(`${where}.digest is missing`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    invalidManifest(`${where}.size must be a non-negative integer`);
  }
  if (urls !== undefined && (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string'))) {
    invalidManifest(`${where}.urls must be a list of strings`);
  }
  if (artifactType !== undefined && typeof artifactType !== 'string') invalidManifest(`${where}.artifactType must be a string`);
  let parsed: Digest;
  try {
    parsed = parseRegistryDigest(digest);
  } catch {
    invalidManifest(`${where}.digest ${JSON.stringify(digest)} is not a sha256 digest`, { digest });
  }
  return {
    mediaType,
    digest: parsed,
    size,
    ...(urls !== undefined ? { urls: urls as string[] } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations: stringMap(annotations, `${where}.annotations`) } : {}),
  };
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) invalidManifest(`${where} must be a list`);
  return v.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/** The media type without parameters, lower-cased. */
export function bareMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Parse and check a pushed manifest. The type comes from Content-Type, else the `mediaType`
 * field, else the shape (an OCI manifest or index may omit `mediaType`); the two must agree.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    invalidManifest('not valid JSON');
  }
  if (!isObject(doc)) invalidManifest('not a JSON object');
  const header = bareMediaType(contentType);
  const field = doc.mediaType;
  if (field !== undefined && typeof field !== 'string') invalidManifest('mediaType must be a string');

  let mediaType: string;
  if (!GENERIC_TYPES.has(header)) {
    if (field !== undefined && field !== header) {
      invalidManifest(`mediaType ${JSON.stringify(field)} does not match Content-Type ${JSON.stringify(header)}`);
    }
    mediaType = header;
  } else if (field !== undefined) {
    mediaType = field;
  } else if (Array.isArray(doc.manifests)) {
    mediaType = MediaType.ociIndex;
  } else if (isObject(doc.config)) {
    mediaType = MediaType.ociManifest;
  } else {
    invalidManifest('cannot tell the manifest type (no Content-Type and no mediaType)');
  }

  if (SCHEMA1.has(mediaType) || doc.schemaVersion === 1) {
    throw registryError('manifest-unsupported', 'Docker schema1 manifests are not supported', { mediaType });
  }
  if (!IMAGE_TYPES.has(mediaType) && !INDEX_TYPES.has(mediaType)) {
    throw registryError('manifest-unsupported', `unsupported manifest media type ${JSON.stringify(mediaType)}`, { mediaType });
  }
  if (doc.schemaVersion !== 2) invalidManifest('schemaVersion must be 2');
  // Docker's types name themselves; OCI's may leave mediaType out (image-spec: SHOULD).
  if (field === undefined && (mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList)) {
    invalidManifest('a Docker manifest must carry its mediaType');
  }

  const annotations = stringMap(doc.annotations, 'annotations');
  const artifactType = doc.artifactType;
  if (artifactType !== undefined && typeof artifactType !== 'string') invalidManifest('artifactType must be a string');
  const isOci = mediaType === MediaType.ociManifest || mediaType === MediaType.ociIndex;
  const subject = isOci && doc.subject !== undefined ? descriptor(doc.subject, 'subject') : undefined;

  if (IMAGE_TYPES.has(mediaType)) {
    if (doc.manifests !== undefined) invalidManifest('an image manifest has no manifests list');
    const config = descriptor(doc.config, 'config');
    const layers = descriptors(doc.layers ?? [], 'layers');
    return {
      mediaType,
      blobs: [config, ...layers.filter((l) => l.urls === undefined || l.urls.length === 0)],
      manifests: [],
      ...(subject ? { subject } : {}),
      // Referrers: artifactType, else the config's media type (distribution-spec).
      artifactType: typeof artifactType === 'string' && artifactType !== '' ? artifactType : config.mediaType,
      ...(annotations ? { annotations } : {}),
    };
  }
  if (doc.config !== undefined || doc.layers !== undefined) invalidManifest('an index has no config or layers');
  const children = descriptors(doc.manifests, 'manifests');
  return {
    mediaType,
    blobs: [],
    manifests: children,
    ...(subject ? { subject } : {}),
    ...(typeof artifactType === 'string' && artifactType !== '' ? { artifactType } : {}),
    ...(annotations ? { annotations } : {}),
  };
}
