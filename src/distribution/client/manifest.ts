// Manifests as registries serve them: Docker schema2 image manifests and manifest lists, OCI
// image manifests and indexes (reference/oci/docker-manifest-v2-2.md, image-spec-manifest.md,
// image-spec-image-index.md); the platform an index entry is for, and which entry to pull.

import { isDigest, type Digest } from '../../core/digest.ts';
import { EngineError, invalid } from '../../core/errors.ts';

export const MediaType = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** What a manifest GET accepts, best first (as Docker's Accept header). */
export const MANIFEST_ACCEPT: readonly string[] = [MediaType.dockerManifest, MediaType.dockerList, MediaType.ociManifest, MediaType.ociIndex];

const LAYER_TYPES = new Set<string>([
  MediaType.dockerLayer,
  MediaType.dockerForeignLayer,
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: Platform;
  readonly urls?: readonly string[];
}

export interface ImageManifest {
  readonly kind: 'image';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export interface IndexManifest {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
}

export type Manifest = ImageManifest | IndexManifest;

function bad(why: string): EngineError {
  return invalid(`invalid manifest: ${why}`, 'manifest-invalid');
}

function descriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null) throw bad(`${where} is not a descriptor`);
  const o = v as Record<string, unknown>;
  if (typeof o.digest !== 'string' || !isDigest(o.digest)) throw bad(`${where} has an unsupported digest ${JSON.stringify(o.digest)}`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(`${where} has no valid size`);
  const p = o.platform as Record<string, unknown> | undefined;
  const platform =
    typeof p === 'object' && p !== null && typeof p.os === 'string' && typeof p.architecture === 'string'
      ? { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' && p.variant !== '' ? { variant: p.variant } : {}) }
      : undefined;
  const urls = Array.isArray(o.urls) ? o.urls.filter((u): u is string => typeof u === 'string') : undefined;
  return {
    mediaType: typeof o.mediaType === 'string' ? o.mediaType : '',
    digest: o.digest,
    size: o.size,
    ...(platform ? { platform } : {}),
    ...(urls && urls.length ? { urls } : {}),
  };
}

/** Parse a manifest or index; `contentType` (the reply's) decides when the body has no mediaType. */
export function parseManifest(bytes: Buffer, contentType?: string): Manifest {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('not JSON');
  }
  if (typeof j !== 'object' || j === null) throw bad('not an object');
  const declared = typeof j.mediaType === 'string' ? j.mediaType : '';
  const header = (contentType ?? '').split(';')[0]?.trim() ?? '';
  if (j.schemaVersion === 1 || declared === MediaType.dockerSchema1 || declared === MediaType.dockerSchema1Signed || header.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw new EngineError(
      'not-implemented',
      'Docker Image manifest version 2, schema 1 is not supported: the image must be pushed again with a newer client',
      { code: 'manifest-unsupported' },
    );
  }
  if (j.schemaVersion !== 2) throw bad(`unsupported schemaVersion ${JSON.stringify(j.schemaVersion)}`);
  const mediaType = declared || header;
  const isIndex = Array.isArray(j.manifests) && !('config' in j);
  if (mediaType === MediaType.dockerList || mediaType === MediaType.ociIndex || (mediaType === '' && isIndex) || (isIndex && !('layers' in j))) {
    if (!Array.isArray(j.manifests)) throw bad('index without manifests');
    return { kind: 'index', mediaType: mediaType || MediaType.ociIndex, manifests: j.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)) };
  }
  if (mediaType !== '' && mediaType !== MediaType.dockerManifest && mediaType !== MediaType.ociManifest) {
    throw new EngineError('not-implemented', `unsupported manifest media type ${mediaType}`, { code: 'manifest-unsupported' });
  }
  if (!Array.isArray(j.layers)) throw bad('image manifest without layers');
  return {
    kind: 'image',
    mediaType: mediaType || MediaType.ociManifest,
    config: descriptor(j.config, 'config'),
    layers: j.layers.map((l, i) => descriptor(l, `layers[${i}]`)),
  };
}

export function isLayerType(mediaType: string): boolean {
  return LAYER_TYPES.has(mediaType) || mediaType === '';
}

/** A layer type whose bytes are gzip (so a Docker schema2 manifest may name the same blob). */
export function isGzipLayerType(mediaType: string): boolean {
  return mediaType === MediaType.dockerLayer || mediaType === MediaType.ociLayerGzip;
}

const ARCH_ALIASES: Readonly<Record<string, string>> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386' };

function normalizeArch(arch: string, variant: string | undefined): { architecture: string; variant?: string } {
  const a = ARCH_ALIASES[arch.toLowerCase()] ?? arch.toLowerCase();
  let v = variant?.toLowerCase();
  if (a === 'arm64' && (v === undefined || v === '8')) v = 'v8';
  if (a === 'arm' && v !== undefined && /^\d$/.test(v)) v = `v${v}`;
  if (a === 'amd64' && v === 'v1') v = undefined;
  return { architecture: a, ...(v ? { variant: v } : {}) };
}

export function normalizePlatform(p: Platform): Platform {
  return { os: p.os.toLowerCase(), ...normalizeArch(p.architecture, p.variant) };
}

/** `linux`, `linux/amd64`, `linux/arm64/v8`, `amd64`. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().split('/');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalid(`"${s}": unknown operating system or architecture: invalid argument`);
  const [a = '', b, c] = parts;
  if (parts.length === 1) {
    if (a.toLowerCase() === 'linux') return normalizePlatform({ os: 'linux', architecture: defaultArch() });
    return normalizePlatform({ os: 'linux', architecture: a });
  }
  return normalizePlatform({ os: a, architecture: b ?? '', ...(c ? { variant: c } : {}) });
}

function defaultArch(): string {
  return { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }[process.arch as string] ?? process.arch;
}

/** The platform of this host: linux/amd64 on the machines berth targets. */
export function hostPlatform(): Platform {
  return normalizePlatform({ os: 'linux', architecture: defaultArch() });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  return w.variant === undefined || h.variant === undefined || w.variant === h.variant;
}

/** The index entry for `want` (an exact variant match preferred), or undefined. */
export function chooseManifest(index: IndexManifest, want: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter((m) => m.platform !== undefined && platformMatches(want, m.platform));
  const w = normalizePlatform(want);
  return candidates.find((m) => m.platform !== undefined && normalizePlatform(m.platform).variant === w.variant) ?? candidates[0];
}
