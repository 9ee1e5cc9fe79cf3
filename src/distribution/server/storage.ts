// Repositories on disk. Blobs (layers, configs and manifests alike) live once in a content
// store at the root; a repository only holds links to them:
//
//   <root>/blobs/sha256/<hex>, <root>/ingest/                      the content store
//   <root>/repositories/<name>/_links/<hex>                         a blob of the repository
//   <root>/repositories/<name>/_manifests/revisions/<hex>           a manifest of it (JSON record)
//   <root>/repositories/<name>/_manifests/tags/<tag>                tag -> digest
//   <root>/repositories/<name>/_manifests/referrers/<subject>/<hex> descriptor of a referrer
//
// Lifecycle: a blob is committed to the content store first, then linked; a manifest's blob is
// committed, then its revision, its referrer entry and finally its tag are written. Every
// small file is written to a dot-temp file, fsynced and renamed, so a crash leaves either the
// old state or the new one (dot names are never valid tags or digests, so listings skip
// them). Deleting unlinks; unreferenced blobs stay in the content store for garbage collection.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, isDigest, type Digest } from '../../core/digest.ts';
import { errnoOf, isEngineError } from '../../core/errors.ts';
import type { BlobInfo, ContentStore } from '../../content/index.ts';
import { readJson } from '../../util/fs.ts';
import { isTag, parseRepositoryName, type RepositoryName, type Tag } from './names.ts';

/** What the server keeps about a manifest of a repository. */
export interface ManifestRevision {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly subject?: Digest;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A referrer as the referrers API lists it (an OCI descriptor). */
export interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Order of tags and names in listings: case-insensitive, ties broken by code point (spec). */
export function compareLexical(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class RegistryStorage {
  private readonly repos: string;

  constructor(
    root: string,
    readonly content: ContentStore,
  ) {
    this.repos = join(root, 'repositories');
  }

  private repoDir(name: RepositoryName): string {
    return join(this.repos, ...name.split('/'));
  }

  private linkPath(name: RepositoryName, digest: Digest): string {
    return join(this.repoDir(name), '_links', digestHex(digest));
  }

  private revisionPath(name: RepositoryName, digest: Digest): string {
    return join(this.repoDir(name), '_manifests', 'revisions', digestHex(digest));
  }

  private tagsDir(name: RepositoryName): string {
    return join(this.repoDir(name), '_manifests', 'tags');
  }

  private referrersDir(name: RepositoryName, subject: Digest): string {
    return join(this.repoDir(name), '_manifests', 'referrers', digestHex(subject));
  }

  /** A repository exists once something was pushed to it. */
  async hasRepository(name: RepositoryName): Promise<boolean> {
    return (await exists(join(this.repoDir(name), '_links'))) || (await exists(join(this.repoDir(name), '_manifests')));
  }

  // --- blobs ------------------------------------------------------------------------------

  async linkBlob(name: RepositoryName, digest: Digest): Promise<void> {
    await writeAtomic(join(this.repoDir(name), '_links'), digestHex(digest), digest);
  }

  /**
   * Size of a blob of the repository (one linked to it, or one of its manifests, which are
   * blobs too), undefined when it is neither or no longer stored.
   */
  async statBlob(name: RepositoryName, digest: Digest): Promise<BlobInfo | undefined> {
    if (!(await exists(this.linkPath(name, digest))) && !(await exists(this.revisionPath(name, digest)))) return undefined;
    try {
      return await this.content.statBlob(digest);
    } catch (e) {
      if (isEngineError(e, 'not-found')) return undefined; // linked, but collected since
      throw e;
    }
  }

  /** The blob's file, open for reading (the caller closes it). */
  openBlobFile(digest: Digest): Promise<FileHandle> {
    return this.content.openBlobFile(digest);
  }

  /** True when a link was removed. */
  async unlinkBlob(name: RepositoryName, digest: Digest): Promise<boolean> {
    return removeFile(this.linkPath(name, digest));
  }

  // --- manifests --------------------------------------------------------------------------

  async getRevision(name: RepositoryName, digest: Digest): Promise<ManifestRevision | undefined> {
    const rev = await readJson<ManifestRevision>(this.revisionPath(name, digest));
    if (rev === undefined || rev.digest !== digest) return undefined;
    return rev;
  }

  async resolveTag(name: RepositoryName, tag: Tag): Promise<Digest | undefined> {
    let text: string;
    try {
      text = (await readFile(join(this.tagsDir(name), tag), 'utf8')).trim();
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return undefined;
      throw e;
    }
    return isDigest(text) ? text : undefined;
  }

  /**
   * Record a manifest whose bytes are already in the content store: its revision, its entry in
   * the referrers of its subject, then the tag (so a tag never names an unknown manifest).
   */
  async putManifest(name: RepositoryName, revision: ManifestRevision, tag?: Tag): Promise<void> {
    const { digest } = revision;
    await writeAtomic(join(this.repoDir(name), '_manifests', 'revisions'), digestHex(digest), JSON.stringify(revision));
    if (revision.subject !== undefined) {
      const referrer: ReferrerDescriptor = {
        mediaType: revision.mediaType,
        digest,
        size: revision.size,
        ...(revision.artifactType !== undefined ? { artifactType: revision.artifactType } : {}),
        ...(revision.annotations !== undefined ? { annotations: revision.annotations } : {}),
      };
      await writeAtomic(this.referrersDir(name, revision.subject), digestHex(digest), JSON.stringify(referrer));
    }
    if (tag !== undefined) await writeAtomic(this.tagsDir(name), tag, digest);
  }

  /** Tags of the repository in lexical order. */
  async listTags(name: RepositoryName): Promise<Tag[]> {
    return (await listDir(this.tagsDir(name))).filter(isTag).sort(compareLexical);
  }

  /** True when the tag existed. */
  async deleteTag(name: RepositoryName, tag: Tag): Promise<boolean> {
    return removeFile(join(this.tagsDir(name), tag));
  }

  /** Remove a manifest from the repository with every tag naming it. True when it existed. */
  async deleteManifest(name: RepositoryName, digest: Digest): Promise<boolean> {
    const rev = await this.getRevision(name, digest);
    if (rev === undefined) return false;
    for (const tag of await this.listTags(name)) {
      if ((await this.resolveTag(name, tag)) === digest) await removeFile(join(this.tagsDir(name), tag));
    }
    if (rev.subject !== undefined) await removeFile(join(this.referrersDir(name, rev.subject), digestHex(digest)));
    await removeFile(this.revisionPath(name, digest));
    return true;
  }

  /** Manifests of the repository whose subject is `subject`, by digest. */
  async listReferrers(name: RepositoryName, subject: Digest): Promise<ReferrerDescriptor[]> {
    const dir = this.referrersDir(name, subject);
    const out: ReferrerDescriptor[] = [];
    for (const hex of await listDir(dir)) {
      const digest = `sha256:${hex}`;
      if (!isDigest(digest)) continue;
      const d = await readJson<ReferrerDescriptor>(join(dir, hex));
      // A referrer entry outlives nothing: it must still be a manifest of the repository.
      if (d !== undefined && d.digest === digest && (await this.getRevision(name, digest)) !== undefined) out.push(d);
    }
    return out.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }

  // --- catalog ----------------------------------------------------------------------------

  /** Every repository, in lexical order. */
  async listRepositories(): Promise<RepositoryName[]> {
    const out: RepositoryName[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await listDir(dir);
      if (prefix !== '' && (entries.includes('_links') || entries.includes('_manifests'))) {
        try {
          out.push(parseRepositoryName(prefix));
        } catch {
          // not one of ours
        }
      }
      for (const e of entries) {
        if (e.startsWith('_') || e.startsWith('.')) continue;
        const path = join(dir, e);
        if (await isDirectory(path)) await walk(path, prefix === '' ? e : `${prefix}/${e}`);
      }
    };
    await walk(this.repos, '');
    return out.sort(compareLexical);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return false;
    throw e;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw e;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return [];
    throw e;
  }
}

async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return false;
    throw e;
  }
}

/** Write `dir/name` through a dot-temp file: fsync, rename, fsync the directory. */
async function writeAtomic(dir: string, name: string, data: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, name));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
