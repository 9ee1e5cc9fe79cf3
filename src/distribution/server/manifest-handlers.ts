// `/v2/<name>/manifests/<reference>`: GET/HEAD by tag or digest, PUT (validate, check every
// referenced blob and child manifest, store the exact bytes, tag), DELETE by digest or tag.

import { sha256Digest, type Digest } from '../../core/digest.ts';
import { isEngineError } from '../../core/errors.ts';
import { registryError } from './errors.ts';
import { readBody, sendEmpty, type Handler, type RequestContext } from './http.ts';
import { MANIFEST_MAX_BYTES, parseManifest, type ParsedManifest } from './manifest.ts';
import { parseReference, parseRepositoryName, type RepositoryName } from './names.ts';
import type { ManifestRevision } from './storage.ts';

function manifestUnknown(ref: string): Error {
  return registryError('manifest-unknown', `manifest unknown: ${ref}`, { reference: ref });
}

export const getManifest: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const raw = p[1] ?? '';
  const ref = parseReference(raw);
  const digest = 'tag' in ref ? await ctx.storage.resolveTag(name, ref.tag) : ref.digest;
  const rev = digest === undefined ? undefined : await ctx.storage.getRevision(name, digest);
  if (rev === undefined) throw manifestUnknown(raw);
  let body: Buffer;
  try {
    body = await ctx.storage.content.readBlob(rev.digest);
  } catch (e) {
    if (isEngineError(e, 'not-found')) throw manifestUnknown(raw);
    throw e;
  }
  const etag = `"${rev.digest}"`;
  const headers = {
    'Content-Type': rev.mediaType,
    'Docker-Content-Digest': rev.digest,
    ETag: etag,
  };
  if (ctx.req.headers['if-none-match'] === etag) {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(200, { ...headers, 'Content-Length': body.byteLength });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
};

/** Every blob and child manifest the manifest names must be in the repository, at its size. */
async function checkReferences(ctx: RequestContext, name: RepositoryName, parsed: ParsedManifest): Promise<void> {
  for (const d of parsed.blobs) {
    const info = await ctx.storage.statBlob(name, d.digest);
    if (info === undefined) {
      throw registryError('manifest-blob-unknown', `manifest references a blob unknown to the repository: ${d.digest}`, { digest: d.digest });
    }
    if (info.size !== d.size) {
      throw registryError('manifest-invalid', `manifest gives blob ${d.digest} size ${d.size}, it has ${info.size}`, { digest: d.digest });
    }
  }
  for (const d of parsed.manifests) {
    const rev = await ctx.storage.getRevision(name, d.digest);
    if (rev === undefined) {
      throw registryError('manifest-blob-unknown', `index references a manifest unknown to the repository: ${d.digest}`, { digest: d.digest });
    }
    if (rev.size !== d.size) {
      throw registryError('manifest-invalid', `index gives manifest ${d.digest} size ${d.size}, it has ${rev.size}`, { digest: d.digest });
    }
  }
}

export const putManifest: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const ref = parseReference(p[1] ?? '');
  const body = await readBody(ctx.req, MANIFEST_MAX_BYTES, () =>
    registryError('manifest-too-large', `manifest is larger than ${MANIFEST_MAX_BYTES} bytes`),
  );
  const digest: Digest = sha256Digest(body);
  if ('digest' in ref && ref.digest !== digest) {
    throw registryError('digest-invalid', `manifest digest ${digest} does not match ${ref.digest}`, { digest: ref.digest });
  }
  const parsed = parseManifest(body, ctx.req.headers['content-type']);
  await checkReferences(ctx, name, parsed);
  await ctx.storage.content.writeBlob(body, { expected: digest, signal: ctx.signal });
  const revision: ManifestRevision = {
    digest,
    mediaType: parsed.mediaType,
    size: body.byteLength,
    ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
    ...(parsed.artifactType !== undefined ? { artifactType: parsed.artifactType } : {}),
    ...(parsed.annotations !== undefined ? { annotations: parsed.annotations } : {}),
  };
  await ctx.storage.putManifest(name, revision, 'tag' in ref ? ref.tag : undefined);
  sendEmpty(ctx, 201, {
    Location: `/v2/${name}/manifests/${digest}`,
    'Docker-Content-Digest': digest,
    ...(parsed.subject ? { 'OCI-Subject': parsed.subject.digest } : {}),
  });
};

export const deleteManifest: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const raw = p[1] ?? '';
  const ref = parseReference(raw);
  if (!(await ctx.storage.hasRepository(name))) {
    throw registryError('name-unknown', `repository name not known to registry: ${name}`, { name });
  }
  const removed = 'tag' in ref ? await ctx.storage.deleteTag(name, ref.tag) : await ctx.storage.deleteManifest(name, ref.digest);
  if (!removed) throw manifestUnknown(raw);
  sendEmpty(ctx, 202);
};
