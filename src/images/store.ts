// Image records: ID = config digest, tags in one repositories file, configs in the content
// store, layers as snapshots. Lookup by reference, full ID or unique ID prefix.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, parseDigest, sha256Digest, digestHex, isDigest } from '../core/digest.ts';
import { conflict, invalid, notFound } from '../core/errors.ts';
import { canonicalString, familiarString, parseReference, type Reference } from '../core/reference.ts';
import { ensureDir, readJson, writeJsonAtomic } from '../util/fs.ts';
import type { ImageConfig, ImageRecord, LayerInfo } from './types.ts';

export interface BlobStore {
  writeBlob(data: Readable | Buffer, opts?: { expected?: Digest; signal?: AbortSignal }): Promise<{ digest: Digest; size: number }>;
  readBlob(digest: Digest): Promise<Buffer>;
}

interface StoredImage {
  id: Digest;
  layers: LayerInfo[];
  size: number;
  created: string;
  /** the image this one was built on (build steps, commit), as Docker's Parent */
  parent?: Digest;
}

export interface RemovedEntry { Untagged?: string; Deleted?: string }

export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();
  /** canonical ref (docker.io/library/busybox:latest) -> image id */
  private refs = new Map<string, Digest>();
  /** canonical digest ref (docker.io/library/busybox@sha256:…, a manifest pulled or pushed) -> image id */
  private digestRefs = new Map<string, Digest>();
  private readonly dir: string;
  constructor(root: string, private readonly blobs: BlobStore) {
    this.dir = join(root, 'images');
  }

  async load(): Promise<void> {
    await ensureDir(this.dir);
    for (const f of await readdir(this.dir)) {
      if (f.includes('.tmp-')) {
        await rm(join(this.dir, f), { force: true });
        continue;
      }
      if (!/^[a-f0-9]{64}\.json$/.test(f)) continue;
      const s = await readJson<StoredImage>(join(this.dir, f));
      if (!s) continue;
      try {
        const config = JSON.parse((await this.blobs.readBlob(s.id)).toString('utf8')) as ImageConfig;
        this.images.set(s.id, { ...s, config });
      } catch {
        await rm(join(this.dir, f), { force: true }); // config blob lost: the record is unusable
      }
    }
    const repos = (await readJson<Record<string, string>>(join(this.dir, 'repositories.json'))) ?? {};
    for (const [ref, id] of Object.entries(repos)) if (this.images.has(id)) this.refs.set(ref, parseDigest(id));
    const digests = (await readJson<Record<string, string>>(join(this.dir, 'repodigests.json'))) ?? {};
    for (const [ref, id] of Object.entries(digests)) if (this.images.has(id)) this.digestRefs.set(ref, parseDigest(id));
  }

  private async saveDigestRefs(): Promise<void> {
    await writeJsonAtomic(join(this.dir, 'repodigests.json'), Object.fromEntries(this.digestRefs));
  }

  /** Record that `ref` (name@digest of a manifest in a registry) is this image (RepoDigests). */
  async addRepoDigest(id: Digest, ref: string): Promise<void> {
    const r = parseReference(ref);
    if (!r.digest) throw invalid(`not a digest reference: ${ref}`);
    if (!this.images.has(id)) throw notFound(`No such image: ${id}`);
    const key = canonicalString({ domain: r.domain, path: r.path, digest: r.digest });
    // one digest per repository and image, as Docker keeps them
    for (const [k, v] of this.digestRefs) if (v === id && k !== key && k.startsWith(`${r.domain}/${r.path}@`)) this.digestRefs.delete(k);
    this.digestRefs.set(key, id);
    await this.saveDigestRefs();
  }

  /** The image's repo digests (canonical references with a digest). */
  repoDigestsOf(id: Digest): Reference[] {
    const out: Reference[] = [];
    for (const [ref, v] of this.digestRefs) if (v === id) out.push(parseReference(ref));
    return out;
  }

  private async forgetDigests(id: Digest): Promise<Reference[]> {
    const gone = this.repoDigestsOf(id);
    if (gone.length === 0) return gone;
    for (const r of gone) this.digestRefs.delete(canonicalString(r));
    await this.saveDigestRefs();
    return gone;
  }

  private async saveRefs(): Promise<void> {
    await writeJsonAtomic(join(this.dir, 'repositories.json'), Object.fromEntries(this.refs));
  }

  /**
   * Add an image whose layers are already applied; returns its record (idempotent). `raw` is the
   * config's exact bytes when they come from elsewhere (a pull): the ID is their digest.
   */
  async add(config: ImageConfig, layers: LayerInfo[], parent?: Digest, opts: { raw?: Buffer } = {}): Promise<ImageRecord> {
    const raw = opts.raw ?? Buffer.from(JSON.stringify(config));
    const { digest } = await this.blobs.writeBlob(raw, { expected: sha256Digest(raw) });
    const existing = this.images.get(digest);
    if (existing) return existing;
    const stored: StoredImage = {
      id: digest,
      layers,
      size: layers.reduce((n, l) => n + l.size, 0),
      created: config.created ?? new Date().toISOString(),
      ...(parent ? { parent } : {}),
    };
    await writeJsonAtomic(join(this.dir, `${digestHex(digest)}.json`), stored);
    const rec: ImageRecord = { ...stored, config };
    this.images.set(digest, rec);
    return rec;
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  /** Images built on this one (Docker hides such intermediate images from `images` without -a). */
  childrenOf(id: Digest): ImageRecord[] {
    return [...this.images.values()].filter((r) => r.parent === id);
  }

  tagsOf(id: Digest): Reference[] {
    const out: Reference[] = [];
    for (const [ref, v] of this.refs) if (v === id) out.push(parseReference(ref));
    return out;
  }

  /** Resolve a reference, a full ID (with or without sha256:) or a unique ID prefix. */
  resolve(nameOrId: string): ImageRecord {
    const rec = this.tryResolve(nameOrId);
    if (!rec) throw notFound(`No such image: ${nameOrId}`);
    return rec;
  }

  tryResolve(nameOrId: string): ImageRecord | undefined {
    const s = nameOrId.startsWith('sha256:') ? nameOrId.slice(7) : nameOrId;
    if (/^[a-f0-9]{64}$/.test(s)) {
      const r = this.images.get(`sha256:${s}`);
      if (r) return r;
    }
    let ref: Reference | undefined;
    try {
      ref = parseReference(nameOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      const id = this.refs.get(canonicalString(ref)) ?? (ref.digest ? this.digestRefs.get(canonicalString({ domain: ref.domain, path: ref.path, digest: ref.digest })) : undefined);
      if (id) return this.images.get(id);
      if (ref.digest) {
        const byDigest = this.images.get(ref.digest);
        if (byDigest) return byDigest;
      }
    }
    if (/^[a-f0-9]{1,63}$/.test(s) && !(ref && nameOrId.includes(':'))) {
      const matches = [...this.images.keys()].filter((k) => k.slice(7).startsWith(s));
      if (matches.length === 1) return this.images.get(matches[0] ?? '');
      if (matches.length > 1) throw invalid(`multiple IDs found with provided prefix: ${nameOrId}`);
    }
    return undefined;
  }

  async tag(id: Digest, target: string): Promise<void> {
    const ref = parseReference(target);
    if (ref.digest) throw invalid('refusing to create a tag with a digest reference');
    if (!this.images.has(id)) throw notFound(`No such image: ${id}`);
    this.refs.set(canonicalString(ref), id);
    await this.saveRefs();
  }

  async untag(ref: Reference): Promise<void> {
    this.refs.delete(canonicalString(ref));
    await this.saveRefs();
  }

  /**
   * Docker's rmi rules: a reference untags (and deletes the image when it was the last tag);
   * an ID deletes the image, refusing when several repositories reference it unless forced.
   * `usedBy` returns the containers that use the image.
   */
  async remove(nameOrId: string, opts: { force: boolean; noPrune?: boolean; usedBy: (id: Digest) => string[] }): Promise<RemovedEntry[]> {
    const rec = this.resolve(nameOrId);
    const out: RemovedEntry[] = [];
    const tags = this.tagsOf(rec.id);
    let byRef: Reference | undefined;
    try {
      const r = parseReference(nameOrId);
      if (this.refs.get(canonicalString(r)) === rec.id) byRef = r;
    } catch {
      byRef = undefined;
    }
    const users = opts.usedBy(rec.id);
    if (byRef && tags.length > 1) {
      await this.untag(byRef);
      return [{ Untagged: familiarString(byRef) }];
    }
    if (!byRef && tags.length > 1 && !opts.force) {
      throw conflict(`conflict: unable to delete ${digestHex(rec.id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`);
    }
    if (users.length > 0 && !opts.force) {
      if (byRef) {
        throw conflict(`conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${users[0]?.slice(0, 12)} is using its referenced image ${digestHex(rec.id).slice(0, 12)}`);
      }
      throw conflict(`conflict: unable to delete ${digestHex(rec.id).slice(0, 12)} (cannot be forced) - image is being used by running container ${users[0]?.slice(0, 12)}`);
    }
    for (const t of tags) {
      this.refs.delete(canonicalString(t));
      out.push({ Untagged: familiarString(t) });
    }
    await this.saveRefs();
    if (users.length === 0) {
      for (const d of await this.forgetDigests(rec.id)) out.push({ Untagged: familiarString(d) });
      this.images.delete(rec.id);
      await rm(join(this.dir, `${digestHex(rec.id)}.json`), { force: true });
      out.push({ Deleted: rec.id });
      // untagged parents left without children go too (build steps), unless --no-prune
      let parent = rec.parent ? this.images.get(rec.parent) : undefined;
      while (!opts.noPrune && parent && this.tagsOf(parent.id).length === 0 && this.childrenOf(parent.id).length === 0 && opts.usedBy(parent.id).length === 0) {
        this.images.delete(parent.id);
        await rm(join(this.dir, `${digestHex(parent.id)}.json`), { force: true });
        out.push({ Deleted: parent.id });
        parent = parent.parent ? this.images.get(parent.parent) : undefined;
      }
    }
    return out;
  }

  /** Delete an untagged record outright (prune). */
  async delete(id: Digest): Promise<void> {
    for (const t of this.tagsOf(id)) this.refs.delete(canonicalString(t));
    await this.saveRefs();
    await this.forgetDigests(id);
    this.images.delete(id);
    await rm(join(this.dir, `${digestHex(id)}.json`), { force: true });
  }

  /** Everything still referenced (GC roots for the content store and snapshots). */
  liveBlobs(): Set<string> {
    const s = new Set<string>();
    for (const r of this.images.values()) {
      s.add(r.id);
      for (const l of r.layers) s.add(l.diffId);
    }
    return s;
  }
  liveChains(): Set<string> {
    const s = new Set<string>();
    for (const r of this.images.values()) for (const l of r.layers) s.add(l.chainId);
    return s;
  }
}

export function isImageId(s: string): boolean {
  return isDigest(s);
}
