// The snapshot store: one directory per applied layer, keyed by chain ID.
//
//   <root>/<id>/fs          the layer's files (an overlay lower directory)
//   <root>/<id>/meta.json   {chainId, diffId, parent, size, created, link}; written last, with
//                           temp + fsync + rename: a directory without it is incomplete
//   <root>/l/<LINK>         -> ../<id>/fs, short names that keep `lowerdir` under one page
//   <root>/empty/           the lower directory of an image with no layers
//
// The chain ID -> snapshot index is rebuilt at open by scanning meta.json files; incomplete
// directories and dangling links are swept then. The root is mode 0700: layers hold setuid
// files and device nodes that only root may reach.

import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, sha256Digest, type Digest } from '../core/digest.ts';
import { conflict, errnoOf, invalid, isEngineError, notFound, systemError } from '../core/errors.ts';
import { digestLayer, extractLayer, type LayerInput } from './apply.ts';
import * as native from './native.ts';
import { mountOverlay as mount, unmount as umount } from './overlay.ts';

export interface SnapshotInfo {
  readonly chainId: Digest;
  readonly diffId: Digest;
  /** Chain ID of the snapshot below, null for a base layer. */
  readonly parent: Digest | null;
  /** Bytes of file data in this layer alone. */
  readonly size: number;
  readonly created: string;
}

interface SnapshotRecord extends SnapshotInfo {
  readonly id: string;
  readonly link: string;
}

export interface ApplyLayerOptions {
  readonly parentChainId?: Digest;
  /** The expected diff ID: lets an existing snapshot be recognised before extracting. */
  readonly diffId?: Digest;
  readonly signal?: AbortSignal;
  /** Awaited once the layer is unpacked and checked, before it is committed; a rejection undoes it. */
  readonly beforeCommit?: () => Promise<void>;
  /**
   * `beforeCommit` resolves only if the same bytes hashed to `diffId` (they are checked on
   * their way elsewhere): they are not hashed again here. Needs `diffId` and `beforeCommit`.
   */
  readonly diffIdCheckedByGate?: boolean;
}

export interface AppliedLayer {
  readonly chainId: Digest;
  readonly diffId: Digest;
  readonly size: number;
  /** False when the snapshot already existed ("Already exists"). */
  readonly created: boolean;
}

export interface OverlayMountOptions {
  /** Snapshots to stack, top first; none for an image FROM scratch. */
  readonly lowerChainIds: readonly Digest[];
  /** Upper and work directories (same filesystem); both absent for a read-only mount. */
  readonly upperDir?: string;
  readonly workDir?: string;
  readonly target: string;
}

export interface SnapshotReader {
  getSnapshot(chainId: Digest): SnapshotInfo | undefined;
  listSnapshots(): SnapshotInfo[];
  snapshotPath(chainId: Digest): string;
}

export interface LayerApplier {
  applyLayer(tar: LayerInput, options?: ApplyLayerOptions): Promise<AppliedLayer>;
}

export interface SnapshotManager {
  /** Refuses (conflict) while another snapshot has it as parent: remove children first. */
  removeSnapshot(chainId: Digest): Promise<void>;
}

export interface OverlayMounter {
  mountOverlay(options: OverlayMountOptions): Promise<void>;
  unmount(target: string): Promise<void>;
}

/** ChainID(L0) = DiffID(L0); ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)). */
export function chainIdOf(parent: Digest | null | undefined, diffId: Digest): Digest {
  return parent === null || parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`);
}

/** Chain IDs of each prefix of a stack of layers given by their diff IDs, bottom first. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | null = null;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}

const ID_RE = /^[0-9a-f]{12}$/;
const LINK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LINK_RE = /^[A-Z2-7]{8}$/;

function newLinkName(): string {
  const bytes = randomBytes(8);
  let s = '';
  for (const b of bytes) s += LINK_ALPHABET[b & 31];
  return s;
}

async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function parseRecord(id: string, text: string): SnapshotRecord {
  const o = JSON.parse(text) as Record<string, unknown>;
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw new Error(`meta.json: ${k} missing`);
    return v;
  };
  if (typeof o.size !== 'number') throw new Error('meta.json: size missing');
  const link = str('link');
  if (!LINK_RE.test(link)) throw new Error('meta.json: bad link');
  return {
    id,
    link,
    chainId: parseDigest(str('chainId')),
    diffId: parseDigest(str('diffId')),
    parent: o.parent === null ? null : parseDigest(str('parent')),
    size: o.size,
    created: str('created'),
  };
}

function info(r: SnapshotRecord): SnapshotInfo {
  return { chainId: r.chainId, diffId: r.diffId, parent: r.parent, size: r.size, created: r.created };
}

export class SnapshotStore implements SnapshotReader, LayerApplier, SnapshotManager, OverlayMounter {
  /** Snapshots being committed, by chain ID, with their records. */
  private readonly pending = new Map<Digest, { readonly record: SnapshotRecord; readonly done: Promise<SnapshotRecord> }>();
  private readonly links = new Set<string>();

  private constructor(
    readonly root: string,
    private readonly records: Map<Digest, SnapshotRecord>,
  ) {
    for (const r of records.values()) this.links.add(r.link);
  }

  /** Open (creating if needed) the store at `root`, sweeping what a crash left half-made. */
  static async open(root: string): Promise<SnapshotStore> {
    await mkdir(join(root, 'l'), { recursive: true });
    await chmod(root, 0o700);
    await mkdir(join(root, 'empty'), { recursive: true, mode: 0o755 });

    const records = new Map<Digest, SnapshotRecord>();
    for (const name of await readdir(root)) {
      if (!ID_RE.test(name)) continue;
      const dir = join(root, name);
      let record: SnapshotRecord | undefined;
      try {
        record = parseRecord(name, await readFile(join(dir, 'meta.json'), 'utf8'));
      } catch {
        record = undefined; // no meta.json, or unreadable: incomplete
      }
      if (record === undefined || records.has(record.chainId)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      records.set(record.chainId, record);
    }

    const wanted = new Map([...records.values()].map((r) => [r.link, r.id] as const));
    for (const name of await readdir(join(root, 'l'))) {
      if (!wanted.has(name)) await rm(join(root, 'l', name), { force: true });
    }
    for (const [link, id] of wanted) {
      const path = join(root, 'l', link);
      const st = await lstat(path).catch(() => undefined);
      if (st?.isSymbolicLink() !== true) {
        await rm(path, { recursive: true, force: true });
        await symlink(`../${id}/fs`, path);
      }
    }
    return new SnapshotStore(root, records);
  }

  getSnapshot(chainId: Digest): SnapshotInfo | undefined {
    const r = this.records.get(chainId);
    return r === undefined ? undefined : info(r);
  }

  listSnapshots(): SnapshotInfo[] {
    return [...this.records.values()].map(info);
  }

  snapshotPath(chainId: Digest): string {
    return join(this.root, this.record(chainId).id, 'fs');
  }

  private record(chainId: Digest): SnapshotRecord {
    const r = this.records.get(chainId);
    if (r === undefined) throw notFound(`snapshot ${chainId} not found`);
    return r;
  }

  async applyLayer(tar: LayerInput, options: ApplyLayerOptions = {}): Promise<AppliedLayer> {
    const parent = options.parentChainId ?? null;
    const { signal } = options;
    if (parent !== null) this.record(parent);

    if (options.diffId !== undefined) {
      const chainId = chainIdOf(parent, options.diffId);
      const known = this.records.get(chainId) ?? (await this.pending.get(chainId)?.done.catch(() => undefined));
      if (known !== undefined) {
        const diffId = await digestLayer(tar, signal);
        if (diffId !== options.diffId) throw invalid(`layer diff ID mismatch: expected ${options.diffId}, got ${diffId}`, 'diff-id-mismatch');
        return { chainId, diffId, size: known.size, created: false };
      }
    }

    let id: string;
    do id = randomBytes(6).toString('hex');
    while (await lstat(join(this.root, id)).then(() => true, () => false));
    const dir = join(this.root, id);
    try {
      await mkdir(dir, { mode: 0o700 });
      await mkdir(join(dir, 'fs'), { mode: 0o755 });
      const trusted = options.diffIdCheckedByGate === true && options.beforeCommit !== undefined ? options.diffId : undefined;
      const { diffId, size } = await extractLayer(tar, join(dir, 'fs'), { signal, ...(trusted ? { knownDiffId: trusted } : {}) });
      if (options.diffId !== undefined && diffId !== options.diffId) {
        throw invalid(`layer diff ID mismatch: expected ${options.diffId}, got ${diffId}`, 'diff-id-mismatch');
      }
      const chainId = chainIdOf(parent, diffId);
      // Flush the unpacked files while the caller's gate (a blob being written and fsynced)
      // finishes: the two flushes overlap instead of following each other.
      let synced: Promise<void> | undefined;
      if (options.beforeCommit) {
        synced = native.syncFilesystem(join(dir, 'fs'));
        synced.catch(() => undefined);
        await Promise.all([options.beforeCommit(), synced]);
      }

      // Decided synchronously, so two concurrent applies of one layer commit it once.
      const known = this.records.get(chainId);
      const inflight = this.pending.get(chainId);
      if (known !== undefined || inflight !== undefined) {
        await rm(dir, { recursive: true, force: true });
        const r = known ?? (await inflight!.done);
        return { chainId, diffId, size: r.size, created: false };
      }
      if (parent !== null && !this.records.has(parent)) throw notFound(`snapshot ${parent} not found`);
      const record: SnapshotRecord = { id, link: this.reserveLink(), chainId, diffId, parent, size, created: new Date().toISOString() };
      const done = this.commit(record, synced !== undefined);
      this.pending.set(chainId, { record, done });
      try {
        await done;
      } finally {
        this.pending.delete(chainId);
      }
      return { chainId, diffId, size, created: true };
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      if (isEngineError(e) || (e as { name?: string }).name === 'AbortError') throw e;
      throw systemError(`applying layer: ${(e as Error).message}`, e);
    }
  }

  private reserveLink(): string {
    let link: string;
    do link = newLinkName();
    while (this.links.has(link));
    this.links.add(link);
    return link;
  }

  private async commit(r: SnapshotRecord, synced = false): Promise<SnapshotRecord> {
    const dir = join(this.root, r.id);
    const linkPath = join(this.root, 'l', r.link);
    try {
      if (!synced) await native.syncFilesystem(join(dir, 'fs'));
      await rm(linkPath, { force: true });
      await symlink(`../${r.id}/fs`, linkPath);
      const { id: _id, ...meta } = r;
      await writeFileAtomic(join(dir, 'meta.json'), `${JSON.stringify(meta)}\n`);
      await syncDir(dir);
    } catch (e) {
      this.links.delete(r.link);
      await rm(linkPath, { force: true });
      throw e;
    }
    this.records.set(r.chainId, r);
    return r;
  }

  async removeSnapshot(chainId: Digest): Promise<void> {
    const r = this.record(chainId);
    const children = [...this.records.values(), ...[...this.pending.values()].map((p) => p.record)].filter((c) => c.parent === chainId).length;
    if (children > 0) throw conflict(`snapshot ${chainId} is the parent of ${children} other snapshot(s)`);
    this.records.delete(chainId);
    const dir = join(this.root, r.id);
    try {
      // meta.json first: a crash from here on leaves an incomplete directory, swept at open.
      await unlink(join(dir, 'meta.json'));
      await rm(join(this.root, 'l', r.link), { force: true });
      this.links.delete(r.link);
      await rm(dir, { recursive: true, force: true });
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      throw systemError(`removing snapshot ${chainId}: ${(e as Error).message}`, e);
    }
  }

  async mountOverlay(options: OverlayMountOptions): Promise<void> {
    const lowers = options.lowerChainIds.map((c) => `l/${this.record(c).link}`);
    if (lowers.length === 0 && options.upperDir === undefined) {
      // A read-only view of no layer: overlayfs would need two distinct lowers; an empty
      // read-only tmpfs is the same view. ("ro" is a mount flag: mount(8) parses it.)
      await native.mount({ type: 'tmpfs', source: 'tmpfs', target: options.target, options: 'ro,mode=755,size=4k,nr_inodes=1', cwd: this.root });
      return;
    }
    if (lowers.length === 0) lowers.push('empty');
    // Without an upper directory overlayfs wants two lowers.
    if (options.upperDir === undefined && lowers.length === 1) lowers.push('empty');
    await mount({ lowers, upperDir: options.upperDir, workDir: options.workDir, target: options.target, cwd: this.root });
  }

  unmount(target: string): Promise<void> {
    return umount(target);
  }
}
