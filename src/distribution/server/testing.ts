// Test support for the registry server: a server on a random loopback port over a temporary
// root, a raw HTTP client (every header under the test's control), and small images built
// by hand (blobs, manifests, and an OCI image layout for real clients such as skopeo).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions, type RequestLogEntry } from './server.ts';

export interface TestRegistry {
  /** e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** e.g. 127.0.0.1:40123 */
  readonly host: string;
  readonly root: string;
  readonly registry: RegistryServer;
  readonly log: RequestLogEntry[];
  close(): Promise<void>;
}

/** A registry on 127.0.0.1 with a random port; `root` defaults to a fresh temporary directory. */
export async function startTestRegistry(opts: Partial<RegistryServerOptions> = {}): Promise<TestRegistry> {
  const ownRoot = opts.root === undefined;
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'berth-registry-')));
  const log: RequestLogEntry[] = [];
  const registry = await createRegistryServer({ ...opts, root, onRequest: (e) => log.push(e) });
  await new Promise<void>((resolve) => registry.server.listen(0, '127.0.0.1', resolve));
  const { port } = registry.server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${host}`,
    host,
    root,
    registry,
    log,
    close: async () => {
      await registry.close();
      if (ownRoot) await rm(root, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  json<T = unknown>(): T;
  /** The first spec error code of the body. */
  readonly code: string | undefined;
}

export interface CallOptions {
  readonly headers?: Record<string, string | number>;
  readonly body?: Buffer | string;
  /** Credentials for Basic auth. */
  readonly auth?: { readonly user: string; readonly password: string };
}

/** One HTTP request with exactly the given method, path, headers and body. */
export function call(base: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const url = new URL(path, base);
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const headers: Record<string, string | number> = { ...(body !== undefined ? { 'Content-Length': body.byteLength } : {}), ...opts.headers };
  if (opts.auth) headers.Authorization = `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}`;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Reply>((resolve, reject) => {
    const req = send(
      { host: url.hostname, port: url.port, method, path: `${url.pathname}${url.search}`, headers, rejectUnauthorized: false, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const data = Buffer.concat(parts);
          let code: string | undefined;
          try {
            code = (JSON.parse(data.toString('utf8')) as { errors?: { code?: string }[] }).errors?.[0]?.code;
          } catch {
            code = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json: <T>() => JSON.parse(data.toString('utf8')) as T, code });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface Blob {
  readonly data: Buffer;
  readonly digest: string;
  readonly size: number;
}

export function blobOf(data: Buffer | string): Blob {
  const b = Buffer.from(data);
  return { data: b, digest: sha256(b), size: b.byteLength };
}

/** Push a blob in one POST; throws unless 201. */
export async function pushBlob(base: string, name: string, blob: Blob, opts: CallOptions = {}): Promise<void> {
  const r = await call(base, 'POST', `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { ...opts, body: blob.data });
  if (r.status !== 201) throw new Error(`push blob: ${r.status} ${r.body.toString()}`);
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const desc = (mediaType: string, b: Blob, extra: Record<string, unknown> = {}) => ({ mediaType, digest: b.digest, size: b.size, ...extra });

/** An image manifest (OCI unless `mediaType` says Docker) as the exact bytes to push. */
export function imageManifest(
  config: Blob,
  layers: readonly Blob[],
  opts: { mediaType?: string; artifactType?: string; configType?: string; subject?: Blob; annotations?: Record<string, string> } = {},
): Blob {
  const mediaType = opts.mediaType ?? OCI_MANIFEST;
  const docker = mediaType === DOCKER_MANIFEST;
  return blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      config: desc(opts.configType ?? (docker ? DOCKER_CONFIG : OCI_CONFIG), config),
      layers: layers.map((l) => desc(docker ? DOCKER_LAYER : OCI_LAYER, l)),
      ...(opts.subject ? { subject: desc(OCI_MANIFEST, opts.subject) } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    }),
  );
}

/** An index (OCI unless `mediaType` says Docker) of manifests for the given platforms. */
export function indexManifest(children: readonly { manifest: Blob; arch: string }[], mediaType = OCI_INDEX): Blob {
  const childType = mediaType === DOCKER_LIST ? DOCKER_MANIFEST : OCI_MANIFEST;
  return blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((c) => desc(childType, c.manifest, { platform: { os: 'linux', architecture: c.arch } })),
    }),
  );
}

/** A gzipped tar of the given files, made with the system's tar. */
export async function makeLayer(files: Record<string, string>): Promise<{ layer: Blob; diffId: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-layer-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    const tgz = execFileSync('tar', ['-C', dir, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-czf', '-', ...Object.keys(files)]);
    return { layer: blobOf(tgz), diffId: sha256(gunzipSync(tgz)) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface LayoutImage {
  readonly tag: string;
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Blob[];
}

/**
 * An OCI image layout in `dir` holding one single-platform image tagged `single` and one
 * two-platform index tagged `multi` (amd64, arm64), each with a distinct tar.gz layer.
 */
export async function writeOciLayout(dir: string): Promise<{ single: LayoutImage; multi: Blob; children: LayoutImage[] }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Blob) => writeFile(join(dir, 'blobs', 'sha256', b.digest.slice('sha256:'.length)), b.data);
  const image = async (tag: string, arch: string): Promise<LayoutImage> => {
    const { layer, diffId } = await makeLayer({ 'hello.txt': `hello from ${arch}\n`, 'tag.txt': `${tag}\n` });
    const config = blobOf(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const manifest = imageManifest(config, [layer]);
    await Promise.all([put(layer), put(config), put(manifest)]);
    return { tag, manifest, config, layers: [layer] };
  };
  const single = await image('single', 'amd64');
  const children = [await image('multi-amd64', 'amd64'), await image('multi-arm64', 'arm64')];
  const multi = indexManifest(children.map((c, i) => ({ manifest: c.manifest, arch: i === 0 ? 'amd64' : 'arm64' })));
  await put(multi);
  const ref = (b: Blob, mediaType: string, tag: string) => desc(mediaType, b, { annotations: { 'org.opencontainers.image.ref.name': tag } });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [ref(single.manifest, OCI_MANIFEST, 'single'), ref(multi, OCI_INDEX, 'multi')] }),
  );
  return { single, multi, children };
}
