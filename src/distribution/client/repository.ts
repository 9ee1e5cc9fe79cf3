// One repository of a registry, over a session: manifests (GET by tag or digest, verified;
// PUT), blobs (HEAD, GET following redirects), uploads (POST, monolithic PUT, chunked PATCH,
// cross-repository mount) and the tags list — the distribution spec's endpoints, nothing more.

import { sha256Digest, isDigest, type Digest } from '../../core/digest.ts';
import { invalid } from '../../core/errors.ts';
import { responseError } from './errors.ts';
import { MANIFEST_ACCEPT, parseManifest, type Manifest } from './manifest.ts';
import type { RegistrySession } from './session.ts';
import { discard, readReply, type BodySource, type Reply } from './transport.ts';

export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
  readonly manifest: Manifest;
}

async function fail(reply: Reply, method: string): Promise<never> {
  const body = method === 'HEAD' ? Buffer.alloc(0) : await readReply(reply, 1024 * 1024).catch(() => Buffer.alloc(0));
  throw responseError(reply.status, body, { method, url: reply.url.href });
}

function locationOf(reply: Reply): URL {
  const loc = reply.headers.location;
  if (loc === undefined || loc === '') throw invalid(`registry sent no Location for the upload (${reply.url.href})`);
  return new URL(loc, reply.url);
}

export class Repository {
  constructor(
    readonly session: RegistrySession,
    /** The repository path: library/busybox, team/app. */
    readonly name: string,
  ) {}

  private path(rest: string): string {
    return `/v2/${this.name}/${rest}`;
  }

  /** A manifest or index by tag or digest; its digest is checked against a digest reference and Docker-Content-Digest. */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const reply = await this.session.request({
      method: 'GET',
      path: this.path(`manifests/${reference}`),
      headers: { Accept: MANIFEST_ACCEPT.join(', ') },
      ...(signal ? { signal } : {}),
    });
    if (reply.status !== 200) return fail(reply, 'GET');
    const bytes = await readReply(reply, MANIFEST_MAX_BYTES);
    const digest = sha256Digest(bytes);
    if (isDigest(reference) && reference !== digest) {
      throw invalid(`manifest verification failed for digest ${reference}: got ${digest}`, 'digest-mismatch');
    }
    const header = reply.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw invalid(`manifest verification failed for digest ${header}: got ${digest}`, 'digest-mismatch');
    }
    const contentType = reply.headers['content-type'];
    const manifest = parseManifest(bytes, contentType);
    return { bytes, mediaType: manifest.mediaType, digest, manifest };
  }

  /** The size of a blob the repository holds, or undefined when it has none. */
  async statBlob(digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    const reply = await this.session.request({ method: 'HEAD', path: this.path(`blobs/${digest}`), ...(signal ? { signal } : {}) });
    discard(reply);
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) return fail(reply, 'HEAD');
    const n = Number(reply.headers['content-length']);
    return Number.isSafeInteger(n) ? n : -1;
  }

  /** GET a blob (redirects to storage followed); the reply's body is the caller's to read. */
  async openBlob(digest: Digest, signal?: AbortSignal): Promise<Reply> {
    const reply = await this.session.request({ method: 'GET', path: this.path(`blobs/${digest}`), ...(signal ? { signal } : {}) });
    if (reply.status !== 200) return fail(reply, 'GET');
    return reply;
  }

  /** Try to mount a blob from another repository of the registry: true when mounted (201). */
  async mountBlob(digest: Digest, from: string, signal?: AbortSignal): Promise<boolean> {
    const session = this.session.withScopes([`repository:${from}:pull`]);
    const q = new URLSearchParams({ mount: digest, from });
    const reply = await session.request({ method: 'POST', path: this.path(`blobs/uploads/?${q.toString()}`), ...(signal ? { signal } : {}), retry: true });
    if (reply.status === 201) {
      discard(reply);
      return true;
    }
    if (reply.status === 202) {
      // Not mountable: an upload session was opened instead; close it.
      discard(reply);
      const loc = locationOf(reply);
      void this.session.request({ method: 'DELETE', path: loc }).then(discard, () => undefined);
      return false;
    }
    if (reply.status === 404 || reply.status === 401 || reply.status === 403) {
      discard(reply);
      return false;
    }
    return fail(reply, 'POST');
  }

  /** Open an upload session; returns its Location. */
  async startUpload(signal?: AbortSignal): Promise<URL> {
    const reply = await this.session.request({ method: 'POST', path: this.path('blobs/uploads/'), ...(signal ? { signal } : {}), retry: true });
    if (reply.status !== 202) return fail(reply, 'POST');
    discard(reply);
    return locationOf(reply);
  }

  /** Finish an upload with the whole blob in one PUT (POST then PUT). */
  async putBlob(location: URL, body: BodySource, digest: Digest, signal?: AbortSignal): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const reply = await this.session.request({
      method: 'PUT',
      path: url,
      headers: { 'Content-Type': 'application/octet-stream' },
      body,
      ...(signal ? { signal } : {}),
      retry: false,
    });
    if (reply.status !== 201 && reply.status !== 204) return fail(reply, 'PUT');
    discard(reply);
  }

  /** Send one chunk (bytes `start`..`start+length-1`); returns the next Location. */
  patchChunk(location: URL, body: BodySource & { readonly length: number }, start: number, signal?: AbortSignal): Promise<URL> {
    return this.patch(location, body, `${start}-${start + body.length - 1}`, signal);
  }

  /** Send a blob whose length is not known yet in one PATCH (chunked transfer encoding, no
   *  Content-Range), as Docker streams a layer while compressing it; returns the next Location. */
  patchStream(location: URL, body: BodySource, signal?: AbortSignal): Promise<URL> {
    return this.patch(location, body, undefined, signal);
  }

  private async patch(location: URL, body: BodySource, range: string | undefined, signal?: AbortSignal): Promise<URL> {
    const reply = await this.session.request({
      method: 'PATCH',
      path: location,
      headers: { 'Content-Type': 'application/octet-stream', ...(range !== undefined ? { 'Content-Range': range } : {}) },
      body,
      ...(signal ? { signal } : {}),
      retry: false,
    });
    if (reply.status !== 202 && reply.status !== 204) return fail(reply, 'PATCH');
    discard(reply);
    return reply.headers.location ? locationOf(reply) : location;
  }

  /** Close a chunked upload: PUT ?digest= without a body. */
  async finishUpload(location: URL, digest: Digest, signal?: AbortSignal): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const reply = await this.session.request({ method: 'PUT', path: url, ...(signal ? { signal } : {}), retry: false });
    if (reply.status !== 201 && reply.status !== 204) return fail(reply, 'PUT');
    discard(reply);
  }

  /** Best effort: drop an upload session that will not be finished. */
  cancelUpload(location: URL): void {
    void this.session.request({ method: 'DELETE', path: location }).then(discard, () => undefined);
  }

  /** PUT a manifest under a tag (or its digest); returns the digest the registry gives it. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<Digest> {
    const reply = await this.session.request({
      method: 'PUT',
      path: this.path(`manifests/${reference}`),
      headers: { 'Content-Type': mediaType },
      body: { length: bytes.byteLength, open: () => bytes },
      ...(signal ? { signal } : {}),
      retry: true,
    });
    if (reply.status !== 201 && reply.status !== 200 && reply.status !== 202) return fail(reply, 'PUT');
    discard(reply);
    const digest = sha256Digest(bytes);
    const header = reply.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw invalid(`registry gave the manifest digest ${header}, expected ${digest}`, 'digest-mismatch');
    }
    return digest;
  }

  /** Every tag of the repository (following `Link` pagination). */
  async listTags(signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let path: string | URL = this.path('tags/list');
    for (let pages = 0; pages < 1000; pages++) {
      const reply = await this.session.request({ method: 'GET', path, ...(signal ? { signal } : {}) });
      if (reply.status !== 200) return fail(reply, 'GET');
      const j = JSON.parse((await readReply(reply)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(j.tags)) out.push(...j.tags.filter((t): t is string => typeof t === 'string'));
      const link = reply.headers.link;
      const m = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      if (!m?.[1]) break;
      path = new URL(m[1], reply.url);
    }
    return out;
  }
}
