// Discovery: `GET /v2/` (version check), `/v2/<name>/tags/list`, `/v2/_catalog` (both with
// `n`/`last` pagination and a Link header) and `/v2/<name>/referrers/<digest>` (OCI 1.1).

import { registryError } from './errors.ts';
import { nextLink, paginate, sendJson, type Handler } from './http.ts';
import { MediaType } from './manifest.ts';
import { parseRegistryDigest, parseRepositoryName } from './names.ts';
import { compareLexical } from './storage.ts';

export const apiVersion: Handler = async (ctx) => {
  sendJson(ctx, 200, {});
};

export const listTags: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  if (!(await ctx.storage.hasRepository(name))) {
    throw registryError('name-unknown', `repository name not known to registry: ${name}`, { name });
  }
  const q = ctx.url.searchParams;
  const page = paginate(await ctx.storage.listTags(name), q, compareLexical);
  const headers: Record<string, string> = page.next === undefined ? {} : { Link: nextLink(`/v2/${name}/tags/list`, q.get('n'), page.next) };
  sendJson(ctx, 200, { name, tags: page.items }, headers);
};

export const catalog: Handler = async (ctx) => {
  const q = ctx.url.searchParams;
  const page = paginate(await ctx.storage.listRepositories(), q, compareLexical);
  const headers: Record<string, string> = page.next === undefined ? {} : { Link: nextLink('/v2/_catalog', q.get('n'), page.next) };
  sendJson(ctx, 200, { repositories: page.items }, headers);
};

export const listReferrers: Handler = async (ctx, p) => {
  const name = parseRepositoryName(p[0] ?? '');
  const subject = parseRegistryDigest(p[1] ?? '');
  const artifactType = ctx.url.searchParams.get('artifactType');
  let manifests = await ctx.storage.listReferrers(name, subject);
  if (artifactType !== null && artifactType !== '') manifests = manifests.filter((d) => d.artifactType === artifactType);
  sendJson(
    ctx,
    200,
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests },
    {
      'Content-Type': MediaType.ociIndex,
      ...(artifactType !== null && artifactType !== '' ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
    },
  );
};
