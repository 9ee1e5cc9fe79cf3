// Image archives: `save` writes images as one tar in the `docker save` format, `load` reads such
// a tar (any Docker version's) or a plain OCI image layout back into the stores.
//
// What save writes: Docker 20.10's layout and, over the same blobs, an OCI image layout (as
// Docker 25+ does), so that `docker load` of any version and OCI tools all read it:
//
//   blobs/sha256/<hex>        each layer once (uncompressed: its digest is its diff ID), each
//                             config and each image's OCI manifest: the only copy of the data
//   manifest.json             [{Config, RepoTags, Layers}], paths into blobs/ as Docker 25+
//                             writes them: every docker load since 1.10 opens the paths it
//                             names, and readers that do not extract the tar (containers/image,
//                             so skopeo and podman) take a layer's size from the header at that
//                             path, which must therefore be the file itself, never a symlink
//   repositories              {"busybox": {"latest": "<top v1 id>"}}, when anything is tagged
//   <v1-id>/VERSION, json     the legacy layer directories (ids as Docker derives them), and
//   <v1-id>/layer.tar         -> ../blobs/sha256/<diff ID hex> (a symlink: data written once)
//   <config-hex>.json         the config under its legacy name (a copy: it is small)
//   index.json, oci-layout    a descriptor per tag, annotated as Docker 25+ does
//                             (io.containerd.image.name, org.opencontainers.image.ref.name)
//
// The `oci` format is the OCI image layout alone (blobs/, index.json, oci-layout).
//
// Lifecycle of a load: the input tar is read as a stream into a private directory under the
// data root (regular files only, each under a numbered name and hashed as written; symlinks and
// hardlinks are kept as names and resolved inside the archive, never on disk; a name that
// climbs out of the archive is refused) -> the images are planned from manifest.json (docker
// save, legacy or Docker 25+) or else index.json (OCI layout: nested indexes resolved to this
// host's platform); every named blob is checked against its digest and size, and every layer is
// read once as a tar, checked against the config's diff ID and refused if an entry would land
// outside the layer -> only then are layers written to the content store (uncompressed) and
// applied as snapshots -> image records and tags are added last, and taken back if adding one
// fails: a load that fails leaves no image record and no tag. The private directory is always
// removed; ones a crashed daemon left behind are swept by the next load.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type Digest, digestHex, isDigest, parseDigest, sha256Digest } from '../core/digest.ts';
import { EngineError, errnoOf, invalid, isEngineError, systemError } from '../core/errors.ts';
import { canonicalString, familiarName, familiarString, parseReference, type Reference } from '../core/reference.ts';
import { chainIdOf, encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from '../snapshots/index.ts';
import { cleanEntryPath } from '../snapshots/safe-path.ts';
import { readTar } from '../snapshots/tar-reader.ts';
import type { ImageConfig, ImageRecord, LayerInfo } from './types.ts';

// ------------------------------------------------------------------------------ formats

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';
const IMAGE_NAME = 'io.containerd.image.name';
const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

/** Metadata files (manifest.json, index.json, configs, manifests) are read whole: this is their limit. */
const MAX_JSON = 32 * 1024 * 1024;
/** Layer progress is reported each time this many more bytes were read (as moby's progress reader). */
const PROGRESS_EVERY = 512 * 1024;
const CHUNK = 64 * 1024;

interface Descriptor {
  readonly mediaType?: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string };
  readonly annotations?: Readonly<Record<string, string>>;
}

// -------------------------------------------------------------------------------- save

/** What save reads of the image records. */
export interface ImageLookup {
  resolve(nameOrId: string): ImageRecord;
  list(): ImageRecord[];
  tagsOf(id: Digest): Reference[];
}

/** What save reads of the content store; `statBlob`, when there, spares a read of each layer. */
export interface BlobReader {
  readBlob(digest: Digest): Promise<Buffer>;
  openBlob(digest: Digest): Promise<Readable>;
  statBlob?(digest: Digest): Promise<{ readonly size: number }>;
}

export interface SaveOptions {
  /** `docker` (default): docker save's layout plus an OCI layout; `oci`: the OCI layout alone. */
  readonly format?: 'docker' | 'oci';
  readonly signal?: AbortSignal;
}

export interface SelectedImage {
  readonly record: ImageRecord;
  /** The tags saved with it (RepoTags), in the order asked for. */
  readonly tags: readonly Reference[];
}

const isImageId = (s: string): boolean => /^(sha256:)?[a-f0-9]{64}$/.test(s);
/** A name with an explicit tag or digest (`busybox:1`, `x@sha256:…`), as opposed to a repository. */
const hasTagOrDigest = (s: string): boolean => s.includes('@') || /:[^/]*$/.test(s);

/**
 * The images `names` select, as moby's tarexport parseNames: an ID saves the image without
 * tags; `repo:tag` saves it with that tag; a bare repository saves every tag of it (or, when it
 * has none, the image it names as an ID prefix); a digest reference saves the image untagged.
 */
export function selectImages(images: ImageLookup, names: readonly string[]): SelectedImage[] {
  const out = new Map<Digest, { record: ImageRecord; tags: Reference[] }>();
  const add = (record: ImageRecord, ref?: Reference): void => {
    let e = out.get(record.id);
    if (e === undefined) {
      e = { record, tags: [] };
      out.set(record.id, e);
    }
    if (ref?.tag === undefined || ref.digest !== undefined) return;
    const key = canonicalString(ref);
    if (!e.tags.some((t) => canonicalString(t) === key)) e.tags.push({ domain: ref.domain, path: ref.path, tag: ref.tag });
  };
  for (const name of names) {
    if (isImageId(name)) {
      add(images.resolve(name));
      continue;
    }
    const ref = parseReference(name);
    if (ref.digest !== undefined) {
      add(images.resolve(name));
    } else if (!hasTagOrDigest(name)) {
      let found = false;
      for (const rec of images.list()) {
        for (const t of images.tagsOf(rec.id)) {
          if (t.domain === ref.domain && t.path === ref.path && t.tag !== undefined) {
            add(rec, t);
            found = true;
          }
        }
      }
      if (!found) add(images.resolve(name));
    } else {
      add(images.resolve(name), ref);
    }
  }
  return [...out.values()];
}

/** moby's v1.CreateID: the digest of a legacy v1 image JSON with its layer's chain ID and parent. */
function legacyId(v1: Record<string, unknown>, chainId: Digest, parent: Digest | undefined): Digest {
  const o: Record<string, unknown> = { ...v1, layer_id: chainId };
  delete o.id;
  if (parent !== undefined) o.parent = parent;
  return sha256Digest(JSON.stringify(sortKeys(o)));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}

/** The empty container_config Docker writes in the json of a layer below the top one. */
const EMPTY_CONTAINER_CONFIG = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: '',
  Volumes: null,
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

interface LegacyLayer {
  /** The v1 id (hex): the name of the layer's directory. */
  readonly id: string;
  readonly diffId: Digest;
  /** The directory's `json`. */
  readonly json: Buffer;
}

/** The legacy layer directories of an image, bottom first, as moby's saveImage derives them. */
function legacyLayers(rec: ImageRecord): LegacyLayer[] {
  const out: LegacyLayer[] = [];
  let parent: Digest | undefined;
  let chain: Digest | null = null;
  for (const [i, l] of rec.layers.entries()) {
    chain = chainIdOf(chain, l.diffId);
    const top = i === rec.layers.length - 1;
    const c = rec.config;
    const v1: Record<string, unknown> = top
      ? {
          created: c.created ?? rec.created,
          ...(c.author ? { author: c.author } : {}),
          container_config: EMPTY_CONTAINER_CONFIG,
          config: c.config ?? {},
          architecture: c.architecture,
          ...((c as { variant?: string }).variant ? { variant: (c as { variant?: string }).variant } : {}),
          os: c.os,
        }
      : { created: '1970-01-01T00:00:00Z', container_config: EMPTY_CONTAINER_CONFIG, os: c.os };
    const id = legacyId(v1, chain, parent);
    const json = { id: digestHex(id), ...(parent ? { parent: digestHex(parent) } : {}), ...v1 };
    out.push({ id: digestHex(id), diffId: l.diffId, json: Buffer.from(JSON.stringify(json)) });
    parent = id;
  }
  return out;
}

async function blobSize(blobs: BlobReader, digest: Digest, signal: AbortSignal | undefined): Promise<number> {
  if (typeof blobs.statBlob === 'function') return (await blobs.statBlob(digest)).size;
  const s = await blobs.openBlob(digest);
  let n = 0;
  try {
    for await (const c of s as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      n += c.length;
    }
  } finally {
    s.destroy();
  }
  return n;
}

/** One entry of the archive being written. */
type OutEntry =
  | { readonly kind: 'dir'; readonly name: string }
  | { readonly kind: 'data'; readonly name: string; readonly data: Buffer }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: Digest; readonly size: number }
  | { readonly kind: 'symlink'; readonly name: string; readonly target: string };

const blobPath = (d: Digest): string => `blobs/sha256/${digestHex(d)}`;

function header(name: string, type: TarWriteHeader['type'], size = 0, linkname?: string): Buffer {
  return encodeHeader({ name, type, mode: type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644, uid: 0, gid: 0, size, mtime: 0, ...(linkname !== undefined ? { linkname } : {}) });
}

/**
 * A tar of the images `names` select (see selectImages), in `docker save`'s format. Names are
 * resolved and sizes read before this returns (a missing image is an error here, not in the
 * stream); blobs are streamed from the content store as the tar is read.
 */
export async function saveImages(deps: { readonly images: ImageLookup; readonly blobs: BlobReader }, names: readonly string[], opts: SaveOptions = {}): Promise<Readable> {
  const { signal } = opts;
  const docker = (opts.format ?? 'docker') === 'docker';
  const selected = selectImages(deps.images, names);

  const entries: OutEntry[] = [{ kind: 'dir', name: 'blobs' }, { kind: 'dir', name: 'blobs/sha256' }];
  const written = new Set<string>();
  const sizes = new Map<Digest, number>();
  for (const { record } of selected) {
    for (const l of record.layers) {
      if (sizes.has(l.diffId)) continue;
      signal?.throwIfAborted();
      const size = await blobSize(deps.blobs, l.diffId, signal);
      sizes.set(l.diffId, size);
      entries.push({ kind: 'blob', name: blobPath(l.diffId), digest: l.diffId, size });
      written.add(blobPath(l.diffId));
    }
  }

  const descriptors: Descriptor[] = [];
  const manifestJson: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const legacyDirs = new Set<string>();
  const legacy: OutEntry[] = [];
  for (const { record, tags } of selected) {
    const raw = await deps.blobs.readBlob(record.id);
    if (!written.has(blobPath(record.id))) {
      entries.push({ kind: 'data', name: blobPath(record.id), data: raw });
      written.add(blobPath(record.id));
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: record.id, size: raw.length },
        layers: record.layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.diffId, size: sizes.get(l.diffId) ?? 0 })),
      }),
    );
    const manifestDigest = sha256Digest(manifest);
    if (!written.has(blobPath(manifestDigest))) {
      entries.push({ kind: 'data', name: blobPath(manifestDigest), data: manifest });
      written.add(blobPath(manifestDigest));
    }
    const variant = (record.config as { variant?: string }).variant;
    const platform = { architecture: record.config.architecture, os: record.config.os, ...(variant ? { variant } : {}) };
    const base = { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifest.length, platform };
    if (tags.length === 0) descriptors.push(base);
    for (const t of tags) descriptors.push({ ...base, annotations: { [IMAGE_NAME]: canonicalString(t), [REF_NAME]: t.tag ?? 'latest' } });

    if (!docker) continue;
    const layers = legacyLayers(record);
    for (const l of layers) {
      if (legacyDirs.has(l.id)) continue;
      legacyDirs.add(l.id);
      legacy.push(
        { kind: 'dir', name: l.id },
        { kind: 'data', name: `${l.id}/VERSION`, data: Buffer.from('1.0') },
        { kind: 'data', name: `${l.id}/json`, data: l.json },
        { kind: 'symlink', name: `${l.id}/layer.tar`, target: `../${blobPath(l.diffId)}` },
      );
    }
    const configName = `${digestHex(record.id)}.json`;
    if (!legacyDirs.has(configName)) {
      legacyDirs.add(configName);
      legacy.push({ kind: 'data', name: configName, data: raw });
    }
    manifestJson.push({ Config: blobPath(record.id), RepoTags: tags.length ? tags.map(familiarString) : null, Layers: record.layers.map((l) => blobPath(l.diffId)) });
    const top = layers[layers.length - 1];
    for (const t of tags) {
      if (top === undefined || t.tag === undefined) continue;
      (repositories[familiarName(t)] ??= {})[t.tag] = top.id;
    }
  }
  entries.push(...legacy);
  if (docker) {
    entries.push({ kind: 'data', name: 'manifest.json', data: Buffer.from(`${JSON.stringify(manifestJson)}\n`) });
    if (Object.keys(repositories).length > 0) entries.push({ kind: 'data', name: 'repositories', data: Buffer.from(`${JSON.stringify(repositories)}\n`) });
  }
  entries.push(
    { kind: 'data', name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors })) },
    { kind: 'data', name: 'oci-layout', data: Buffer.from(OCI_LAYOUT) },
  );

  const blobs = deps.blobs;
  async function* generate(): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [];
    let pendingSize = 0;
    const flush = (): Buffer => {
      const b = Buffer.concat(pending, pendingSize);
      pending = [];
      pendingSize = 0;
      return b;
    };
    const add = (b: Buffer): boolean => {
      pending.push(b);
      pendingSize += b.length;
      return pendingSize >= CHUNK;
    };
    for (const e of entries) {
      signal?.throwIfAborted();
      let full = false;
      switch (e.kind) {
        case 'dir':
          full = add(header(e.name, 'directory'));
          break;
        case 'symlink':
          full = add(header(e.name, 'symlink', 0, e.target));
          break;
        case 'data':
          add(header(e.name, 'file', e.data.length));
          add(e.data);
          full = add(paddingFor(e.data.length));
          break;
        case 'blob': {
          add(header(e.name, 'file', e.size));
          yield flush();
          const s = await blobs.openBlob(e.digest);
          let n = 0;
          try {
            for await (const c of s as AsyncIterable<Buffer>) {
              n += c.length;
              if (n > e.size) break;
              yield c;
            }
          } finally {
            s.destroy();
          }
          if (n !== e.size) throw systemError(`blob ${e.digest} changed size while being saved (${e.size} bytes expected)`);
          full = add(paddingFor(e.size));
          break;
        }
      }
      if (full) yield flush();
    }
    add(END_OF_ARCHIVE);
    yield flush();
  }
  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: CHUNK });
  return signal === undefined ? stream : addAbortSignal(signal, stream);
}

// -------------------------------------------------------------------------------- load

/** What load needs of the image records. */
export interface ImageWriter {
  tryResolve(nameOrId: string): ImageRecord | undefined;
  add(config: ImageConfig, layers: LayerInfo[], parent?: Digest, opts?: { raw?: Buffer }): Promise<ImageRecord>;
  tag(id: Digest, target: string): Promise<void>;
  untag(ref: Reference): Promise<void>;
  delete(id: Digest): Promise<void>;
}

export interface BlobWriter {
  writeBlob(data: Readable | Buffer, opts?: { expected?: Digest; signal?: AbortSignal }): Promise<{ digest: Digest; size: number }>;
}

export interface LayerApplier {
  applyLayer(tar: Readable, opts: { parentChainId?: Digest; diffId?: Digest; signal?: AbortSignal }): Promise<{ chainId: Digest; diffId: Digest; size: number }>;
}

export interface LoadDeps {
  readonly images: ImageWriter;
  readonly blobs: BlobWriter;
  readonly layers: LayerApplier;
  /** A directory on the data root's filesystem for the temporary extraction (made if missing). */
  readonly tmpRoot: string;
}

export type LoadEvent =
  /** Bytes of a layer's file read while it is applied (`total` is the file's size). */
  | { readonly type: 'layer'; readonly diffId: Digest; readonly current: number; readonly total: number }
  /** A tag moved from another image to a loaded one (Docker: "renaming the old one … to empty string"). */
  | { readonly type: 'replaced'; readonly reference: string; readonly previous: Digest }
  /** An image is loaded: once per tag (familiar reference), or once with its ID when untagged. */
  | { readonly type: 'loaded'; readonly id: Digest; readonly reference?: string };

export interface LoadOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: LoadEvent) => void;
}

export interface LoadResult {
  /** As Docker reports them: each tag loaded (`busybox:latest`), or the ID of an untagged image. */
  readonly loaded: string[];
  readonly images: { readonly id: Digest; readonly tags: string[] }[];
}

/** A regular file of the archive, stored under a numbered name in the private directory. */
interface ArchiveFile {
  readonly path: string;
  readonly size: number;
  readonly digest: Digest;
  /** Its first bytes (compression magic). */
  readonly head: Buffer;
}

interface PlannedLayer {
  readonly file: ArchiveFile;
  readonly diffId: Digest;
  readonly index: number;
}

interface PlannedImage {
  readonly id: Digest;
  readonly raw: Buffer;
  readonly config: ImageConfig;
  readonly layers: readonly PlannedLayer[];
  readonly tags: Reference[];
}

const archiveError = (message: string): EngineError => invalid(`invalid archive: ${message}`, 'invalid-archive');
const q = (s: string): string => JSON.stringify(s);

/** Components of an entry name in the archive; a relative name that climbs out is refused (as go-archive's breakout check). */
function archiveComponents(name: string): string[] {
  const out: string[] = [];
  const absolute = name.startsWith('/');
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0) out.pop();
      else if (!absolute) throw archiveError(`${q(name)} is outside of the archive`);
      continue;
    }
    if (part.includes('\0')) throw archiveError(`bad name ${q(name)}`);
    out.push(part);
  }
  return out;
}

/** The names of the archive: files, and symlinks resolved inside it (an absolute target from its root). */
class ArchiveTree {
  readonly files = new Map<string, ArchiveFile>();
  readonly symlinks = new Map<string, string>();

  /** The file `name` leads to, following symlinks inside the archive ("/.." stays at its root). */
  lookup(name: string): ArchiveFile | undefined {
    let pending = name.split('/');
    const out: string[] = [];
    let hops = 0;
    for (;;) {
      const part = pending.shift();
      if (part === undefined) break;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        out.pop();
        continue;
      }
      out.push(part);
      const target = this.symlinks.get(out.join('/'));
      if (target === undefined) continue;
      if (++hops > 40) throw archiveError(`too many levels of symbolic links at ${q(name)}`);
      out.pop();
      if (target.startsWith('/')) out.length = 0;
      pending = [...target.split('/'), ...pending];
    }
    return this.files.get(out.join('/'));
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }
}

const toBuffer = (c: Uint8Array): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));

function compressionOf(head: Buffer): string | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  return undefined;
}

/**
 * The bytes of `input`, gunzipped when they start with the gzip magic; other compressions are
 * refused. The caller owns `input`: it is not closed when this stops early.
 */
async function* plainBytes(input: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < 6) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const b = toBuffer(r.value);
    head.push(b);
    headLen += b.length;
  }
  const first = Buffer.concat(head);
  async function* rest(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield toBuffer(r.value);
    }
  }
  const kind = compressionOf(first);
  if (kind === undefined) {
    yield* rest();
    return;
  }
  if (kind !== 'gzip') throw new EngineError('not-implemented', `${kind}-compressed ${what}s are not supported${what === 'archive' ? ': decompress the archive first' : ''}`);
  const source = Readable.from(rest(), { objectMode: false });
  const gunzip = createGunzip();
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  try {
    for await (const c of gunzip as AsyncIterable<Buffer>) yield c;
  } catch (e) {
    if (errnoOf(e)?.startsWith('Z_') === true) throw invalid(`invalid ${what}: bad gzip data: ${(e as Error).message}`, `invalid-${what}`);
    throw e;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

/** An error of our tar reader about the archive itself, worded for the archive rather than a layer. */
function asArchiveError(e: unknown): unknown {
  if (isEngineError(e) && e.code === 'invalid-layer') return archiveError(e.message.replace(/^invalid layer: /, ''));
  return e;
}

/** Read the input tar into `dir`: each regular file under a numbered name, hashed as written. */
async function readArchive(input: AsyncIterable<Uint8Array>, dir: string, signal: AbortSignal | undefined): Promise<ArchiveTree> {
  const tree = new ArchiveTree();
  let n = 0;
  try {
    for await (const entry of readTar(plainBytes(input, 'archive'))) {
      signal?.throwIfAborted();
      const h = entry.header;
      const name = archiveComponents(h.name).join('/');
      switch (h.type) {
        case 'file': {
          if (name === '') throw archiveError(`file entry ${q(h.name)} at the archive root`);
          const file = await storeFile(entry.body, join(dir, String(n++)), signal);
          tree.symlinks.delete(name);
          tree.files.set(name, file);
          break;
        }
        case 'symlink':
          if (name === '') throw archiveError(`symlink entry ${q(h.name)} at the archive root`);
          tree.files.delete(name);
          tree.symlinks.set(name, h.linkname);
          break;
        case 'link': {
          const target = tree.lookup(archiveComponents(h.linkname).join('/'));
          if (target === undefined) throw archiveError(`hardlink ${q(h.name)} to ${q(h.linkname)}, which is not a file of the archive`);
          tree.symlinks.delete(name);
          tree.files.set(name, target);
          break;
        }
        default:
          break; // directories and device nodes carry nothing a load needs
      }
    }
  } catch (e) {
    throw asArchiveError(e);
  }
  return tree;
}

async function storeFile(body: AsyncIterable<Buffer>, path: string, signal: AbortSignal | undefined): Promise<ArchiveFile> {
  const fh = await open(path, 'wx', 0o600);
  const hash = createHash('sha256');
  const head: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      signal?.throwIfAborted();
      hash.update(c);
      if (size < 8) head.push(c.subarray(0, 8 - size));
      size += c.length;
      let off = 0;
      while (off < c.length) off += (await fh.write(c, off, c.length - off)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}` as Digest, head: Buffer.concat(head) };
}

async function readJsonFile(file: ArchiveFile, what: string): Promise<unknown> {
  if (file.size > MAX_JSON) throw archiveError(`${what} is too large (${file.size} bytes)`);
  return parseJson(await readFile(file.path), what);
}

function parseJson(raw: Buffer, what: string): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (e) {
    throw archiveError(`${what}: ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A config's diff IDs, checked. */
function parseConfig(raw: Buffer, what: string): ImageConfig {
  const c = parseJson(raw, what);
  if (!isObject(c)) throw archiveError(`${what} is not an image config`);
  const rootfs = c.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) throw archiveError(`${what} has no rootfs.diff_ids`);
  for (const d of rootfs.diff_ids) if (typeof d !== 'string' || !isDigest(d)) throw archiveError(`${what} has a bad diff ID ${q(String(d))}`);
  if (typeof c.os === 'string' && c.os !== 'linux') throw invalid(`cannot load ${c.os} image on linux`);
  return c as unknown as ImageConfig;
}

/** A tag to give a loaded image; a reference with a digest or without a tag is refused. */
function parseTag(s: string): Reference {
  let ref: Reference;
  try {
    ref = parseReference(s);
  } catch {
    throw archiveError(`invalid reference ${q(s)}`);
  }
  if (ref.digest !== undefined || !hasTagOrDigest(s)) throw archiveError(`invalid tag ${q(s)}`);
  return ref;
}

/** A blob named by its digest (`blobs/sha256/<hex>`, `<hex>.json`) must have that digest. */
function checkNamedDigest(name: string, file: ArchiveFile): void {
  const m = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(name) ?? /^([a-f0-9]{64})\.json$/.exec(name);
  if (m === null) return;
  if (file.digest !== `sha256:${m[1]}`) throw archiveError(`digest mismatch for ${name}: got ${file.digest}`);
}

function required(tree: ArchiveTree, name: string, what: string): ArchiveFile {
  const f = tree.lookup(name);
  if (f === undefined) throw archiveError(`${what} ${q(name)} not found in the archive`);
  checkNamedDigest(name, f);
  return f;
}

/** The images of a `docker save` archive (manifest.json: Docker 1.10 and later, Docker 25+'s included). */
async function planDocker(tree: ArchiveTree, manifest: ArchiveFile): Promise<PlannedImage[]> {
  const items = await readJsonFile(manifest, 'manifest.json');
  if (!Array.isArray(items)) throw archiveError('invalid manifest, manifest cannot be null (but can be [])');
  const out: PlannedImage[] = [];
  for (const item of items) {
    if (!isObject(item) || typeof item.Config !== 'string' || !Array.isArray(item.Layers) || !item.Layers.every((l) => typeof l === 'string')) {
      throw archiveError('manifest.json: an entry lacks Config or Layers');
    }
    const repoTags = item.RepoTags ?? [];
    if (!Array.isArray(repoTags) || !repoTags.every((t) => typeof t === 'string')) throw archiveError('manifest.json: RepoTags is not a list of strings');
    const configFile = required(tree, item.Config, 'config');
    if (configFile.size > MAX_JSON) throw archiveError(`config ${q(item.Config)} is too large`);
    const raw = await readFile(configFile.path);
    const config = parseConfig(raw, item.Config);
    const layerNames = item.Layers as string[];
    if (layerNames.length !== config.rootfs.diff_ids.length) {
      throw archiveError(`invalid manifest, layers length mismatch: expected ${layerNames.length}, got ${config.rootfs.diff_ids.length}`);
    }
    const layers = layerNames.map((name, index) => ({ file: required(tree, name, 'layer'), diffId: parseDigest(config.rootfs.diff_ids[index] ?? ''), index }));
    out.push({ id: configFile.digest, raw, config, layers, tags: (repoTags as string[]).map(parseTag) });
  }
  return out;
}

function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v) || typeof v.digest !== 'string' || !isDigest(v.digest) || typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw archiveError(`${what}: bad descriptor`);
  }
  if (v.mediaType !== undefined && typeof v.mediaType !== 'string') throw archiveError(`${what}: bad media type`);
  return v as unknown as Descriptor;
}

/** The blob a descriptor names in an OCI layout, checked against its digest and size. */
function blobOf(tree: ArchiveTree, d: Descriptor): ArchiveFile {
  const name = blobPath(d.digest);
  const f = tree.lookup(name);
  if (f === undefined) throw archiveError(`blob ${d.digest} not found in the archive`);
  if (f.digest !== d.digest) throw archiveError(`digest mismatch for ${name}: got ${f.digest}`);
  if (f.size !== d.size) throw archiveError(`size mismatch for ${name}: expected ${d.size} bytes, got ${f.size}`);
  return f;
}

const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
const hostArch = (): string => GOARCH[process.arch] ?? process.arch;

/** The entry of an image index for this host (linux/<arch>); the only entry when none says its platform. */
function pickPlatform(manifests: Descriptor[], what: string): Descriptor {
  const arch = hostArch();
  const match = manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (match !== undefined) return match;
  const first = manifests[0];
  if (manifests.length === 1 && first !== undefined && first.platform === undefined) return first;
  throw new EngineError('not-found', `${what}: no image for platform linux/${arch}`, { code: 'platform-not-found' });
}

/** The tag an index.json entry names: io.containerd.image.name, or a ref.name that is a full reference. */
function tagOfDescriptor(d: Descriptor): Reference | undefined {
  const full = d.annotations?.[IMAGE_NAME];
  if (full !== undefined && full !== '') return parseTag(full);
  const name = d.annotations?.[REF_NAME];
  // A bare ref.name ("latest", "v1.0") is a tag without a repository: the image stays untagged.
  if (name !== undefined && /[:/]/.test(name)) return parseTag(name);
  return undefined;
}

/** The images of a plain OCI image layout (index.json). */
async function planOci(tree: ArchiveTree, indexFile: ArchiveFile): Promise<PlannedImage[]> {
  const layout = tree.lookup('oci-layout');
  if (layout !== undefined) {
    const l = await readJsonFile(layout, 'oci-layout');
    if (!isObject(l) || typeof l.imageLayoutVersion !== 'string') throw archiveError('oci-layout has no imageLayoutVersion');
  }
  const index = await readJsonFile(indexFile, 'index.json');
  if (!isObject(index) || !Array.isArray(index.manifests)) throw archiveError('index.json has no manifests');
  const byId = new Map<Digest, PlannedImage>();
  for (const [i, m] of index.manifests.entries()) {
    const d = parseDescriptor(m, `index.json manifests[${i}]`);
    const img = await imageOf(tree, d, 0);
    if (img === undefined) continue;
    let planned = byId.get(img.id);
    if (planned === undefined) {
      planned = img;
      byId.set(img.id, img);
    }
    const tag = tagOfDescriptor(d);
    if (tag !== undefined && !planned.tags.some((t) => canonicalString(t) === canonicalString(tag))) planned.tags.push(tag);
  }
  return [...byId.values()];
}

/** The image a descriptor leads to (through nested indexes); undefined for what is not an image. */
async function imageOf(tree: ArchiveTree, d: Descriptor, depth: number): Promise<PlannedImage | undefined> {
  if (depth > 4) throw archiveError('image indexes nested too deep');
  const file = blobOf(tree, d);
  const what = `manifest ${d.digest}`;
  const doc = await readJsonFile(file, what);
  if (!isObject(doc)) throw archiveError(`${what} is not a JSON object`);
  const mediaType = d.mediaType ?? (typeof doc.mediaType === 'string' ? doc.mediaType : Array.isArray(doc.manifests) ? OCI_INDEX : isObject(doc.config) ? OCI_MANIFEST : '');
  if (mediaType === OCI_INDEX || mediaType === DOCKER_LIST) {
    if (!Array.isArray(doc.manifests)) throw archiveError(`${what}: an index without manifests`);
    const entries = doc.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`));
    return imageOf(tree, pickPlatform(entries, what), depth + 1);
  }
  if (mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST) return undefined; // unknown media types are skipped, as the layout spec asks
  const configDesc = parseDescriptor(doc.config, `${what} config`);
  if (configDesc.mediaType !== undefined && configDesc.mediaType !== OCI_CONFIG && configDesc.mediaType !== DOCKER_CONFIG) return undefined; // an artifact
  if (!Array.isArray(doc.layers)) throw archiveError(`${what} has no layers`);
  const layerDescs = doc.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  const configFile = blobOf(tree, configDesc);
  if (configFile.size > MAX_JSON) throw archiveError(`config ${configDesc.digest} is too large`);
  const raw = await readFile(configFile.path);
  const config = parseConfig(raw, `config ${configDesc.digest}`);
  if (layerDescs.length !== config.rootfs.diff_ids.length) {
    throw archiveError(`invalid manifest, layers length mismatch: expected ${layerDescs.length}, got ${config.rootfs.diff_ids.length}`);
  }
  const layers = layerDescs.map((l, index) => ({ file: blobOf(tree, l), diffId: parseDigest(config.rootfs.diff_ids[index] ?? ''), index }));
  return { id: configFile.digest, raw, config, layers, tags: [] };
}

/**
 * Read a layer file once as a tar: its uncompressed digest must be its diff ID, and no entry
 * (nor hardlink target) may climb out of the layer. Applying it would refuse both, but only
 * after the layers below it were applied.
 */
async function checkLayer(layer: PlannedLayer, signal: AbortSignal | undefined): Promise<void> {
  const { file, diffId } = layer;
  const bad = (got: Digest): EngineError => invalid(`invalid diffID for layer ${layer.index}: expected ${q(diffId)}, got ${q(got)}`, 'diff-id-mismatch');
  if (compressionOf(file.head) === undefined && file.digest !== diffId) throw bad(file.digest);
  const hash = createHash('sha256');
  const input = createReadStream(file.path);
  try {
    const hashed = (async function* () {
      for await (const c of plainBytes(input, 'layer')) {
        signal?.throwIfAborted();
        hash.update(c);
        yield c;
      }
    })();
    for await (const entry of readTar(hashed)) {
      cleanEntryPath(entry.header.name);
      if (entry.header.type === 'link') cleanEntryPath(entry.header.linkname, 'hardlink target');
    }
  } finally {
    input.destroy();
  }
  const got = `sha256:${hash.digest('hex')}` as Digest;
  if (got !== diffId) throw bad(got);
}

/** The layer's file as a stream, reporting progress as it is read. */
function progressStream(layer: PlannedLayer, emit: (e: LoadEvent) => void): Readable {
  const total = layer.file.size;
  const input = createReadStream(layer.file.path, { highWaterMark: CHUNK });
  let current = 0;
  let reported = 0;
  emit({ type: 'layer', diffId: layer.diffId, current: 0, total });
  const counted = (async function* () {
    try {
      for await (const c of input as AsyncIterable<Buffer>) {
        current += c.length;
        if (current - reported >= PROGRESS_EVERY || current === total) {
          reported = current;
          emit({ type: 'layer', diffId: layer.diffId, current, total });
        }
        yield c;
      }
    } finally {
      input.destroy();
    }
  })();
  return Readable.from(counted, { objectMode: false });
}

/** Remove private directories that loads of a daemon no longer running left behind. */
async function sweepStale(tmpRoot: string): Promise<void> {
  for (const name of await readdir(tmpRoot).catch(() => [] as string[])) {
    const m = /^load-(\d+)-[a-f0-9]+$/.exec(name);
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    await rm(join(tmpRoot, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}

/**
 * Load the images of a `docker save` archive or an OCI image layout (as a tar, plain or gzip).
 * The caller owns `input` (an HTTP request body can still be drained after a failure).
 */
export async function loadImages(deps: LoadDeps, input: AsyncIterable<Uint8Array>, opts: LoadOptions = {}): Promise<LoadResult> {
  const { signal } = opts;
  const emit = (e: LoadEvent): void => opts.onProgress?.(e);
  await mkdir(deps.tmpRoot, { recursive: true, mode: 0o700 });
  await sweepStale(deps.tmpRoot);
  const dir = join(deps.tmpRoot, `load-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { mode: 0o700 });
  try {
    const tree = await readArchive(input, dir, signal);
    const manifest = tree.lookup('manifest.json');
    const index = tree.lookup('index.json');
    let plan: PlannedImage[];
    if (manifest !== undefined) plan = await planDocker(tree, manifest);
    else if (index !== undefined) plan = await planOci(tree, index);
    else throw archiveError('no manifest.json (docker save) or index.json (OCI image layout) found');
    plan = mergeDuplicates(plan);

    // Check everything before writing anything.
    const checked = new Set<string>();
    for (const img of plan) {
      for (const l of img.layers) {
        const key = `${l.file.path} ${l.diffId}`;
        if (checked.has(key)) continue;
        await checkLayer(l, signal);
        checked.add(key);
      }
    }

    // Layers: the content store (uncompressed, under the diff ID), then a snapshot.
    const applied = new Map<Digest, LayerInfo>();
    const stacks: LayerInfo[][] = [];
    for (const img of plan) {
      const stack: LayerInfo[] = [];
      let parent: Digest | undefined;
      for (const l of img.layers) {
        const chainId = chainIdOf(parent ?? null, l.diffId);
        let info = applied.get(chainId);
        if (info === undefined) {
          signal?.throwIfAborted();
          const src = createReadStream(l.file.path, { highWaterMark: CHUNK });
          try {
            await deps.blobs.writeBlob(Readable.from(plainBytes(src, 'layer'), { objectMode: false }), { expected: l.diffId, ...(signal ? { signal } : {}) });
          } finally {
            src.destroy();
          }
          const r = await deps.layers.applyLayer(progressStream(l, emit), { ...(parent ? { parentChainId: parent } : {}), diffId: l.diffId, ...(signal ? { signal } : {}) });
          if (r.diffId !== l.diffId) throw invalid(`invalid diffID for layer ${l.index}: expected ${q(l.diffId)}, got ${q(r.diffId)}`, 'diff-id-mismatch');
          info = { diffId: r.diffId, chainId: r.chainId, size: r.size };
          applied.set(chainId, info);
        }
        stack.push(info);
        parent = info.chainId;
      }
      stacks.push(stack);
    }
    signal?.throwIfAborted();
    return await commit(deps.images, plan, stacks, emit);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One planned image per config digest, with every tag it was given. */
function mergeDuplicates(plan: PlannedImage[]): PlannedImage[] {
  const byId = new Map<Digest, PlannedImage>();
  for (const img of plan) {
    const seen = byId.get(img.id);
    if (seen === undefined) {
      byId.set(img.id, { ...img, tags: [...img.tags] });
      continue;
    }
    for (const t of img.tags) if (!seen.tags.some((s) => canonicalString(s) === canonicalString(t))) seen.tags.push(t);
  }
  return [...byId.values()];
}

/** Add the records and tags; on a failure, take back what this call added and moved. */
async function commit(images: ImageWriter, plan: PlannedImage[], stacks: LayerInfo[][], emit: (e: LoadEvent) => void): Promise<LoadResult> {
  const added: Digest[] = [];
  const moved: { ref: Reference; previous: Digest | undefined }[] = [];
  const events: LoadEvent[] = [];
  const result: LoadResult = { loaded: [], images: [] };
  try {
    for (const [i, img] of plan.entries()) {
      const existed = images.tryResolve(img.id)?.id === img.id;
      const rec = await images.add(img.config, stacks[i] ?? [], undefined, { raw: img.raw });
      if (rec.id !== img.id) throw systemError(`image ${img.id} was recorded as ${rec.id}`);
      if (!existed) added.push(rec.id);
      const tags: string[] = [];
      for (const t of img.tags) {
        const key = canonicalString(t);
        const previous = images.tryResolve(key)?.id;
        if (previous !== rec.id) {
          moved.push({ ref: t, previous });
          await images.tag(rec.id, key);
          if (previous !== undefined) events.push({ type: 'replaced', reference: familiarString(t), previous });
        }
        tags.push(familiarString(t));
        events.push({ type: 'loaded', id: rec.id, reference: familiarString(t) });
        result.loaded.push(familiarString(t));
      }
      if (tags.length === 0) {
        events.push({ type: 'loaded', id: rec.id });
        result.loaded.push(rec.id);
      }
      result.images.push({ id: rec.id, tags });
    }
  } catch (e) {
    for (const m of moved.reverse()) {
      await (m.previous !== undefined ? images.tag(m.previous, canonicalString(m.ref)) : images.untag(m.ref)).catch(() => undefined);
    }
    for (const id of added.reverse()) await images.delete(id).catch(() => undefined);
    throw e;
  }
  for (const e of events) emit(e);
  return result;
}
