// What berth remembers about the compressed form of its layers (Docker's "v2 metadata"): for a
// diff ID, the compressed blobs known for it — digest, media type, size, and the registry and
// repository that hold them. A push asks before compressing: the registry may already have the
// blob (HEAD) or hold it in another repository (mount). Kept in one JSON file written with
// temp + fsync + rename; losing it costs only a recompression.

import { join } from 'node:path';
import { isDigest, type Digest } from '../../core/digest.ts';
import { ensureDir, readJson, writeJsonAtomic } from '../../util/fs.ts';

export interface LayerBlob {
  readonly diffId: Digest;
  /** Digest of the compressed blob. */
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** Registry domain (docker.io, localhost:5000); '' when the blob was only computed here. */
  readonly registry: string;
  /** Repository path in that registry; '' when unknown. */
  readonly repository: string;
}

export interface LayerMemory {
  blobsOf(diffId: Digest): readonly LayerBlob[];
  remember(blob: LayerBlob): Promise<void>;
}

const MAX_PER_LAYER = 32;

interface FileShape {
  readonly version: 1;
  readonly layers: Record<string, LayerBlob[]>;
}

function valid(b: unknown): b is LayerBlob {
  if (typeof b !== 'object' || b === null) return false;
  const o = b as Record<string, unknown>;
  return (
    typeof o.diffId === 'string' && isDigest(o.diffId) &&
    typeof o.digest === 'string' && isDigest(o.digest) &&
    typeof o.mediaType === 'string' && typeof o.size === 'number' &&
    typeof o.registry === 'string' && typeof o.repository === 'string'
  );
}

/** A LayerMemory in `<dir>/layers.json`. */
export class FileLayerMemory implements LayerMemory {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly layers: Map<string, LayerBlob[]>,
  ) {}

  static async open(dir: string): Promise<FileLayerMemory> {
    await ensureDir(dir);
    const file = join(dir, 'layers.json');
    const layers = new Map<string, LayerBlob[]>();
    const data = await readJson<FileShape>(file).catch(() => undefined);
    for (const [diffId, list] of Object.entries(data?.layers ?? {})) {
      if (!Array.isArray(list)) continue;
      const ok = list.filter(valid);
      if (ok.length) layers.set(diffId, ok);
    }
    return new FileLayerMemory(file, layers);
  }

  blobsOf(diffId: Digest): readonly LayerBlob[] {
    return this.layers.get(diffId) ?? [];
  }

  remember(blob: LayerBlob): Promise<void> {
    const list = (this.layers.get(blob.diffId) ?? []).filter(
      (b) => !(b.digest === blob.digest && b.registry === blob.registry && b.repository === blob.repository),
    );
    list.unshift(blob); // most recent first
    this.layers.set(blob.diffId, list.slice(0, MAX_PER_LAYER));
    this.writing = this.writing.then(
      () => this.save(),
      () => this.save(),
    );
    return this.writing;
  }

  private async save(): Promise<void> {
    const out: FileShape = { version: 1, layers: Object.fromEntries(this.layers) };
    await writeJsonAtomic(this.file, out);
  }
}

/** A LayerMemory kept in memory only (tests, or when the state directory is unwritable). */
export class InMemoryLayerMemory implements LayerMemory {
  private readonly layers = new Map<string, LayerBlob[]>();
  blobsOf(diffId: Digest): readonly LayerBlob[] {
    return this.layers.get(diffId) ?? [];
  }
  remember(blob: LayerBlob): Promise<void> {
    const list = (this.layers.get(blob.diffId) ?? []).filter((b) => !(b.digest === blob.digest && b.registry === blob.registry && b.repository === blob.repository));
    list.unshift(blob);
    this.layers.set(blob.diffId, list.slice(0, MAX_PER_LAYER));
    return Promise.resolve();
  }
}
