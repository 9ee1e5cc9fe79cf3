// The classic builder: a Dockerfile and a context directory become an image, one step at a
// time. Each step's result is an image; a step whose cache key (parent image + the instruction
// as evaluated + the build args it uses + for COPY/ADD the checksum of its sources) was seen
// before reuses that image, so only a changed step and the steps after it run again.
// RUN steps run in real containers (the backend; a `#!` heredoc as a script file mounted for the
// step alone); COPY/ADD/WORKDIR write into an overlay of the parent image and commit the upper
// directory. The images FROM and COPY --from name come from the backend, which pulls them when
// they are missing (always, with --pull); the pull's progress is part of the build's events.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Digest } from '../core/digest.ts';
import { EngineError, invalid } from '../core/errors.ts';
import type { ImageRecord, ImageRunConfig } from '../images/types.ts';
import {
  beginStage,
  copyStepKeys,
  evaluateInstruction,
  parseDockerfile,
  parseTrigger,
  requiresBuildKit,
  countSteps,
  type CopyStep,
  type Dockerfile,
  type RunConfig,
  type StageState,
  DockerfileError,
  PROXY_ARGS,
} from './dockerfile/index.ts';
import { checksumSources, resolveCopySources } from './context/index.ts';
import { download, type Downloaded } from './copy.ts';
import { familiarString, parseReference } from '../core/reference.ts';

export type BuildEvent =
  | { readonly kind: 'stream'; readonly text: string }
  /** A FROM (or COPY --from) image being pulled: the pull's own progress, as `docker pull` shows it. */
  | { readonly kind: 'progress'; readonly progress: PullProgress }
  | { readonly kind: 'result'; readonly id: Digest };

/** One progress report of a pull (the registry client's words: `Pulling fs layer`, `Pull complete`…). */
export interface PullProgress {
  /** A layer's short ID, or the tag for `Pulling from …`; absent for whole-image lines. */
  readonly id?: string;
  readonly status: string;
  readonly progress?: { readonly current: number; readonly total?: number };
  readonly layer?: boolean;
}

/** Credentials for one registry (from X-Registry-Config). */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  readonly identityToken?: string;
  readonly registryToken?: string;
}

/** When an image a build names is pulled: only when it is missing, or always (`--pull`). */
export type PullPolicy = 'missing' | 'always';

export interface HistoryText {
  readonly createdBy: string;
  readonly author?: string;
}

/** What the builder needs from the engine (defined here, implemented by engine/build-backend). */
export interface BuildBackend {
  /**
   * The image `ref` (a reference or an ID) names: the local one, else pulled from its registry
   * (`always`: pulled even when present, for a newer version) with the credentials of `auth`
   * for that registry, reporting progress. Fails with the registry's error when it cannot.
   */
  getImage(ref: string, o: { pull: PullPolicy; auth: Readonly<Record<string, RegistryCredentials>>; signal: AbortSignal; onProgress: (p: PullProgress) => void }): Promise<ImageRecord>;
  /** A child image of `parent` with `config` and no new layer. */
  commitConfig(parent: ImageRecord | undefined, config: ImageRunConfig, h: HistoryText): Promise<ImageRecord>;
  /** Run argv in a container of `parent`; stream its output; commit its changes on success. */
  run(o: {
    parent: ImageRecord;
    config: ImageRunConfig;
    history: HistoryText;
    argv: readonly string[];
    /** Files (BuildKit's `#!` heredoc scripts) mounted read-only for the step alone, never in its layer. */
    files: readonly { readonly path: string; readonly content: string; readonly mode: number }[];
    env: readonly string[];
    user: string;
    workingDir: string;
    network: string;
    removeContainer: boolean;
    signal: AbortSignal;
    onContainer: (id: string) => void;
    onOutput: (data: Buffer) => void;
  }): Promise<{ exitCode: number; image?: ImageRecord; containerId: string }>;
  /** Mount `parent` with a fresh upper dir, let `fn` change the tree, commit the changes. */
  change(parent: ImageRecord | undefined, config: ImageRunConfig, h: HistoryText, fn: (rootfs: string) => Promise<void>, signal: AbortSignal): Promise<ImageRecord>;
  /** Mount an image read-only for `fn` (COPY --from). */
  withImage<T>(image: ImageRecord | undefined, fn: (rootfs: string) => Promise<T>): Promise<T>;
  /** Copy the resolved sources of a COPY/ADD step from `srcRoot` into `rootfs`. */
  copyInto(o: { step: CopyStep; srcRoot: string; sources: readonly { path: string; abs: string }[]; downloads: readonly Downloaded[]; rootfs: string; signal: AbortSignal }): Promise<void>;
  cacheGet(key: string): ImageRecord | undefined;
  cachePut(key: string, image: ImageRecord): Promise<void>;
  /** Forget every cache entry; returns the keys removed. */
  cachePrune(): Promise<string[]>;
  tag(image: ImageRecord, ref: string): Promise<void>;
}

export interface BuildOptions {
  readonly contextDir: string;
  readonly dockerfileText: string;
  readonly dockerfileName?: string;
  readonly tags: readonly string[];
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly noCache: boolean;
  /** `--pull`: pull the images FROM and COPY --from name even when they are present. */
  readonly pull?: boolean;
  /** Registry credentials by server address (X-Registry-Config): for the images pulled. */
  readonly registryAuth?: Readonly<Record<string, RegistryCredentials>>;
  readonly removeIntermediate: boolean;
  readonly forceRemove: boolean;
  readonly network: string;
  readonly signal: AbortSignal;
  readonly emit: (e: BuildEvent) => void;
}

/** The step failed; `code` is what the client exits with (RUN's exit code, else 1). */
export class BuildError extends EngineError {
  constructor(message: string, readonly exitCode: number) {
    super('invalid-parameter', message);
  }
}

/** Run a parse/evaluate call; a Dockerfile error gets the file and line it is about in front. */
function located<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DockerfileError && e.location) throw new BuildError(`${e.location.file}:${e.location.startLine}: ${e.message}`, 1);
    throw e;
  }
}

/**
 * A COPY/ADD source from the context must stay inside it: `../x` (or `/../x`, `a/../../x`) is
 * refused as the classic builder refuses it, rather than quietly taken as `x`.
 */
function checkInContext(keyword: string, source: string): void {
  const rel = posix.normalize(source.replace(/^\/+/, '') || '.');
  if (rel === '..' || rel.startsWith('../')) throw new BuildError(`${keyword} failed: forbidden path outside the build context: ${source} ()`, 1);
}

/** A COPY/ADD failure reads as the classic builder's: "COPY failed: <why>". */
async function copyFailed<T>(keyword: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EngineError && !(e instanceof BuildError) && !(e instanceof DockerfileError)) throw new BuildError(`${keyword} failed: ${e.message}`, 1);
    throw e;
  }
}

const short = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

function cacheKeyOf(parent: ImageRecord | undefined, key: string): string {
  return createHash('sha256').update(`${parent?.id ?? 'scratch'}\n${key}`).digest('hex');
}

function toRunConfig(c: ImageRunConfig | undefined): RunConfig | undefined {
  return c as RunConfig | undefined;
}

function toImageConfig(c: RunConfig): ImageRunConfig {
  return JSON.parse(JSON.stringify(c)) as ImageRunConfig;
}

export async function build(backend: BuildBackend, o: BuildOptions): Promise<ImageRecord> {
  const out = (text: string): void => o.emit({ kind: 'stream', text });
  // a bad -t is refused before anything is built, not after
  for (const t of o.tags) parseReference(t);
  const df = located(() =>
    parseDockerfile(o.dockerfileText, {
      file: o.dockerfileName ?? 'Dockerfile',
      buildArgs: { ...o.buildArgs },
      ...(o.target ? { target: o.target } : {}),
      labels: { ...o.labels },
    }),
  );
  const stages = df.requiredStages;
  const total = countSteps(df, stages);
  let step = 0;
  // the global ARGs are steps of their own (evaluated while parsing), as the classic builder prints them
  for (const arg of df.metaArgs) out(`Step ${++step}/${total} : ${arg.original}\n`);
  // build args some ARG declared (for the classic builder's "were not consumed" warning)
  const consumed = new Set<string>(df.metaArgs.flatMap((a) => a.args.map((x) => x.key)));
  const stageImages = new Map<number, ImageRecord | undefined>();
  // each image the build names is looked up (or pulled) once per build, as moby's imageSources
  const named = new Map<string, Promise<ImageRecord>>();
  const getImage = (ref: string): Promise<ImageRecord> => {
    let p = named.get(ref);
    if (!p) {
      p = backend.getImage(ref, {
        pull: o.pull ? 'always' : 'missing',
        auth: o.registryAuth ?? {},
        signal: o.signal,
        onProgress: (progress) => o.emit({ kind: 'progress', progress }),
      });
      named.set(ref, p);
    }
    return p;
  };
  /** COPY --from=<image>: a failure reads as the classic builder's "invalid from flag value". */
  const copyFromImage = (ref: string): Promise<ImageRecord> =>
    getImage(ref).catch((e: unknown) => {
      if (o.signal.aborted) throw e;
      throw new BuildError(`invalid from flag value ${ref}: ${e instanceof Error ? e.message : String(e)}`, 1);
    });
  let image: ImageRecord | undefined;
  for (const idx of stages) {
    const stage = df.stages[idx];
    if (!stage) throw invalid(`unknown stage ${idx}`);
    o.signal.throwIfAborted();
    out(`Step ${++step}/${total} : ${stage.original}\n`);
    let base: ImageRecord | undefined;
    if (stage.base.kind === 'stage') base = stageImages.get(stage.base.index);
    else if (stage.base.kind === 'image') base = await getImage(stage.base.ref);
    image = base;
    if (image) out(` ---> ${short(image.id)}\n`);
    const begun = beginStage(df, idx, toRunConfig(image?.config.config));
    let state: StageState = begun.state;
    // ONBUILD triggers of the base run first
    const instructions = [...located(() => begun.triggers.map((t) => parseTrigger(t, { stages: df.stages, index: idx }))), ...stage.instructions];
    if (begun.triggers.length) out(`# Executing ${begun.triggers.length} build trigger${begun.triggers.length > 1 ? 's' : ''}\n`);
    for (const [n, instr] of instructions.entries()) {
      o.signal.throwIfAborted();
      const isTrigger = n < begun.triggers.length;
      if (!isTrigger) out(`Step ${++step}/${total} : ${instr.original}\n`);
      const ev = located(() => evaluateInstruction(state, instr));
      if (instr.keyword === 'ARG') for (const a of instr.args) consumed.add(a.key);
      for (const note of ev.notes) out(`${note}\n`);
      const config = toImageConfig(ev.state.config);
      const author = ev.state.author;
      let key = '';
      let createdBy = '';
      let copySources: { srcRoot: string; sources: { path: string; abs: string }[]; downloads: Downloaded[] } | undefined;
      const cleanups: (() => Promise<void>)[] = [];
      try {
        if (ev.kind === 'copy') {
          const c = ev.copy;
          const owner = c.preserveOwnership ? {} : { owner: { uid: 0, gid: 0 } };
          await copyFailed(c.keyword, async () => {
            if (c.from.kind === 'context') {
              const sources = c.sources.filter((s) => s.kind === 'path').map((s) => (s as { path: string }).path);
              for (const src of sources) checkInContext(c.keyword, src);
              const resolved = sources.length ? resolveCopySources(o.contextDir, sources) : [];
              // URLs are downloaded before the cache is consulted: their content is part of the
              // key, so a changed remote file invalidates the step (as the classic builder does)
              const urls = c.sources.filter((s) => s.kind === 'url').map((s) => (s as { url: string }).url);
              let downloads: Downloaded[] = [];
              if (urls.length) {
                const dir = await mkdtemp(join(tmpdir(), 'berth-add-'));
                cleanups.push(() => rm(dir, { recursive: true, force: true }));
                downloads = [];
                for (const [i, url] of urls.entries()) downloads.push(await download(url, join(dir, String(i)), o.signal));
              }
              const all = [...resolved, ...downloads.map((d) => ({ path: d.name, abs: d.file }))];
              const label = (await checksumSources(all, owner)).label;
              ({ createdBy, cacheKey: key } = copyStepKeys(ev, label));
              copySources = { srcRoot: o.contextDir, sources: resolved, downloads };
            } else {
              const srcImage = c.from.kind === 'stage' ? stageImages.get(c.from.index) : await copyFromImage(c.from.ref);
              // checksum the sources inside the source image (mounted for the duration of this step)
              const res = await backend.withImage(srcImage, async (root) => {
                const sources = c.sources.map((s) => (s.kind === 'path' ? s.path : s.url));
                const resolved = resolveCopySources(root, sources);
                const sum = await checksumSources(resolved, owner);
                return { label: sum.label };
              });
              ({ createdBy, cacheKey: key } = copyStepKeys(ev, `${res.label}`));
              key = `${key}\nfrom=${srcImage?.id ?? 'scratch'}`;
              copySources = { srcRoot: '', sources: [], downloads: [] };
            }
          });
        } else {
          createdBy = ev.createdBy;
          key = ev.cacheKey;
        }
        if (ev.kind === 'run' && ev.run.flagsUsed.length) throw new BuildError(requiresBuildKit(ev.run.flagsUsed[0] ?? ''), 1);
        const ck = cacheKeyOf(image, key);
        const hit = o.noCache ? undefined : backend.cacheGet(ck);
        if (hit) {
          out(' ---> Using cache\n');
          image = hit;
          out(` ---> ${short(image.id)}\n`);
          state = ev.state;
          continue;
        }
        const h: HistoryText = { createdBy, ...(author ? { author } : {}) };
        let next: ImageRecord;
        switch (ev.kind) {
          case 'config':
            next = await backend.commitConfig(image, config, h);
            break;
          case 'workdir':
            next = await backend.change(image, config, h, async (rootfs) => {
              const { resolveInRoot } = await import('../util/root-path.ts');
              const { mkdir } = await import('node:fs/promises');
              await mkdir(await resolveInRoot(rootfs, ev.path), { recursive: true, mode: 0o755 });
            }, o.signal);
            break;
          case 'run': {
            if (!image) throw new BuildError('The command requires a base image with a shell; FROM scratch has none', 1);
            let cid = '';
            const r = await backend.run({
              parent: image,
              config,
              history: h,
              argv: ev.run.argv,
              files: ev.run.files,
              env: ev.run.env,
              user: ev.run.user,
              workingDir: ev.run.workingDir,
              network: o.network,
              removeContainer: o.removeIntermediate || o.forceRemove,
              signal: o.signal,
              onContainer: (id) => {
                cid = id;
                out(` ---> Running in ${short(id)}\n`);
              },
              onOutput: (d) => out(d.toString('utf8')),
            });
            if (r.exitCode !== 0 || !r.image) {
              throw new BuildError(`The command '${ev.run.argv.join(' ')}' returned a non-zero code: ${r.exitCode}`, r.exitCode);
            }
            if (o.removeIntermediate || o.forceRemove) out(` ---> Removed intermediate container ${short(cid)}\n`);
            next = r.image;
            break;
          }
          case 'copy': {
            const c = ev.copy;
            next = await copyFailed(c.keyword, () => backend.change(image, config, h, async (rootfs) => {
              if (c.from.kind === 'context') {
                await backend.copyInto({ step: ev, srcRoot: copySources?.srcRoot ?? o.contextDir, sources: copySources?.sources ?? [], downloads: copySources?.downloads ?? [], rootfs, signal: o.signal });
                return;
              }
              const srcImage = c.from.kind === 'stage' ? stageImages.get(c.from.index) : await copyFromImage(c.from.ref);
              await backend.withImage(srcImage, async (root) => {
                const resolved = resolveCopySources(root, c.sources.map((s) => (s.kind === 'path' ? s.path : s.url)));
                await backend.copyInto({ step: ev, srcRoot: root, sources: resolved, downloads: [], rootfs, signal: o.signal });
              });
            }, o.signal));
            break;
          }
        }
        await backend.cachePut(ck, next);
        image = next;
        state = ev.state;
        out(` ---> ${short(image.id)}\n`);
      } finally {
        for (const f of cleanups) await f().catch(() => undefined);
      }
    }
    if (!image) image = await backend.commitConfig(undefined, toImageConfig(state.config), { createdBy: '' });
    stageImages.set(idx, image);
  }
  if (!image) throw invalid('no image was built');
  const unused = Object.keys(o.buildArgs).filter((k) => !consumed.has(k) && !PROXY_ARGS.has(k)).sort();
  if (unused.length) out(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
  o.emit({ kind: 'result', id: image.id });
  out(`Successfully built ${short(image.id)}\n`);
  for (const t of o.tags) {
    await backend.tag(image, t);
    out(`Successfully tagged ${familiarString(parseReference(t))}\n`);
  }
  return image;
}
