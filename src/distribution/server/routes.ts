// The route table: path pattern -> handler per method. A name may hold slashes, so every
// pattern anchors on what follows the name; uploads come before blobs so `uploads` is never
// taken for a digest. Path segments are percent-decoded before the handlers parse them.

import { deleteBlob, getBlob } from './blob-handlers.ts';
import { registryError } from './errors.ts';
import type { Handler } from './http.ts';
import { apiVersion, catalog, listReferrers, listTags } from './listing-handlers.ts';
import { deleteManifest, getManifest, putManifest } from './manifest-handlers.ts';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './upload-handlers.ts';

interface Route {
  readonly pattern: RegExp;
  readonly methods: Readonly<Record<string, Handler>>;
}

const ROUTES: readonly Route[] = [
  { pattern: /^\/v2\/?$/, methods: { GET: apiVersion, HEAD: apiVersion } },
  { pattern: /^\/v2\/_catalog$/, methods: { GET: catalog } },
  { pattern: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: listTags } },
  { pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest } },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: startUpload } },
  {
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: uploadStatus, PATCH: patchUpload, PUT: finishUpload, DELETE: cancelUpload },
  },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: listReferrers } },
];

export interface RouteMatch {
  readonly handler: Handler;
  readonly params: readonly string[];
}

/** The handler for a request, or a registry error (unknown route 404, wrong method 405). */
export function matchRoute(method: string, pathname: string): RouteMatch {
  for (const route of ROUTES) {
    const m = route.pattern.exec(pathname);
    if (!m) continue;
    const handler = route.methods[method];
    if (handler === undefined) {
      throw registryError('method-not-allowed', `method ${method} not allowed on ${pathname}`, {
        allow: Object.keys(route.methods),
      });
    }
    let params: string[];
    try {
      params = m.slice(1).map((s) => decodeURIComponent(s ?? ''));
    } catch {
      throw registryError('name-invalid', `malformed path ${JSON.stringify(pathname)}`);
    }
    return { handler, params };
  }
  throw registryError('route-unknown', `no such endpoint: ${pathname}`);
}

/** The methods a path accepts (for the Allow header of a 405). */
export function allowedMethods(pathname: string): string[] {
  const route = ROUTES.find((r) => r.pattern.test(pathname));
  return route ? Object.keys(route.methods) : [];
}
