// The builder's backend: the images a build names (FROM, COPY --from), pulled from their
// registries when missing (or always, with --pull) with the client's X-Registry-Config logins;
// RUN steps in real containers (heredoc scripts bind-mounted read-only), COPY/ADD/WORKDIR in an
// overlay of the parent image, each step committed as an image; the build cache as files under
// the data root.
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { EngineError, errnoOf, notFound } from '../core/errors.ts';
import * as libc from '../sys/libc.ts';
import type { BuildBackend, RegistryCredentials } from '../build/builder.ts';
import { DEFAULT_DOMAIN, familiarString, parseReference } from '../core/reference.ts';
import type { ImageRecord } from '../images/types.ts';
import { pullImage, type RegistryAuth } from './distribution.ts';
import { copyInto } from '../build/copy.ts';
import { addChildImage, addLayer } from '../images/commit.ts';
import { ensureDir, writeFileAtomic } from '../util/fs.ts';
import type { Engine } from './engine.ts';

type RunOptions = Parameters<BuildBackend['run']>[0];
type RunResult = Awaited<ReturnType<BuildBackend['run']>>;

/** Codes of pull errors whose message names the image (engine/distribution's pullError). */
const NAMES_IMAGE = new Set(['manifest-unknown', 'name-unknown', 'denied']);

/** The key Docker Hub's credentials go under (config.json, X-Registry-Config). */
const HUB_INDEX_SERVER = 'https://index.docker.io/v1/';

/**
 * The classic builder runs a RUN step with the image's VOLUMEs mounted, so whatever the step
 * writes below a declared volume is lost with it ("changes to the volume after it has been
 * declared are discarded"). berth's RUN containers write there into their upper directory:
 * empty each volume's directory in the upper dir (changes, whiteouts, an opaque marker) so that
 * only the mount point itself can reach the layer.
 */
async function discardVolumeChanges(upper: string, volumes: readonly string[]): Promise<void> {
  for (const v of volumes) {
    const parts = posix.normalize(`/${v}`).split('/').filter(Boolean);
    if (parts.length === 0) continue;
    let p = upper;
    let st: Stats | undefined;
    let depth = 0;
    for (const part of parts) {
      p = join(p, part);
      depth++;
      st = await lstat(p).catch(() => undefined);
      if (!st?.isDirectory()) break;
    }
    if (!st) continue; // the step did not touch it
    if (!st.isDirectory()) {
      // the mount point itself deleted (a whiteout) or replaced: impossible with a volume mounted there
      if (depth === parts.length) await rm(p, { force: true, recursive: true });
      continue;
    }
    for (const name of await readdir(p)) await rm(join(p, name), { recursive: true, force: true });
    try {
      libc.lremovexattr(p, 'trusted.overlay.opaque');
    } catch (e) {
      if (errnoOf(e) !== 'ENODATA' && errnoOf(e) !== 'ENOTSUP') throw e;
    }
  }
}

/**
 * What the runtime puts into a container's root filesystem for its own mounts: the mount points
 * of /proc, /dev and /sys, and the files /etc/hosts, /etc/hostname and /etc/resolv.conf are
 * bind-mounted onto. Docker keeps them in a separate "init" layer that a commit leaves out; a
 * RUN container here creates them in its upper directory, so they are taken out of it before the
 * diff (the step cannot have written to any of them: each is a mount while it runs).
 */
const RUNTIME_PATHS = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'proc', 'dev', 'sys'];

async function discardRuntimeFiles(upper: string, lower: string): Promise<void> {
  const lstatOrNot = (p: string): Promise<Stats | undefined> => lstat(p).catch(() => undefined);
  for (const rel of RUNTIME_PATHS) {
    if (await lstatOrNot(join(upper, rel))) await rm(join(upper, rel), { recursive: true, force: true });
  }
  // /etc itself when it is only there for the files above: empty, not opaque, and either new or
  // with the lower directory's owner and mode (a copy-up made to create them)
  const etc = join(upper, 'etc');
  const st = await lstatOrNot(etc);
  if (!st?.isDirectory() || (await readdir(etc)).length > 0) return;
  if (libc.lgetxattr(etc, 'trusted.overlay.opaque') !== null) return;
  const below = await lstatOrNot(join(lower, 'etc'));
  if (below && !(below.isDirectory() && below.mode === st.mode && below.uid === st.uid && below.gid === st.gid)) return;
  await rm(etc, { recursive: true, force: true });
}

/** `ref` is (a prefix of) the ID of `image` rather than a name. */
function isImageId(ref: string, image: ImageRecord): boolean {
  const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
  return /^[a-f0-9]{1,64}$/.test(hex) && image.id.slice(7).startsWith(hex);
}

/** `http://host:5000/v2/` -> host:5000 (moby's ConvertToHostname). */
function hostnameOf(server: string): string {
  return server.replace(/^https?:\/\//, '').split('/')[0] ?? '';
}

/**
 * The credentials X-Registry-Config holds for a registry domain (moby's ResolveAuthConfig): the
 * entry under its key (Docker Hub's is https://index.docker.io/v1/), else for any other registry
 * one whose server address has the same host name.
 */
export function credentialsFor(auth: Readonly<Record<string, RegistryCredentials>>, domain: string): RegistryAuth | undefined {
  const hub = domain === DEFAULT_DOMAIN;
  const key = hub ? HUB_INDEX_SERVER : domain;
  const found = auth[key] ?? (hub ? undefined : Object.entries(auth).find(([server]) => hostnameOf(server) === key)?.[1]);
  if (!found || Object.values(found).every((v) => v === undefined || v === '')) return undefined;
  return found;
}

export async function openBuildBackend(engine: Engine): Promise<BuildBackend> {
  const root = join(engine.paths.dataRoot, 'builder');
  const cacheDir = join(root, 'cache');
  const tmpRoot = join(root, 'tmp');
  const deps = { blobs: engine.content, layers: engine.snapshots };
  // the cache: key -> image ID; entries whose image is gone simply miss
  const cacheMap = new Map<string, string>();
  await ensureDir(cacheDir);
  for (const f of await readdir(cacheDir)) {
    if (!/^[a-f0-9]{64}$/.test(f)) continue;
    const id = (await readFile(join(cacheDir, f), 'utf8')).trim();
    // entries of images removed since (rmi, image prune) go with them
    if (engine.images.tryResolve(id)) cacheMap.set(f, id);
    else await rm(join(cacheDir, f), { force: true });
  }
  // leftovers of a build the daemon did not live to finish: its overlay mounts, then the files
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${tmpRoot}/`))
    .reverse();
  for (const m of mounts) await engine.snapshots.unmount(m).catch(() => undefined);
  await rm(tmpRoot, { recursive: true, force: true });

  const scratchDir = async (): Promise<string> => {
    await ensureDir(tmpRoot);
    const d = join(tmpRoot, randomBytes(6).toString('hex'));
    await mkdir(d, { mode: 0o700 });
    return d;
  };

  /** A RUN step's container: created, attached, started, waited for, committed on success. */
  async function runContainer(o: RunOptions, binds: readonly { source: string; destination: string }[]): Promise<RunResult> {
    const cs = engine.containers;
    const { id } = await cs.create({
      image: o.parent.id,
      cmd: [...o.argv],
      entrypoint: [''],
      env: [...o.env],
      workingDir: o.workingDir,
      user: o.user,
      hostname: '',
      domainname: '',
      tty: false,
      openStdin: false,
      stdinOnce: false,
      attachStdin: false,
      attachStdout: true,
      attachStderr: true,
      labels: {},
      exposedPorts: {},
      volumes: {},
      hostConfig: {
        autoRemove: false,
        networkMode: o.network || 'default',
        init: false,
        privileged: false,
        readonlyRootfs: false,
        capAdd: [],
        capDrop: [],
        memory: 0,
        pidsLimit: 0,
        nanoCpus: 0,
        shmSize: 0,
        restartPolicy: { name: 'no', maximumRetryCount: 0 },
        ...(binds.length ? { readonlyBinds: binds } : {}),
        raw: {},
      },
    });
    // from here on the container is ours to remove if the build is interrupted: listen first,
    // then look, so an abort that came while the container was being created is not missed
    const onAbort = (): void => void cs.kill(id, 'KILL').catch(() => undefined);
    o.signal.addEventListener('abort', onAbort);
    let handle: { detach(): void } | undefined;
    try {
      o.signal.throwIfAborted();
      o.onContainer(id);
      let done!: () => void;
      const closed = new Promise<void>((r) => (done = r));
      handle = await cs.attach(id, { wantsStdin: false, output: (_s, d) => o.onOutput(d), closed: () => done() });
      o.signal.throwIfAborted();
      const waiting = cs.wait(id, 'next-exit');
      waiting.catch(() => undefined); // awaited below; never an unhandled rejection if start fails
      await cs.start(id);
      if (o.signal.aborted) onAbort();
      const { code } = await waiting;
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      handle.detach();
      o.signal.throwIfAborted();
      if (code !== 0) return { exitCode: code, containerId: id };
      const upper = join(cs.store.dirOf(id), 'upper');
      await discardVolumeChanges(upper, Object.keys(o.config.Volumes ?? {}));
      await backend.withImage(o.parent, (lower) => discardRuntimeFiles(upper, lower));
      const layer = await addLayer(deps, o.parent.layers, engine.snapshots.diffLayer(join(cs.store.dirOf(id), 'upper')), o.signal);
      const image = await addChildImage({ images: engine.images }, o.parent, o.config, layer, o.history);
      return { exitCode: 0, image, containerId: id };
    } finally {
      o.signal.removeEventListener('abort', onAbort);
      handle?.detach();
      if (o.removeContainer || o.signal.aborted) await cs.remove(id, { force: true }).catch(() => undefined);
    }
  }

  const backend: BuildBackend = {
    async getImage(ref, o) {
      const local = engine.images.tryResolve(ref);
      // an ID names one local image: there is nothing to pull
      if (local && (o.pull === 'missing' || isImageId(ref, local))) return local;
      // a name that is not a reference is not pulled either (moby's ParseNormalizedNamed fails)
      const r = parseReference(ref);
      const auth = credentialsFor(o.auth, r.domain);
      let pulled;
      try {
        pulled = await pullImage(engine, ref, { ...(auth ? { auth } : {}), signal: o.signal, onProgress: o.onProgress });
      } catch (e) {
        // the registry's answers about the image name it already; a network or login failure
        // ("Get https://…/v2/: …") is told about which image the build wanted
        if (o.signal.aborted || !(e instanceof EngineError) || NAMES_IMAGE.has(e.code)) throw e;
        throw new EngineError(e.kind, `failed to pull ${familiarString(r)}: ${e.message}`, { code: e.code, cause: e });
      }
      const image = pulled[0]?.image;
      if (!image) throw notFound(`No such image: ${ref}`);
      return image;
    },

    commitConfig(parent, config, h) {
      return addChildImage({ images: engine.images }, parent, config, undefined, h);
    },

    async run(o) {
      // heredoc scripts: files in directories of their own, bind-mounted read-only where the
      // step expects them (/dev/pipes), so that nothing of them reaches the step's layer
      const binds: { source: string; destination: string }[] = [];
      const filesDir = o.files.length ? await scratchDir() : undefined;
      try {
        for (const f of o.files) {
          const destination = posix.dirname(posix.normalize(`/${f.path}`));
          let bind = binds.find((b) => b.destination === destination);
          if (!bind) {
            bind = { source: join(filesDir ?? '', String(binds.length)), destination };
            await mkdir(bind.source, { mode: 0o755 });
            binds.push(bind);
          }
          const file = join(bind.source, posix.basename(f.path));
          await writeFile(file, f.content, { mode: f.mode });
          await chmod(file, f.mode);
        }
        return await runContainer(o, binds);
      } finally {
        if (filesDir) await rm(filesDir, { recursive: true, force: true });
      }
    },

    async change(parent, config, h, fn, signal) {
      const dir = await scratchDir();
      const rootfs = join(dir, 'rootfs');
      try {
        for (const d of ['upper', 'work', 'rootfs']) await mkdir(join(dir, d), { mode: 0o755 });
        await engine.snapshots.mountOverlay({ lowerChainIds: [...(parent?.layers ?? [])].map((l) => l.chainId).reverse(), upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: rootfs });
        try {
          await fn(rootfs);
        } finally {
          await engine.snapshots.unmount(rootfs);
        }
        signal.throwIfAborted();
        const layer = await addLayer(deps, parent?.layers ?? [], engine.snapshots.diffLayer(join(dir, 'upper')), signal);
        return await addChildImage({ images: engine.images }, parent, config, layer, h);
      } finally {
        await engine.snapshots.unmount(rootfs).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      }
    },

    async withImage(image, fn) {
      const dir = await scratchDir();
      const rootfs = join(dir, 'rootfs');
      try {
        await mkdir(rootfs, { mode: 0o755 });
        // an image without layers (scratch, or a stage of config only) is an empty directory
        // (an overlay needs at least one real lower directory)
        if (!image?.layers.length) return await fn(rootfs);
        await engine.snapshots.mountOverlay({ lowerChainIds: [...image.layers].map((l) => l.chainId).reverse(), target: rootfs });
        try {
          return await fn(rootfs);
        } finally {
          await engine.snapshots.unmount(rootfs);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    async copyInto(o) {
      await copyInto(o);
    },

    cacheGet(key) {
      const id = cacheMap.get(key);
      return id ? engine.images.tryResolve(id) : undefined;
    },
    async cachePut(key, image) {
      await writeFileAtomic(join(cacheDir, key), image.id);
      cacheMap.set(key, image.id);
    },
    async tag(image, ref) {
      await engine.images.tag(image.id, ref);
    },
    async cachePrune() {
      const keys = [...cacheMap.keys()];
      for (const k of keys) {
        await rm(join(cacheDir, k), { force: true });
        cacheMap.delete(k);
      }
      return keys;
    },
  };
  return backend;
}
