// Containers: create, start, stop, kill, pause, wait, remove, attach, exec, logs.
// A running container is runc + one conmon; berthd watches conmon's exit files and can restart
// at any time without touching running containers (reconcile() picks them up again).
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile, readdir, access, constants, stat, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Digest } from '../core/digest.ts';
import { EngineError, conflict, invalid, notFound, errnoOf } from '../core/errors.ts';
import { newContainerId, newId, isValidContainerName } from '../core/ids.ts';
import { ContainerStore } from '../containers/store.ts';
import { initialState, ZERO_TIME, type ContainerConfig, type ContainerRecord, type HostConfig } from '../containers/types.ts';
import type { ImageStore } from '../images/store.ts';
import { buildSpec, resolveUser } from '../runtime/spec/index.ts';
import { createContainer, prepareExec, CreateError, type MonitorPaths } from '../runtime/monitor/conmon.ts';
import { Runc } from '../runtime/runc.ts';
import { AttachHub, type AttachSubscriber } from '../runtime/io/attach-hub.ts';
import { run } from '../util/exec.ts';
import { ensureDir } from '../util/fs.ts';
import { resolveInRoot } from '../util/root-path.ts';
import { layout, type EnginePaths } from './paths.ts';
import { generateName } from './names.ts';
import { signalNumber } from './signals.ts';

export interface Overlay {
  mountOverlay(o: { lowerChainIds: readonly Digest[]; upperDir?: string; workDir?: string; target: string }): Promise<void>;
  unmount(target: string): Promise<void>;
}

export interface CreateOptions {
  readonly name?: string;
  readonly image: string;
  readonly cmd: string[] | null;
  readonly entrypoint: string[] | null;
  readonly env: string[];
  readonly workingDir: string;
  readonly user: string;
  readonly hostname: string;
  readonly domainname: string;
  readonly tty: boolean;
  readonly openStdin: boolean;
  readonly stdinOnce: boolean;
  readonly attachStdin: boolean;
  readonly attachStdout: boolean;
  readonly attachStderr: boolean;
  readonly labels: Record<string, string>;
  readonly stopSignal?: string;
  readonly stopTimeout?: number;
  readonly exposedPorts: Record<string, object>;
  readonly volumes: Record<string, object>;
  readonly hostConfig: HostConfig;
}

export interface ExecOptions {
  readonly cmd: string[];
  readonly env: string[];
  readonly workingDir: string;
  readonly user: string;
  readonly tty: boolean;
  readonly attachStdin: boolean;
  readonly attachStdout: boolean;
  readonly attachStderr: boolean;
  readonly privileged: boolean;
  readonly detachKeys?: string;
  readonly consoleSize?: readonly [number, number];
}

export interface ExecRecord {
  readonly id: string;
  readonly containerId: string;
  readonly options: ExecOptions;
  running: boolean;
  exitCode: number | null;
  pid: number;
  ctlPath?: string;
  hub?: AttachHub;
  done: Promise<void>;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** A client attached to a container's or exec's streams (the API layer implements it). */
export interface AttachClient extends AttachSubscriber {
  /** stdin bytes from this client are delivered through the callback set by the engine */
  readonly wantsStdin: boolean;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ContainerService {
  readonly store: ContainerStore;
  readonly events = new EventEmitter();
  private readonly dirs: ReturnType<typeof layout>;
  private readonly runc: Runc;
  private readonly monitorPaths: MonitorPaths;
  private readonly hubs = new Map<string, AttachHub>();
  /** attach clients waiting for a start */
  private readonly pending = new Map<string, Set<AttachClient>>();
  /** stdin that attached clients sent before the process existed, delivered at start */
  private readonly pendingStdin = new Map<string, { chunks: Buffer[]; ended: boolean }>();
  private readonly ctl = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly exitHandling = new Set<string>();
  readonly execs = new Map<string, ExecRecord>();
  private watcher?: FSWatcher;
  private livenessTimer?: NodeJS.Timeout;

  constructor(
    private readonly paths: EnginePaths,
    private readonly images: ImageStore,
    private readonly overlay: Overlay,
  ) {
    this.dirs = layout(paths);
    this.store = new ContainerStore(this.dirs.containers);
    this.runc = new Runc(paths.runc, this.dirs.runcRoot);
    this.monitorPaths = { conmon: paths.conmon, runc: paths.runc, runcRoot: this.dirs.runcRoot, socketDir: this.dirs.sockets };
    this.events.setMaxListeners(0);
  }

  // ---------------------------------------------------------------- lifecycle of the service

  async init(): Promise<void> {
    for (const d of [this.dirs.runcRoot, this.dirs.exits, this.dirs.sockets, this.dirs.execs, this.dirs.monitors]) await ensureDir(d);
    const { incomplete } = await this.store.load();
    for (const id of incomplete) await this.destroyLeftovers(id);
    this.watcher = watch(this.dirs.exits, (_ev, file) => {
      if (typeof file === 'string' && /^[a-f0-9]{64}$/.test(file)) {
        this.checkExit(file).catch((e: unknown) => warn(`container ${file.slice(0, 12)}: handling its exit: ${(e as Error).message}`));
      }
    });
    await this.reconcile();
    this.livenessTimer = setInterval(() => void this.checkMonitors().catch((e: unknown) => warn(`checking container monitors: ${(e as Error).message}`)), 2000);
    this.livenessTimer.unref();
  }

  close(): void {
    this.watcher?.close();
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    for (const h of this.hubs.values()) h.close();
  }

  /** After a restart: every container that was running is checked against conmon, runc and its exit file. */
  private async reconcile(): Promise<void> {
    for (const rec of this.store.list()) {
      const st = rec.state.status;
      if (st === 'removing') {
        await this.finishRemove(rec.id);
        continue;
      }
      if (st === 'running' || st === 'paused' || st === 'restarting') {
        // recorded as running, but berthd died between `runc create` and `runc start`
        const rs = await this.runc.state(rec.id).catch(() => undefined);
        if (rs?.status === 'created' && this.alive(rec.state.monitorPid)) await this.runc.start(rec.id).catch(() => undefined);
        await this.checkExit(rec.id, true);
        continue;
      }
      // created/exited/dead: a start may have been cut short after it mounted or created
      // something; release it all (a monitor left running is stopped first)
      const monitorPid = Number.parseInt(await readFile(join(this.dirs.monitors, rec.id, 'conmon.pid'), 'utf8').catch(() => '0'), 10) || 0;
      if (monitorPid > 0 && this.alive(monitorPid)) {
        await this.runc.kill(rec.id, 'KILL', true).catch(() => undefined);
        try {
          process.kill(monitorPid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await this.teardown(rec.id);
    }
    await this.sweepExecSessions();
  }

  private async checkMonitors(): Promise<void> {
    for (const rec of this.store.list()) {
      if (rec.state.status === 'running' || rec.state.status === 'paused') await this.checkExit(rec.id, true);
    }
    await this.sweepExecSessions();
  }

  /** Exec session dirs nobody tracks (berthd restarted) go once their exec ended or their container stopped. */
  private async sweepExecSessions(): Promise<void> {
    const tracked = new Set([...this.execs.keys()].map((k) => k.slice(0, 12)));
    let names: string[];
    try {
      names = await readdir(this.dirs.execs);
    } catch {
      return;
    }
    for (const name of names) {
      if (tracked.has(name)) continue;
      const dir = join(this.dirs.execs, name);
      const cid = (await readFile(join(dir, 'container'), 'utf8').catch(() => '')).trim();
      const rec = cid ? this.store.get(cid) : undefined;
      const running = rec !== undefined && (rec.state.status === 'running' || rec.state.status === 'paused');
      const ended = await access(join(dir, 'exit', cid || 'none')).then(() => true, () => false);
      if (running && !ended) continue;
      await rm(dir, { recursive: true, force: true });
      await rm(join(this.dirs.sockets, name), { recursive: true, force: true });
    }
  }

  private alive(pid: number): boolean {
    if (pid <= 0) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return errnoOf(e) === 'EPERM';
    }
  }

  /** Handle an exit if there is one: exit file written, or conmon gone. */
  private async checkExit(id: string, probeMonitor = false): Promise<void> {
    const rec = this.store.get(id);
    if (!rec || (rec.state.status !== 'running' && rec.state.status !== 'paused' && rec.state.status !== 'restarting')) return;
    const exitFile = join(this.dirs.exits, id);
    let code: number | undefined;
    try {
      const txt = (await readFile(exitFile, 'utf8')).trim();
      if (txt !== '') code = Number.parseInt(txt, 10);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    if (code === undefined) {
      if (!probeMonitor || this.alive(rec.state.monitorPid)) return;
      // conmon is gone without an exit file: ask runc; a still-running process is killed.
      const s = await this.runc.state(id).catch(() => undefined);
      if (s && (s.status === 'running' || s.status === 'paused')) {
        await this.runc.kill(id, 'KILL', true).catch(() => undefined);
      }
      code = 255;
    }
    await this.handleExit(id, code, code === 255 && probeMonitor ? 'container monitor exited unexpectedly' : '');
  }

  private async handleExit(id: string, exitCode: number, error: string): Promise<void> {
    if (this.exitHandling.has(id)) return;
    this.exitHandling.add(id);
    try {
      await this.withLock(id, async () => {
        const rec = this.store.get(id);
        if (!rec || (rec.state.status !== 'running' && rec.state.status !== 'paused' && rec.state.status !== 'restarting')) return;
        const oom = await access(join(this.dirs.monitors, id, 'persist', 'oom')).then(() => true, () => false);
        await this.teardown(id);
        const { unsaved } = await this.store.recordState(id, {
          status: 'exited',
          exitCode,
          pid: 0,
          monitorPid: 0,
          finishedAt: new Date().toISOString(),
          oomKilled: oom,
          error,
        });
        if (unsaved !== undefined) warn(`container ${id.slice(0, 12)} exited (${exitCode}), but its record could not be written: ${(unsaved as Error).message}`);
      });
      this.events.emit(`exit:${id}`, exitCode);
      const rec = this.store.get(id);
      if (rec?.hostConfig.autoRemove) await this.remove(id, { force: true }).catch(() => undefined);
    } finally {
      this.exitHandling.delete(id);
    }
  }

  /** Release what a run held: runc state, mounts, netns, sockets. Idempotent. */
  private async teardown(id: string): Promise<void> {
    const hub = this.hubs.get(id);
    if (hub) {
      this.hubs.delete(id);
      // let conmon's last records reach clients: the hub ends by itself when conmon closes
      setTimeout(() => hub.close(), 2000).unref();
    }
    this.ctl.delete(id);
    // runc keeps a state dir per container it knows; skip the process spawn when there is none
    await this.deleteRuncState(id);
    await this.overlay.unmount(join(this.store.dirOf(id), 'rootfs')).catch(() => undefined);
    await rm(join(this.dirs.sockets, id.slice(0, 12)), { force: true, recursive: true });
    await rm(join(this.dirs.exits, id), { force: true });
    await rm(join(this.dirs.monitors, id), { force: true, recursive: true });
  }

  /** runc keeps a state dir per container it knows: skip the process spawn when there is none. */
  private async deleteRuncState(id: string): Promise<void> {
    if (await access(join(this.dirs.runcRoot, id)).then(() => true, () => false)) await this.runc.delete(id, true).catch(() => undefined);
  }

  private async destroyLeftovers(id: string): Promise<void> {
    await this.teardown(id);
    await rm(this.store.dirOf(id), { recursive: true, force: true });
  }

  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  // ---------------------------------------------------------------- create

  async create(o: CreateOptions): Promise<{ id: string; warnings: string[] }> {
    const image = this.images.resolve(o.image);
    const ic = image.config.config ?? {};
    const id = newContainerId();
    let name = o.name?.replace(/^\//, '');
    if (name !== undefined && name !== '') {
      if (!isValidContainerName(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    } else {
      do name = generateName();
      while (this.store.list().some((c) => c.name === name));
    }
    // Docker's merge of the image config into the container config.
    let entrypoint: string[] | null = o.entrypoint;
    let cmd: string[] | null = o.cmd;
    if (entrypoint === null || entrypoint.length === 0) {
      if (cmd === null || cmd.length === 0) cmd = ic.Cmd ?? null;
      if (entrypoint === null) entrypoint = ic.Entrypoint ?? null;
    }
    const ep = entrypoint && !(entrypoint.length === 1 && entrypoint[0] === '') ? entrypoint : [];
    const argv = [...ep, ...(cmd ?? [])];
    if (argv.length === 0) throw invalid('No command specified');
    const env = mergeEnv(ic.Env ?? [], o.env);
    const config: ContainerConfig = {
      image: o.image,
      imageId: image.id,
      cmd,
      entrypoint,
      path: argv[0] ?? '',
      args: argv.slice(1),
      env,
      workingDir: o.workingDir || ic.WorkingDir || '',
      user: o.user || ic.User || '',
      hostname: o.hostname || id.slice(0, 12),
      domainname: o.domainname,
      tty: o.tty,
      openStdin: o.openStdin,
      stdinOnce: o.stdinOnce,
      attachStdin: o.attachStdin,
      attachStdout: o.attachStdout,
      attachStderr: o.attachStderr,
      labels: { ...(ic.Labels ?? {}), ...o.labels },
      ...(o.stopSignal || ic.StopSignal ? { stopSignal: o.stopSignal || ic.StopSignal } : {}),
      ...(o.stopTimeout !== undefined ? { stopTimeout: o.stopTimeout } : {}),
      exposedPorts: { ...(ic.ExposedPorts ?? {}), ...o.exposedPorts },
      volumes: { ...(ic.Volumes ?? {}), ...o.volumes },
    };
    const nm = o.hostConfig.networkMode;
    if (!['default', 'bridge', 'host', 'none', ''].includes(nm) && !nm.startsWith('container:'))
      throw notFound(`network ${nm} not found`);
    if (o.hostConfig.init) await access(this.paths.init, constants.X_OK).catch(() => {
      throw invalid(`--init: init binary ${this.paths.init} not found`);
    });
    this.store.reserveName(name, id);
    const rec: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      config,
      hostConfig: o.hostConfig,
      state: initialState,
      layers: image.layers.map((l) => l.chainId),
    };
    const dir = this.store.dirOf(id);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      for (const d of ['upper', 'work', 'rootfs', 'bundle']) await mkdir(join(dir, d), { mode: 0o755 });
      await this.writeEtcFiles(rec);
      await this.store.save(rec); // container.json last: its presence marks the container complete
    } catch (e) {
      this.store.releaseName(name, id);
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    this.events.emit('change', id);
    return { id, warnings: [] };
  }

  private async writeEtcFiles(rec: ContainerRecord): Promise<void> {
    const dir = this.store.dirOf(rec.id);
    const host = rec.hostConfig.networkMode === 'host';
    await writeFile(join(dir, 'hostname'), `${rec.config.hostname}\n`);
    if (host) {
      await copyFile('/etc/hosts', join(dir, 'hosts')).catch(() => writeFile(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n'));
    } else {
      await writeFile(
        join(dir, 'hosts'),
        `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
      );
    }
    let resolv = '';
    try {
      resolv = await readFile('/etc/resolv.conf', 'utf8');
    } catch {
      resolv = '';
    }
    if (!host) resolv = resolv.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l)).join('\n');
    await writeFile(join(dir, 'resolv.conf'), resolv);
  }

  // ---------------------------------------------------------------- start

  async start(idOrName: string, opts: { consoleSize?: readonly [number, number] } = {}): Promise<'started' | 'already'> {
    const id = this.store.resolve(idOrName).id;
    try {
      return await this.withLock(id, () => this.startLocked(id, opts));
    } catch (e) {
      // a failed start of an --rm container removes it (outside the lock)
      const cur = this.store.get(id);
      if (cur?.hostConfig.autoRemove && cur.state.status !== 'running') {
        this.events.emit(`exit:${id}`, cur.state.exitCode);
        await this.remove(id, { force: true }).catch(() => undefined);
      }
      throw e;
    }
  }

  private async startLocked(id: string, opts: { consoleSize?: readonly [number, number] }): Promise<'started' | 'already'> {
    const rec = this.store.resolve(id);
    if (rec.state.status === 'running') return 'already';
    if (rec.state.status === 'paused') throw conflict(`cannot start a paused container, try unpause instead`);
    if (rec.state.status === 'removing' || rec.state.status === 'dead') throw conflict(`container ${id.slice(0, 12)} is marked for removal and cannot be started`);
    const dir = this.store.dirOf(id);
    const rootfs = join(dir, 'rootfs');
    const bundle = join(dir, 'bundle');
    const mon = join(this.dirs.monitors, id);
    const t0 = performance.now();
    const mark = (what: string): void => {
      if (process.env.BERTH_DEBUG) process.stderr.write(`start ${id.slice(0, 12)} ${what} +${(performance.now() - t0).toFixed(1)}ms\n`);
    };
    try {
      await mkdir(mon, { recursive: true });
      await this.overlay.unmount(rootfs).catch(() => undefined); // never stack mounts
      await this.overlay.mountOverlay({ lowerChainIds: [...rec.layers].reverse(), upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: rootfs });
      mark('mounted');
      const argv = [rec.config.path, ...rec.config.args];
      await this.checkExecutable(rootfs, argv[0] ?? '', rec.config.env, rec.config.workingDir);
      const user = await resolveUser(rootfs, rec.config.user || undefined);
      if (rec.config.workingDir) {
        const wd = await resolveInRoot(rootfs, rec.config.workingDir);
        await mkdir(wd, { recursive: true, mode: 0o755 });
      }
      const networkMode = await this.prepareNetwork(rec);
      const mem = rec.hostConfig.memory;
      const spec = buildSpec({
        id,
        rootfsPath: rootfs,
        args: argv,
        env: rec.config.env.some((e) => e.startsWith('PATH=')) ? [...rec.config.env] : [DEFAULT_PATH, ...rec.config.env],
        cwd: rec.config.workingDir || '/',
        user,
        tty: rec.config.tty,
        hostname: rec.config.hostname,
        networkMode,
        etcFiles: { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') },
        ...(rec.hostConfig.init ? { init: { hostPath: this.paths.init } } : {}),
        cgroupsPath: `/berth/${id}`,
        readonlyRootfs: rec.hostConfig.readonlyRootfs,
        privileged: rec.hostConfig.privileged,
        capAdd: [...rec.hostConfig.capAdd],
        capDrop: [...rec.hostConfig.capDrop],
        ...(mem > 0 ? { memoryLimit: mem } : {}),
        ...(rec.hostConfig.pidsLimit > 0 ? { pidsLimit: rec.hostConfig.pidsLimit } : {}),
        ...(rec.hostConfig.nanoCpus > 0 ? { cpuPeriod: 100000, cpuQuota: Math.round(rec.hostConfig.nanoCpus / 10000) } : {}),
        ...(rec.hostConfig.shmSize > 0 ? { shmSize: rec.hostConfig.shmSize } : {}),
        ...(rec.hostConfig.readonlyBinds?.length ? { readonlyBinds: rec.hostConfig.readonlyBinds } : {}),
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      mark('spec written');
      // conmon's persist dir (its exit and oom files) lives on the run root: conmon gives up
      // without writing the exit file berthd watches when it cannot write there (a full data
      // root would turn every exit code into 255).
      await rm(join(mon, 'persist'), { recursive: true, force: true });
      await this.deleteRuncState(id);
      const started = await createContainer(this.monitorPaths, {
        id,
        cuuid: id.slice(0, 12),
        name: rec.name,
        bundle,
        pidFile: join(mon, 'pid'),
        conmonPidFile: join(mon, 'conmon.pid'),
        exitDir: this.dirs.exits,
        persistDir: join(mon, 'persist'),
        logPath: join(dir, 'ctr.log'),
        stdin: rec.config.openStdin,
        leaveStdinOpen: !rec.config.stdinOnce || rec.config.tty,
        tty: rec.config.tty,
      });
      mark('conmon created');
      this.ctl.set(id, started.ctlPath);
      const monitorPid = Number.parseInt(await readFile(join(mon, 'conmon.pid'), 'utf8').catch(() => '0'), 10) || 0;
      // Clients that attached before start get every byte: connect before `runc start`.
      const waiting = this.pending.get(id);
      if (waiting && waiting.size > 0) {
        const hub = await AttachHub.connect(started.attachPath);
        this.hubs.set(id, hub);
        for (const c of waiting) hub.subscribe(c);
        this.pending.delete(id);
      }
      const early = this.pendingStdin.get(id);
      this.pendingStdin.delete(id);
      if (early && rec.config.openStdin) {
        let hub = this.hubs.get(id);
        if (!hub) {
          hub = await AttachHub.connect(started.attachPath);
          this.hubs.set(id, hub);
        }
        for (const c of early.chunks) hub.writeStdin(c);
        if (early.ended && rec.config.stdinOnce) hub.closeStdin();
      }
      await this.store.setState(id, {
        status: 'running',
        pid: started.pid,
        monitorPid,
        startedAt: new Date().toISOString(),
        finishedAt: ZERO_TIME,
        exitCode: 0,
        error: '',
        oomKilled: false,
      });
      mark('state saved');
      await this.runc.start(id);
      mark('runc started');
      const size = opts.consoleSize ?? rec.hostConfig.consoleSize;
      if (rec.config.tty && size && size[0] > 0 && size[1] > 0) await this.resize(id, size[0], size[1]).catch(() => undefined);
      this.events.emit('change', id);
      return 'started';
    } catch (e) {
      const err = e instanceof CreateError ? classifyCreateError(e) : e;
      const code = err instanceof EngineError && err.kind === 'command-not-found' ? 127 : err instanceof EngineError && err.kind === 'cannot-execute' ? 126 : 128;
      await this.teardown(id).catch(() => undefined);
      const cur = this.store.get(id);
      if (cur) {
        const status = cur.state.status === 'running' ? 'exited' : cur.state.status === 'created' ? 'created' : 'exited';
        await this.store.setState(id, { status, exitCode: code, error: err instanceof Error ? err.message : String(err), pid: 0, monitorPid: 0 }).catch(() => undefined);
      }
      for (const c of this.pending.get(id) ?? []) c.closed();
      this.pending.delete(id);
      this.pendingStdin.delete(id);
      throw err;
    }
  }

  /** Find the command inside the rootfs before runc does, so the error carries a reason (127/126). */
  private async checkExecutable(rootfs: string, cmd: string, env: readonly string[], cwd: string): Promise<void> {
    const candidates: string[] = [];
    if (cmd.includes('/')) candidates.push(cmd.startsWith('/') ? cmd : posix.join(cwd || '/', cmd));
    else {
      const pathVar = (env.find((e) => e.startsWith('PATH=')) ?? DEFAULT_PATH).slice(5);
      for (const d of pathVar.split(':')) if (d) candidates.push(posix.join(d, cmd));
    }
    let sawNonExec = false;
    for (const c of candidates) {
      const host = await resolveInRoot(rootfs, c).catch(() => undefined);
      if (!host) continue;
      try {
        const st = await stat(host);
        if (st.isDirectory()) {
          sawNonExec = true;
          continue;
        }
        if ((st.mode & 0o111) === 0) {
          sawNonExec = true;
          continue;
        }
        return;
      } catch (e) {
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') continue;
        throw e;
      }
    }
    if (sawNonExec || (cmd.includes('/') && candidates.length > 0 && (await resolveInRoot(rootfs, candidates[0] ?? '').then((p) => stat(p)).then(() => true, () => false))))
      throw new EngineError('cannot-execute', `failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: exec: "${cmd}": permission denied: unknown`);
    if (cmd.includes('/'))
      throw new EngineError('command-not-found', `failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: exec: "${cmd}": stat ${cmd}: no such file or directory: unknown`);
    throw new EngineError('command-not-found', `failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: exec: "${cmd}": executable file not found in $PATH: unknown`);
  }

  private async prepareNetwork(rec: ContainerRecord): Promise<'private' | 'host' | 'none' | { path: string }> {
    const nm = rec.hostConfig.networkMode;
    if (nm === 'host') return 'host';
    if (nm === 'none') return 'none';
    if (nm.startsWith('container:')) {
      const other = this.store.resolve(nm.slice('container:'.length));
      if (other.state.status !== 'running') throw conflict(`cannot join network of a non running container: ${other.id}`);
      return { path: `/proc/${other.state.pid}/ns/net` };
    }
    // default/bridge: a private namespace; runc brings loopback up in a namespace it creates
    // (bridge networking proper comes later)
    return 'private';
  }

  // ---------------------------------------------------------------- stop, kill, pause

  async kill(idOrName: string, signal = 'KILL'): Promise<void> {
    const rec = this.store.resolve(idOrName);
    const n = signalNumber(signal);
    if (n === undefined) throw invalid(`Invalid signal: ${signal}`);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused')
      throw conflict(`Cannot kill container: ${idOrName}: container ${rec.id} is not running`);
    await this.runc.kill(rec.id, String(n));
    if (rec.state.status === 'paused' && n === 9) await this.runc.resume(rec.id).catch(() => undefined);
  }

  /** Stop: STOPSIGNAL (default TERM), wait `timeout` seconds, then KILL. */
  async stop(idOrName: string, opts: { timeout?: number; signal?: string } = {}): Promise<'stopped' | 'not-running'> {
    const rec = this.store.resolve(idOrName);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') return 'not-running';
    const id = rec.id;
    const exited = this.exitPromise(id);
    const timeout = opts.timeout ?? rec.config.stopTimeout ?? 10;
    const sig = opts.signal ?? rec.config.stopSignal ?? 'TERM';
    const n = signalNumber(sig) ?? 15;
    if (rec.state.status === 'paused') await this.runc.resume(id).catch(() => undefined);
    if (timeout !== 0) await this.runc.kill(id, String(n)).catch(() => undefined);
    const ok = timeout < 0 ? (await exited, true) : await Promise.race([exited.then(() => true), sleep(timeout * 1000).then(() => false)]);
    if (!ok) {
      await this.runc.kill(id, 'KILL', true).catch(() => undefined);
      await Promise.race([exited, sleep(10000)]);
    }
    await this.checkExit(id, true);
    return 'stopped';
  }

  async restart(idOrName: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const rec = this.store.resolve(idOrName);
    await this.stop(rec.id, opts);
    await this.start(rec.id);
  }

  async pause(idOrName: string): Promise<void> {
    const rec = this.store.resolve(idOrName);
    if (rec.state.status === 'paused') throw conflict(`Container ${rec.id} is already paused`);
    if (rec.state.status !== 'running') throw conflict(`Container ${rec.id} is not running`);
    await this.withLock(rec.id, async () => {
      await this.runc.pause(rec.id);
      await this.store.setState(rec.id, { status: 'paused' });
    });
  }

  async unpause(idOrName: string): Promise<void> {
    const rec = this.store.resolve(idOrName);
    if (rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not paused`);
    await this.withLock(rec.id, async () => {
      await this.runc.resume(rec.id);
      await this.store.setState(rec.id, { status: 'running' });
    });
  }

  private exitPromise(id: string): Promise<number> {
    return new Promise((resolve) => this.events.once(`exit:${id}`, resolve));
  }

  /** Resolves with the exit code once the condition holds (Docker's /wait). */
  async wait(idOrName: string, condition: WaitCondition, signal?: AbortSignal): Promise<{ code: number; error?: string }> {
    const rec = this.store.resolve(idOrName);
    const id = rec.id;
    const running = (): boolean => {
      const s = this.store.get(id)?.state.status;
      return s === 'running' || s === 'paused' || s === 'restarting';
    };
    if (condition === 'not-running' && !running()) return { code: rec.state.exitCode };
    return new Promise((resolve) => {
      const onExit = (code: number): void => {
        if (condition === 'removed') return;
        cleanup();
        resolve({ code });
      };
      let lastCode = rec.state.exitCode;
      const onExitRemember = (code: number): void => {
        lastCode = code;
      };
      const onRemoved = (): void => {
        cleanup();
        resolve({ code: lastCode });
      };
      const cleanup = (): void => {
        this.events.off(`exit:${id}`, onExit);
        this.events.off(`exit:${id}`, onExitRemember);
        this.events.off(`removed:${id}`, onRemoved);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        resolve({ code: -1, error: 'aborted' });
      };
      this.events.on(`exit:${id}`, onExit);
      this.events.on(`exit:${id}`, onExitRemember);
      this.events.on(`removed:${id}`, onRemoved);
      signal?.addEventListener('abort', onAbort);
      if (condition === 'removed' && !this.store.get(id)) onRemoved();
    });
  }

  // ---------------------------------------------------------------- remove, prune, rename

  async remove(idOrName: string, opts: { force: boolean }): Promise<void> {
    const rec = this.store.resolve(idOrName);
    const id = rec.id;
    const st = rec.state.status;
    if (st === 'running' || st === 'paused' || st === 'restarting') {
      if (!opts.force)
        throw conflict(`You cannot remove a ${st} container ${id}. ${st === 'paused' ? 'Unpause and then stop' : 'Stop'} the container before attempting removal or force remove`);
      const exited = this.exitPromise(id);
      if (st === 'paused') await this.runc.resume(id).catch(() => undefined);
      await this.runc.kill(id, 'KILL', true).catch(() => undefined);
      await Promise.race([exited, sleep(10000)]);
      await this.checkExit(id, true);
    }
    if (st === 'removing') throw conflict(`removal of container ${id} is already in progress`);
    await this.withLock(id, async () => {
      const cur = this.store.get(id);
      if (!cur) return;
      // Marked on disk first, so a crash half-way is finished at the next start; but a full
      // disk must not make a container impossible to remove (removing it is how room is made).
      const { unsaved } = await this.store.recordState(id, { status: 'removing' });
      if (unsaved !== undefined) warn(`container ${id.slice(0, 12)}: removing it without marking it first: ${(unsaved as Error).message}`);
      await this.finishRemove(id);
    });
  }

  private async finishRemove(id: string): Promise<void> {
    await this.teardown(id);
    await this.store.remove(id);
    for (const [eid, e] of this.execs) if (e.containerId === id && !e.running) this.execs.delete(eid);
    await this.sweepExecSessions();
    this.events.emit(`removed:${id}`);
    this.events.emit('change', id);
  }

  async prune(filter: (r: ContainerRecord) => boolean): Promise<{ deleted: string[]; space: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const rec of this.store.list()) {
      if (rec.state.status !== 'exited' && rec.state.status !== 'created' && rec.state.status !== 'dead') continue;
      if (!filter(rec)) continue;
      space += await this.sizeRw(rec.id).catch(() => 0);
      await this.remove(rec.id, { force: false }).then(() => deleted.push(rec.id), () => undefined);
    }
    return { deleted, space };
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const rec = this.store.resolve(idOrName);
    const name = newName.replace(/^\//, '');
    if (!isValidContainerName(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (name === rec.name) throw invalid('Renaming a container with the same name as its current name');
    await this.store.rename(rec.id, name);
  }

  /** Bytes in the writable layer. */
  async sizeRw(id: string): Promise<number> {
    return duSize(join(this.store.dirOf(id), 'upper'));
  }

  // ---------------------------------------------------------------- attach, resize, logs

  /**
   * Attach a client. Before start, the client waits for the start (and sees every byte); on a
   * running container it joins the shared hub. Returns the function that feeds its stdin and a
   * detach function.
   */
  async attach(idOrName: string, client: AttachClient): Promise<{ stdin: (b: Buffer) => void; stdinEnd: () => void; detach: () => void }> {
    const rec = this.store.resolve(idOrName);
    const id = rec.id;
    const st = rec.state.status;
    let unsubscribe: () => void = () => undefined;
    if (st === 'running' || st === 'paused') {
      let hub = this.hubs.get(id);
      if (!hub || hub.isEnded) {
        const path = join(this.dirs.sockets, id.slice(0, 12), 'attach');
        hub = await AttachHub.connect(path).catch((e: unknown) => {
          throw new EngineError('system', `cannot attach to container ${id.slice(0, 12)}: ${(e as Error).message}`);
        });
        this.hubs.set(id, hub);
      }
      unsubscribe = hub.subscribe(client);
    } else if (st === 'created' || st === 'exited') {
      let set = this.pending.get(id);
      if (!set) this.pending.set(id, (set = new Set()));
      set.add(client);
      unsubscribe = () => {
        this.pending.get(id)?.delete(client);
      };
    } else {
      throw conflict(`You cannot attach to a ${st} container`);
    }
    const hubNow = (): AttachHub | undefined => this.hubs.get(id);
    // before the process runs, stdin is kept and handed over at start (clients attach first)
    const early = (): { chunks: Buffer[]; ended: boolean } | undefined => {
      if (hubNow() || !this.pending.get(id)?.has(client)) return undefined;
      let e = this.pendingStdin.get(id);
      if (!e) this.pendingStdin.set(id, (e = { chunks: [], ended: false }));
      return e;
    };
    return {
      stdin: (b) => {
        if (!client.wantsStdin || !rec.config.openStdin) return;
        const e = early();
        if (e) e.chunks.push(Buffer.from(b));
        else hubNow()?.writeStdin(b);
      },
      stdinEnd: () => {
        // as moby: a client's EOF closes the process's stdin only for StdinOnce and never for a
        // TTY (detaching from a terminal must leave the shell running)
        if (!client.wantsStdin || !rec.config.openStdin || !rec.config.stdinOnce || rec.config.tty) return;
        const e = early();
        if (e) e.ended = true;
        else hubNow()?.closeStdin();
      },
      detach: () => {
        unsubscribe();
        const h = this.hubs.get(id);
        if (h && h.subscriberCount === 0 && !rec.config.stdinOnce) {
          // keep the container's stdin open across attaches (--leave-stdin-open); drop the idle link
          this.hubs.delete(id);
          h.close();
        }
      },
    };
  }

  async resize(idOrName: string, height: number, width: number): Promise<void> {
    const rec = this.store.resolve(idOrName);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not running`);
    const ctl = this.ctl.get(rec.id) ?? join(this.store.dirOf(rec.id), 'bundle', 'ctl');
    await writeCtl(ctl, `1 ${height} ${width}\n`);
  }

  logPath(id: string): string {
    return join(this.store.dirOf(id), 'ctr.log');
  }

  // ---------------------------------------------------------------- exec

  createExec(idOrName: string, o: ExecOptions): string {
    const rec = this.store.resolve(idOrName);
    if (rec.state.status === 'paused') throw conflict(`Container ${rec.id} is paused, unpause the container before exec`);
    if (rec.state.status !== 'running') throw conflict(`Container ${rec.id} is not running`);
    if (o.cmd.length === 0) throw invalid('No exec command specified');
    const id = newId();
    this.execs.set(id, { id, containerId: rec.id, options: o, running: false, exitCode: null, pid: 0, done: Promise.resolve() });
    return id;
  }

  getExec(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  }

  /** Start an exec; the client (if any) is subscribed before the process runs. */
  async startExec(execId: string, client: AttachClient | undefined, opts: { detach: boolean; consoleSize?: readonly [number, number] }): Promise<{ stdin: (b: Buffer) => void; stdinEnd: () => void; exited: Promise<number> }> {
    const ex = this.getExec(execId);
    if (ex.running || ex.exitCode !== null) throw conflict(`Error: Exec command ${execId} is already running`);
    try {
      return await this.startExecUnchecked(ex, client, opts);
    } catch (e) {
      ex.running = false;
      ex.exitCode = e instanceof EngineError && e.kind === 'command-not-found' ? 127 : 126;
      throw e;
    }
  }

  private async startExecUnchecked(ex: ExecRecord, client: AttachClient | undefined, opts: { detach: boolean; consoleSize?: readonly [number, number] }): Promise<{ stdin: (b: Buffer) => void; stdinEnd: () => void; exited: Promise<number> }> {
    const execId = ex.id;
    const rec = this.store.resolve(ex.containerId);
    if (rec.state.status !== 'running') throw conflict(`Container ${rec.id} is not running`);
    const dir = this.store.dirOf(rec.id);
    const base = JSON.parse(await readFile(join(dir, 'bundle', 'config.json'), 'utf8')) as { process: Record<string, unknown> & { env?: string[] } };
    const o = ex.options;
    const rootfs = join(dir, 'rootfs');
    const user = o.user ? await resolveUser(rootfs, o.user) : (base.process.user as { uid: number; gid: number; additionalGids?: number[] });
    await this.checkExecutable(rootfs, o.cmd[0] ?? '', mergeEnv(base.process.env ?? [], o.env), o.workingDir || (base.process.cwd as string) || '/').catch((e: unknown) => {
      if (e instanceof EngineError) {
        const msg = e.message.replace('failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: ', 'OCI runtime exec failed: ');
        throw new EngineError(e.kind, msg);
      }
      throw e;
    });
    const proc = {
      ...base.process,
      args: o.cmd,
      env: mergeEnv(base.process.env ?? [], o.env),
      cwd: o.workingDir || base.process.cwd || '/',
      terminal: o.tty,
      user: 'uid' in user ? { uid: user.uid, gid: user.gid, ...(user.additionalGids?.length ? { additionalGids: user.additionalGids } : {}) } : user,
    };
    if (!o.tty) delete (proc as Record<string, unknown>).consoleSize;
    const sdir = join(this.dirs.execs, execId.slice(0, 12));
    await rm(sdir, { recursive: true, force: true });
    await mkdir(sdir, { recursive: true });
    await writeFile(join(sdir, 'container'), rec.id);
    const attach = !opts.detach && client !== undefined;
    const session = await prepareExec(this.monitorPaths, {
      containerId: rec.id,
      execId,
      cuuid: execId.slice(0, 12),
      name: rec.name,
      dir: sdir,
      processSpec: proc,
      tty: o.tty,
      stdin: o.attachStdin && attach,
    });
    ex.ctlPath = session.ctlPath;
    if (attach && client) {
      ex.hub = await AttachHub.connect(session.attachPath);
      ex.hub.subscribe(client);
    }
    ex.running = true;
    try {
      ex.pid = await session.go();
    } catch (e) {
      ex.running = false;
      ex.exitCode = 126;
      ex.hub?.close();
      await rm(sdir, { recursive: true, force: true });
      await rm(join(this.dirs.sockets, execId.slice(0, 12)), { force: true, recursive: true });
      throw e instanceof CreateError ? classifyCreateError(e) : e;
    }
    const size = opts.consoleSize ?? o.consoleSize;
    if (o.tty && size && size[0] > 0) await writeCtl(session.ctlPath, `1 ${size[0]} ${size[1]}\n`).catch(() => undefined);
    const exited = session.exited.then(
      (c) => c,
      () => 255,
    );
    ex.done = exited.then(async (code) => {
      ex.running = false;
      ex.exitCode = code;
      this.events.emit(`exec-exit:${execId}`, code);
      await rm(sdir, { recursive: true, force: true }).catch(() => undefined);
      await rm(join(this.dirs.sockets, execId.slice(0, 12)), { force: true, recursive: true }).catch(() => undefined);
    });
    const hub = ex.hub;
    return {
      stdin: (b) => {
        if (o.attachStdin) hub?.writeStdin(b);
      },
      stdinEnd: () => {
        if (o.attachStdin) hub?.closeStdin();
      },
      exited,
    };
  }

  async resizeExec(execId: string, height: number, width: number): Promise<void> {
    const ex = this.getExec(execId);
    if (!ex.ctlPath || !ex.running) throw conflict(`Exec ${execId} is not running`);
    await writeCtl(ex.ctlPath, `1 ${height} ${width}\n`);
  }

  // ---------------------------------------------------------------- top

  async top(idOrName: string, psArgs: string): Promise<{ titles: string[]; processes: string[][] }> {
    const rec = this.store.resolve(idOrName);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not running`);
    const pids = await this.runc.ps(rec.id);
    const args = (psArgs || '-ef').split(/\s+/).filter(Boolean);
    const r = await run('ps', args);
    if (r.code !== 0) throw invalid(`Error running ps: ${r.stderr.trim()}`);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
    const header = lines[0] ?? '';
    const titles = header.trim().split(/\s+/);
    const pidIdx = titles.indexOf('PID');
    if (pidIdx < 0) throw invalid(`Couldn't find PID field in ps output`);
    const set = new Set(pids);
    const processes: string[][] = [];
    for (const line of lines.slice(1)) {
      const f = line.trim().split(/\s+/);
      if (!set.has(Number(f[pidIdx]))) continue;
      const row = f.slice(0, titles.length - 1);
      row.push(f.slice(titles.length - 1).join(' '));
      processes.push(row);
    }
    return { titles, processes };
  }
}

async function writeCtl(path: string, msg: string): Promise<void> {
  // O_NONBLOCK: with no reader (conmon gone) the open fails with ENXIO instead of blocking a
  // thread-pool thread forever
  let fh;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    if (errnoOf(e) === 'ENXIO' || errnoOf(e) === 'ENOENT') throw conflict('the process is not running');
    throw e;
  }
  try {
    await fh.write(msg);
  } finally {
    await fh.close();
  }
}

export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const out = [...base];
  for (const e of over) {
    const k = e.split('=')[0] ?? e;
    const i = out.findIndex((x) => (x.split('=')[0] ?? x) === k);
    if (!e.includes('=')) continue;
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

function classifyCreateError(e: CreateError): EngineError {
  return new EngineError('system', `failed to create task for container: OCI runtime create failed: ${e.message}: unknown`);
}

/** A problem the engine survives but an operator should see (berthd's stderr). */
function warn(message: string): void {
  process.stderr.write(`berthd: ${message}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

async function duSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let ents;
    try {
      ents = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}
