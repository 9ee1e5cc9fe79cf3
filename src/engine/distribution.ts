// Pull, push and login for the engine: the distribution client wired to the engine's stores.
// A pull stores each layer tar uncompressed in the content store (under its diff ID), applies
// it as a snapshot, then records the image (its ID the config's digest), the tag and the repo
// digest; a push reads the same tars back and leaves compressing, HEAD and mounts to the
// client. The daemon never reads a user's config.json: credentials come with each request.

import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import type { Digest } from '../core/digest.ts';
import { EngineError, invalid, isEngineError, notFound } from '../core/errors.ts';
import { canonicalString, familiarName, familiarString, parseReference, repositoryName, type Reference } from '../core/reference.ts';
import {
  checkLogin,
  FileLayerMemory,
  hostPlatform,
  InMemoryLayerMemory,
  parsePlatform,
  pullImage as pullFromRegistry,
  pushImage as pushToRegistry,
  RegistryResponseError,
  RegistrySession,
  Repository,
  repositoryScope,
  TokenCache,
  Transport,
  type LayerMemory,
  type ProgressEvent,
  type PullStore,
  type RegistryAuth,
  type TransportOptions,
} from '../distribution/client/index.ts';
import type { ImageConfig, ImageRecord, LayerInfo } from '../images/types.ts';
import type { Engine } from './engine.ts';

export type { ProgressEvent, RegistryAuth };

export interface DistributionConfig {
  /** Registries reachable over plain HTTP besides loopback ones (host[:port] or IPv4 CIDR). */
  readonly insecureRegistries?: readonly string[];
  /** Directories of `<host>/ca.crt` files (default /etc/berth/certs.d, /etc/docker/certs.d). */
  readonly certsDirs?: readonly string[];
}

interface State {
  readonly transport: Transport;
  readonly tokens: TokenCache;
  memory?: Promise<LayerMemory>;
}

const states = new WeakMap<Engine, State>();
const configs = new WeakMap<Engine, DistributionConfig>();

/** `BERTH_INSECURE_REGISTRIES=host:port,10.0.0.0/8` adds insecure registries. */
function configFromEnv(env: NodeJS.ProcessEnv = process.env): TransportOptions {
  const list = (env.BERTH_INSECURE_REGISTRIES ?? '').split(/[\s,]+/).filter(Boolean);
  return list.length ? { insecureRegistries: list } : {};
}

function newState(config: DistributionConfig = configFromEnv()): State {
  return { transport: new Transport({ ...config, userAgent: 'berth/0.1.0' }), tokens: new TokenCache() };
}

/** Set the registry settings of an engine (the daemon calls it once at start-up). */
export function configureDistribution(engine: Engine, config: DistributionConfig): void {
  states.get(engine)?.transport.close();
  const merged = { ...configFromEnv(), ...config };
  configs.set(engine, merged);
  states.set(engine, newState(merged));
}

/** Docker's `RegistryConfig` of `GET /info`: insecure CIDRs, and an index entry per insecure host. */
export function registryConfig(engine: Engine): { IndexConfigs: Record<string, unknown>; InsecureRegistryCIDRs: string[]; Mirrors: string[] } {
  const list = ['127.0.0.0/8', ...((configs.get(engine) ?? configFromEnv()).insecureRegistries ?? [])];
  const cidrs = [...new Set(list.filter((x) => x.includes('/')))];
  const hosts = list.filter((x) => !x.includes('/'));
  const IndexConfigs: Record<string, unknown> = {
    'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true },
  };
  for (const h of hosts) IndexConfigs[h] = { Name: h, Mirrors: [], Secure: false, Official: false };
  return { IndexConfigs, InsecureRegistryCIDRs: cidrs, Mirrors: [] };
}

function stateOf(engine: Engine): State {
  let s = states.get(engine);
  if (s === undefined) {
    s = newState();
    states.set(engine, s);
  }
  return s;
}

function memoryOf(engine: Engine, s: State): Promise<LayerMemory> {
  s.memory ??= FileLayerMemory.open(join(engine.paths.dataRoot, 'distribution')).catch(() => new InMemoryLayerMemory());
  return s.memory;
}

function sessionFor(engine: Engine, ref: Pick<Reference, 'domain' | 'path'>, auth: RegistryAuth | undefined, actions: 'pull' | 'pull,push'): Repository {
  const s = stateOf(engine);
  const session = new RegistrySession({
    transport: s.transport,
    endpoint: s.transport.endpoint(ref.domain),
    ...(auth ? { auth } : {}),
    scopes: [repositoryScope(ref.path, actions)],
    tokens: s.tokens,
  });
  return new Repository(session, ref.path);
}

function counting(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.byteLength;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

async function hasBlob(engine: Engine, d: Digest): Promise<boolean> {
  try {
    const s = await engine.content.openBlob(d);
    s.destroy();
    return true;
  } catch (e) {
    if (isEngineError(e, 'not-found')) return false;
    throw e;
  }
}

function pullStore(engine: Engine): PullStore {
  const sizes = new Map<Digest, number>();
  for (const img of engine.images.list()) for (const l of img.layers) sizes.set(l.chainId, l.size);
  return {
    hasImage: (d) => engine.images.tryResolve(d)?.id === d,
    layerSize: (chainId) => sizes.get(chainId),
    hasBlob: (d) => hasBlob(engine, d),
    writeBlob: async (source, o) => {
      await engine.content.writeBlob(source, { expected: o.expected, ...(o.signal ? { signal: o.signal } : {}) });
    },
    applyLayerStream: async (tar, diffId, parentChainId, o) => {
      const applied = await engine.snapshots.applyCheckedLayer(tar, {
        diffId,
        beforeCommit: o.beforeCommit,
        // the gate is the content store's write of the same stream, which checks diffId
        diffIdCheckedByGate: true,
        ...(parentChainId ? { parentChainId } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (applied.diffId !== diffId) throw invalid(`layer diff ID mismatch: expected ${diffId}, got ${applied.diffId}`, 'diff-id-mismatch');
      return { chainId: applied.chainId, size: applied.size };
    },
    applyLayer: async (diffId, parentChainId, o) => {
      const blob = await engine.content.openBlob(diffId, { highWaterMark: 1024 * 1024 });
      const tar = o.onBytes ? blob.pipe(counting(o.onBytes)) : blob;
      blob.on('error', (e) => tar.destroy(e));
      try {
        const applied = await engine.snapshots.applyLayer(tar, { ...(parentChainId ? { parentChainId } : {}), ...(o.signal ? { signal: o.signal } : {}) });
        if (applied.diffId !== diffId) throw invalid(`layer diff ID mismatch: expected ${diffId}, got ${applied.diffId}`, 'diff-id-mismatch');
        return { chainId: applied.chainId, size: applied.size };
      } finally {
        blob.destroy();
      }
    },
  };
}

/** moby's wording for a pull that failed at the registry (distribution/errors.go). */
function pullError(e: unknown, ref: Reference): unknown {
  if (!(e instanceof RegistryResponseError)) return e;
  switch (e.code) {
    case 'MANIFEST_UNKNOWN':
      return new EngineError('not-found', `manifest for ${familiarString(ref)} not found: ${e.message}`, { code: 'manifest-unknown', cause: e });
    case 'NAME_UNKNOWN':
      return new EngineError('not-found', `repository ${familiarName(ref)} not found: ${e.message}`, { code: 'name-unknown', cause: e });
    case 'DENIED':
      return new EngineError('not-found', `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${e.message}`, { code: 'denied', cause: e });
    default:
      if (e.status === 404 && e.entries.length === 0) {
        return new EngineError('not-found', `manifest for ${familiarString(ref)} not found: manifest unknown: ${e.message}`, { code: 'manifest-unknown', cause: e });
      }
      return e;
  }
}

export interface PullImageOptions {
  readonly auth?: RegistryAuth;
  /** `os/arch[/variant]`; default: this host's (linux/amd64). */
  readonly platform?: string;
  /** Pull every tag of the repository (`ref` names a repository). */
  readonly allTags?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: ProgressEvent) => void;
}

export interface PulledImageInfo {
  readonly image: ImageRecord;
  /** Canonical reference pulled: docker.io/library/busybox:latest. */
  readonly reference: string;
  /** Digest of the manifest (or index) the reference named. */
  readonly digest: Digest;
  /** False when the image was already here under that reference. */
  readonly updated: boolean;
}

/** Pull an image (or every tag of a repository) from its registry into the engine. */
export async function pullImage(engine: Engine, ref: string, o: PullImageOptions = {}): Promise<PulledImageInfo[]> {
  const r = parseReference(ref);
  const emit = (e: ProgressEvent): void => o.onProgress?.(e);
  const platform = o.platform ? parsePlatform(o.platform) : hostPlatform();
  const repo = sessionFor(engine, r, o.auth, 'pull');
  await repo.session.verify(o.signal);
  let refs: Reference[];
  if (o.allTags) {
    if (r.digest) throw invalid('tag can\'t be used with --all-tags/-a');
    let tags: string[];
    try {
      tags = await repo.listTags(o.signal);
    } catch (e) {
      throw pullError(e, r);
    }
    if (tags.length === 0) throw notFound(`repository ${familiarName(r)} not found: no tags`);
    refs = tags.sort().map((tag) => ({ domain: r.domain, path: r.path, tag }));
  } else {
    refs = [r];
  }
  const memory = await memoryOf(engine, stateOf(engine));
  const out: PulledImageInfo[] = [];
  for (const one of refs) {
    const reference = one.digest ?? one.tag ?? 'latest';
    const canonical = canonicalString(one);
    const before = engine.images.tryResolve(canonical)?.id;
    let pulled;
    try {
      pulled = await pullFromRegistry(
        repo,
        pullStore(engine),
        { reference, platform, explicitPlatform: o.platform !== undefined && o.platform !== '', displayName: familiarName(one) },
        { ...(o.signal ? { signal: o.signal } : {}), onProgress: emit, memory },
      );
    } catch (e) {
      throw pullError(e, one);
    }
    let image: ImageRecord;
    if (pulled.layers === undefined || pulled.config === undefined) {
      image = engine.images.resolve(pulled.configDigest);
    } else {
      let config: ImageConfig;
      try {
        config = JSON.parse(pulled.config.toString('utf8')) as ImageConfig;
      } catch {
        throw invalid(`invalid image config ${pulled.configDigest}`);
      }
      const layers: LayerInfo[] = pulled.layers.map((l) => ({ diffId: l.diffId, chainId: l.chainId, size: l.size }));
      image = await engine.images.add(config, layers, undefined, { raw: pulled.config });
      if (image.id !== pulled.configDigest) throw invalid(`image ID ${image.id} is not the config digest ${pulled.configDigest}`);
    }
    if (one.tag !== undefined && one.digest === undefined) await engine.images.tag(image.id, canonical);
    await engine.images.addRepoDigest(image.id, `${repositoryName(one)}@${pulled.manifestDigest}`);
    const updated = before !== image.id;
    emit({ status: `Digest: ${pulled.manifestDigest}` });
    if (!o.allTags) emit({ status: `Status: ${updated ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarString(one)}` });
    out.push({ image, reference: canonical, digest: pulled.manifestDigest, updated });
  }
  if (o.allTags) {
    const updated = out.some((p) => p.updated);
    emit({ status: `Status: ${updated ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(r)}` });
  }
  return out;
}

export interface PushImageOptions {
  readonly auth?: RegistryAuth;
  /** Push every local tag of the repository. */
  readonly allTags?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: ProgressEvent) => void;
  /** Upload tuning (tests): largest monolithic upload, chunk size. */
  readonly monolithicMax?: number;
  readonly chunkSize?: number;
}

export interface PushedTag {
  readonly tag: string;
  readonly digest: Digest;
  readonly size: number;
}

/** Push a tagged image (or all tags of a repository) to its registry. */
export async function pushImage(engine: Engine, ref: string, o: PushImageOptions = {}): Promise<PushedTag[]> {
  const r = parseReference(ref);
  if (r.digest) throw invalid('cannot push a digest reference');
  const name = { domain: r.domain, path: r.path };
  let targets: { tag: string; image: ImageRecord }[];
  if (o.allTags) {
    targets = [];
    for (const img of engine.images.list()) {
      for (const t of engine.images.tagsOf(img.id)) {
        if (t.domain === r.domain && t.path === r.path && t.tag) targets.push({ tag: t.tag, image: img });
      }
    }
    targets.sort((a, b) => a.tag.localeCompare(b.tag));
  } else {
    const image = engine.images.tryResolve(canonicalString(r));
    targets = image ? [{ tag: r.tag ?? 'latest', image }] : [];
  }
  if (targets.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(name)}`);

  const repo = sessionFor(engine, r, o.auth, 'pull,push');
  await repo.session.verify(o.signal);
  const s = stateOf(engine);
  const memory = await memoryOf(engine, s);
  o.onProgress?.({ status: `The push refers to repository [${repositoryName(name)}]` });
  const out: PushedTag[] = [];
  for (const { tag, image } of targets) {
    const config = await engine.content.readBlob(image.id);
    const diffIds = image.config.rootfs.diff_ids;
    const result = await pushToRegistry(
      repo,
      tag,
      {
        config,
        configDigest: image.id,
        diffIds,
        openLayer: (d: Digest): Promise<Readable> => engine.content.openBlob(d, { highWaterMark: 1024 * 1024 }),
        layerSize: async (d: Digest): Promise<number> => (await engine.content.statBlob(d)).size,
      },
      {
        memory,
        spoolDir: join(engine.paths.dataRoot, 'distribution', 'spool'),
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        ...(o.monolithicMax !== undefined ? { monolithicMax: o.monolithicMax } : {}),
        ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
      },
    );
    await engine.images.addRepoDigest(image.id, `${repositoryName(name)}@${result.digest}`);
    out.push({ tag, digest: result.digest, size: result.size });
  }
  return out;
}

let loginTransport: Transport | undefined;

/** Check credentials against a registry, as `POST /auth` (docker login) does. */
export async function login(
  serverAddress: string,
  creds: { readonly username?: string; readonly password?: string; readonly identityToken?: string },
  o: { readonly signal?: AbortSignal; readonly engine?: Engine } = {},
): Promise<{ Status: 'Login Succeeded'; IdentityToken: string }> {
  const transport = o.engine ? stateOf(o.engine).transport : (loginTransport ??= new Transport({ ...configFromEnv(), userAgent: 'berth/0.1.0' }));
  const auth: RegistryAuth = {
    ...(creds.username !== undefined ? { username: creds.username } : {}),
    ...(creds.password !== undefined ? { password: creds.password } : {}),
    ...(creds.identityToken ? { identityToken: creds.identityToken } : {}),
  };
  const { identityToken } = await checkLogin(transport, serverAddress, auth, o.signal ? { signal: o.signal } : {});
  return { Status: 'Login Succeeded', IdentityToken: identityToken };
}
