// `/v2/<name>/blobs/uploads/[<uuid>]`: start (or push in one POST, or mount from another
// repository), PATCH chunks, PUT to finish, GET status, DELETE to cancel.

import type { Digest } from '../../core/digest.ts';
import { isEngineError } from '../../core/errors.ts';
import { registryError } from './errors.ts';
import { hasBody, parseContentRange, requestLength, sendEmpty, uploadRange, type Handler, type RequestContext } from './http.ts';
import { parseRegistryDigest, parseRepositoryName, type RepositoryName } from './names.ts';

function blobCreated(ctx: RequestContext, name: RepositoryName, digest: Digest): void {
  sendEmpty(ctx, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

function uploadAccepted(ctx: RequestContext, status: number, name: RepositoryName, uuid: string, size: number): void {
  sendEmpty(ctx, status, {
    Location: `/v2/${name}/blobs/uploads/${uuid}`,
    'Docker-Upload-UUID': uuid,
    Range: uploadRange(size),
  });
}

function digestParam(ctx: RequestContext): Digest {
  const d = ctx.url.searchParams.get('digest');
  if (d === null || d === '') throw registryError('digest-invalid', 'digest query parameter is required');
  return parseRegistryDigest(d);
}

/** POST /v2/<name>/blobs/uploads/ */
export const startUpload: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const q = ctx.url.searchParams;

  const mount = q.get('mount');
  if (mount !== null) {
    const digest = parseRegistryDigest(mount);
    const fromRaw = q.get('from');
    if (fromRaw !== null) {
      const from = parseRepositoryName(fromRaw);
      if ((await ctx.storage.statBlob(from, digest)) !== undefined || (await ctx.storage.statBlob(name, digest)) !== undefined) {
        await ctx.storage.linkBlob(name, digest);
        blobCreated(ctx, name, digest);
        return;
      }
    }
    // Not mountable: an upload session instead (spec: 202).
  } else if (q.get('digest') !== null) {
    // Monolithic push in a single POST.
    const digest = digestParam(ctx);
    const size = requestLength(ctx.req);
    await ctx.storage.content.writeBlob(ctx.req, { expected: digest, ...(size !== undefined ? { size } : {}), signal: ctx.signal });
    await ctx.storage.linkBlob(name, digest);
    blobCreated(ctx, name, digest);
    return;
  }
  const session = await ctx.uploads.create(name);
  uploadAccepted(ctx, 202, name, session.uuid, session.size);
};

/** On a 416 tell the client where the session stands (Location and Range), as for GET. */
async function withRangeHeaders<T>(ctx: RequestContext, name: RepositoryName, uuid: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isEngineError(e) && e.code === 'range-invalid') {
      const status = await ctx.uploads.status(name, uuid).catch(() => undefined);
      if (status !== undefined) {
        ctx.res.setHeader('Location', `/v2/${name}/blobs/uploads/${uuid}`);
        ctx.res.setHeader('Range', uploadRange(status.size));
        ctx.res.setHeader('Docker-Upload-UUID', uuid);
      }
    }
    throw e;
  }
}

/** PATCH /v2/<name>/blobs/uploads/<uuid> */
export const patchUpload: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const uuid = p[1] ?? '';
  const range = parseContentRange(ctx.req.headers['content-range']);
  const status = await withRangeHeaders(ctx, name, uuid, () =>
    ctx.uploads.append(name, uuid, ctx.req, { ...(range ? { range } : {}), signal: ctx.signal }),
  );
  uploadAccepted(ctx, 202, name, uuid, status.size);
};

/** PUT /v2/<name>/blobs/uploads/<uuid>?digest=<digest> */
export const finishUpload: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const uuid = p[1] ?? '';
  const digest = digestParam(ctx);
  const range = parseContentRange(ctx.req.headers['content-range']);
  const last = hasBody(ctx.req) ? { source: ctx.req, ...(range ? { range } : {}) } : undefined;
  const info = await withRangeHeaders(ctx, name, uuid, () =>
    ctx.uploads.finish(name, uuid, { digest, ...(last ? { last } : {}), signal: ctx.signal }),
  );
  await ctx.storage.linkBlob(name, info.digest);
  blobCreated(ctx, name, info.digest);
};

/** GET /v2/<name>/blobs/uploads/<uuid> */
export const uploadStatus: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const uuid = p[1] ?? '';
  const status = await ctx.uploads.status(name, uuid);
  uploadAccepted(ctx, 204, name, uuid, status.size);
};

/** DELETE /v2/<name>/blobs/uploads/<uuid> */
export const cancelUpload: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const uuid = p[1] ?? '';
  await ctx.uploads.cancel(name, uuid);
  sendEmpty(ctx, 204);
};
