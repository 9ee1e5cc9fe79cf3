// The composition root: opens the stores, recovers state at start-up, wires the services,
// and collects garbage by marking from roots (images, containers).
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ImageStore } from '../images/store.ts';
import { importImage } from '../images/import.ts';
import type { ImageRecord, ImageRunConfig } from '../images/types.ts';
import { addChildImage, addLayer } from '../images/commit.ts';
import { applyChanges } from '../images/changes.ts';
import { build, type BuildBackend, type BuildOptions } from '../build/builder.ts';
import { openBuildBackend } from './build-backend.ts';
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
    engine.backend = openBuildBackend(engine); // sweeps what an interrupted build left
    await engine.backend;
    return engine;
  }

  close(): void {
    this.containers.close();
  }

  importImage(input: Readable, opts: { changes?: string[]; message?: string; tag?: string; signal?: AbortSignal }): Promise<ImageRecord> {
    return importImage(input, { images: this.images, blobs: this.content, layers: this.snapshots }, opts);
  }

  private backend?: Promise<BuildBackend>;
  /** Build an image from a Dockerfile (the classic builder, with its layer cache). */
  async build(o: BuildOptions): Promise<ImageRecord> {
    this.backend ??= openBuildBackend(this);
    return build(await this.backend, o);
  }

  /** `builder prune`: forget the build cache, then drop the step images nothing uses any more. */
  async pruneBuildCache(): Promise<{ keys: string[]; space: number }> {
    this.backend ??= openBuildBackend(this);
    const keys = await (await this.backend).cachePrune();
    let space = 0;
    const used = new Set(this.containers.store.list().map((c) => c.config.imageId as string));
    for (let progress = true; progress; ) {
      progress = false;
      for (const img of this.images.list()) {
        if (this.images.tagsOf(img.id).length > 0 || this.images.childrenOf(img.id).length > 0 || used.has(img.id) || !img.parent) continue;
        await this.images.delete(img.id);
        space += img.layers[img.layers.length - 1]?.size ?? 0;
        progress = true;
      }
    }
    space = Math.max(space, await this.collectGarbage());
    return { keys, space };
  }

  /** A container's writable layer as a new image (`commit`). */
  async commit(idOrName: string, o: { changes?: string[]; message?: string; author?: string; tag?: string; pause?: boolean; config?: Partial<ImageRunConfig> }): Promise<ImageRecord> {
    const rec = this.containers.store.resolve(idOrName);
    const parent = this.images.tryResolve(rec.config.imageId);
    const paused = o.pause !== false && rec.state.status === 'running';
    if (paused) await this.containers.pause(rec.id);
    let layer;
    try {
      const tar = this.snapshots.diffLayer(join(this.containers.store.dirOf(rec.id), 'upper'));
      layer = await addLayer({ blobs: this.content, layers: this.snapshots }, parent?.layers ?? [], tar);
    } finally {
      if (paused) await this.containers.unpause(rec.id).catch(() => undefined);
    }
    const c = rec.config;
    const base: ImageRunConfig = {
      ...(parent?.config.config ?? {}),
      Env: [...c.env],
      Cmd: c.cmd ? [...c.cmd] : null,
      Entrypoint: c.entrypoint ? [...c.entrypoint] : null,
      WorkingDir: c.workingDir,
      User: c.user,
      Labels: { ...c.labels },
      ...(Object.keys(c.exposedPorts).length ? { ExposedPorts: { ...c.exposedPorts } } : {}),
      ...(c.stopSignal ? { StopSignal: c.stopSignal } : {}),
      ...(o.config ?? {}),
    };
    const run = applyChanges(base, o.changes ?? []);
    const img = await addChildImage({ images: this.images }, parent, run, layer, {
      createdBy: [c.path, ...c.args].join(' '),
      ...(o.message ? { comment: o.message } : {}),
      ...(o.author ? { author: o.author } : {}),
    });
    if (o.tag) await this.images.tag(img.id, o.tag);
    return img;
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
