// The composition root: opens the stores, recovers state at start-up, wires the services,
// and collects garbage by marking from roots (images, containers).
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ImageStore } from '../images/store.ts';
import { importImage } from '../images/import.ts';
import type { ImageRecord } from '../images/types.ts';
import { ContainerService } from './container-service.ts';
import { layout, type EnginePaths } from './paths.ts';
import { openContent, openSnapshots, type ContentPort, type SnapshotPort } from './stores.ts';
import { ensureDir, readJson, writeJsonAtomic } from '../util/fs.ts';
import { join } from 'node:path';

export class Engine {
  readonly images: ImageStore;
  readonly containers: ContainerService;
  private constructor(
    readonly paths: EnginePaths,
    readonly id: string,
    readonly content: ContentPort,
    readonly snapshots: SnapshotPort,
  ) {
    this.images = new ImageStore(paths.dataRoot, content);
    this.containers = new ContainerService(paths, this.images, snapshots);
  }

  static async open(paths: EnginePaths): Promise<Engine> {
    await ensureDir(paths.dataRoot);
    await ensureDir(paths.runRoot);
    const l = layout(paths);
    const content = await openContent(l.content);
    const snapshots = await openSnapshots(l.snapshots);
    const idFile = join(paths.dataRoot, 'engine-id.json');
    let id = (await readJson<{ id: string }>(idFile))?.id;
    if (!id) {
      id = randomUUID();
      await writeJsonAtomic(idFile, { id });
    }
    const engine = new Engine(paths, id, content, snapshots);
    await engine.images.load();
    await engine.containers.init();
    return engine;
  }

  close(): void {
    this.containers.close();
  }

  importImage(input: Readable, opts: { changes?: string[]; message?: string; tag?: string; signal?: AbortSignal }): Promise<ImageRecord> {
    return importImage(input, { images: this.images, blobs: this.content, layers: this.snapshots }, opts);
  }

  /** Remove blobs and snapshots no image or container refers to; returns bytes freed. */
  async collectGarbage(): Promise<number> {
    const liveChains = this.images.liveChains();
    for (const c of this.containers.store.list()) for (const l of c.layers) liveChains.add(l);
    const liveBlobs = this.images.liveBlobs();
    let freed = 0;
    freed += await this.snapshots.removeUnreferenced(liveChains);
    freed += await this.content.removeUnreferenced(liveBlobs);
    return freed;
  }
}
