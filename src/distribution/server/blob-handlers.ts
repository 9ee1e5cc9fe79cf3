// `/v2/<name>/blobs/<digest>`: GET (with Range), HEAD, DELETE (unlink from the repository).

import { registryError } from './errors.ts';
import { parseRange, sendEmpty, sendFileRange, type Handler, type RequestContext } from './http.ts';
import { parseRegistryDigest, parseRepositoryName } from './names.ts';

function params(p: readonly string[]) {
  return { name: parseRepositoryName(p[0] ?? ''), digest: parseRegistryDigest(p[1] ?? '') };
}

export const getBlob: Handler = async (ctx: RequestContext, p) => {
  const { name, digest } = params(p);
  const info = await ctx.storage.statBlob(name, digest);
  if (info === undefined) throw registryError('blob-unknown', `blob unknown to registry: ${digest}`, { digest });
  const common = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  const range = parseRange(ctx.req.headers.range, info.size);
  if (range === 'unsatisfiable') {
    sendEmpty(ctx, 416, { ...common, 'Content-Range': `bytes */${info.size}` });
    return;
  }
  const status = range === undefined ? 200 : 206;
  const start = range?.start ?? 0;
  const end = range?.end ?? info.size - 1;
  const length = info.size === 0 ? 0 : end - start + 1;
  const headers = {
    ...common,
    'Content-Length': length,
    ...(range !== undefined ? { 'Content-Range': `bytes ${start}-${end}/${info.size}` } : {}),
  };
  if (ctx.req.method === 'HEAD' || length === 0) {
    ctx.res.writeHead(status, headers);
    ctx.res.end();
    return;
  }
  // Open before the headers: a blob collected since the stat is still a plain 404.
  const fh = await ctx.storage.openBlobFile(digest);
  try {
    ctx.res.writeHead(status, headers);
    await sendFileRange(ctx.res, fh, start, end, ctx.signal);
  } finally {
    await fh.close();
  }
};

export const deleteBlob: Handler = async (ctx, p) => {
  const { name, digest } = params(p);
  if (!(await ctx.storage.unlinkBlob(name, digest))) {
    throw registryError('blob-unknown', `blob unknown to registry: ${digest}`, { digest });
  }
  sendEmpty(ctx, 202, { 'Docker-Content-Digest': digest });
};
