// conmon: one small monitor process per running container (and per exec). It runs
// `runc create`, holds the container's stdio or terminal, writes the k8s-file log and the exit
// file, and serves the attach socket. Facts: ../shared/reference/conmon-notes.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { EngineError } from '../../core/errors.ts';

export interface MonitorPaths {
  readonly conmon: string;
  readonly runc: string;
  readonly runcRoot: string;
  /** where conmon makes <cuuid> -> bundle symlinks (short path, sun_path < 108) */
  readonly socketDir: string;
}

export interface ContainerMonitorOptions {
  readonly id: string;
  readonly cuuid: string;
  readonly name: string;
  readonly bundle: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  readonly exitDir: string;
  readonly persistDir: string;
  readonly logPath: string;
  readonly stdin: boolean;
  readonly leaveStdinOpen: boolean;
  readonly tty: boolean;
}

export interface StartedMonitor { readonly pid: number; readonly attachPath: string; readonly ctlPath: string }

/** Failure reported by runc create, with the reason if we know it. */
export class CreateError extends EngineError {}

function readJsonLine(stream: Readable, what: string): Promise<{ data: number; message?: string }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        cleanup();
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (buf.length > 0) stream.unshift(Buffer.from(buf));
        try {
          resolve(JSON.parse(line) as { data: number; message?: string });
        } catch {
          reject(new EngineError('system', `conmon: bad ${what} message: ${line}`));
        }
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new EngineError('system', `conmon exited before sending the ${what} message${buf ? `: ${buf}` : ''}`));
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
      stream.pause();
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onEnd);
    stream.resume();
  });
}

function baseArgs(p: MonitorPaths, o: { id: string; cuuid: string; name: string; bundle: string; pidFile: string; exitDir: string; persistDir: string }): string[] {
  return [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.cuuid,
    '-r', p.runc,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-n', o.name,
    '--exit-dir', o.exitDir,
    '--persist-dir', o.persistDir,
    '--socket-dir-path', p.socketDir,
    '--log-level', 'info',
    '--runtime-arg', `--root=${p.runcRoot}`,
  ];
}

function detach(child: ChildProcess): void {
  for (const s of child.stdio) (s as Readable | Writable | null)?.destroy();
  child.unref();
}

/** Spawn conmon, which runs `runc create`; resolves once the container is created (not started). */
export async function createContainer(p: MonitorPaths, o: ContainerMonitorOptions): Promise<StartedMonitor> {
  await mkdir(o.persistDir, { recursive: true });
  await rm(join(o.exitDir, o.id), { force: true });
  await rm(join(p.socketDir, o.cuuid), { force: true });
  const args = [
    ...baseArgs(p, o),
    '-l', `k8s-file:${o.logPath}`,
    '--conmon-pidfile', o.conmonPidFile,
    ...(o.stdin ? ['-i'] : []),
    ...(o.stdin && o.leaveStdinOpen ? ['--leave-stdin-open'] : []),
    ...(o.tty ? ['-t'] : []),
  ];
  const child = spawn(p.conmon, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
  });
  const sync = child.stdio[3] as Readable;
  try {
    const msg = await readJsonLine(sync, 'sync');
    if (msg.data < 0) throw new CreateError('system', (msg.message ?? 'runc create failed').trim().replace(/^time="[^"]*" level=\w+ msg="(.*)"$/s, '$1').replace(/\\"/g, '"'));
    return { pid: msg.data, attachPath: join(p.socketDir, o.cuuid, 'attach'), ctlPath: join(o.bundle, 'ctl') };
  } finally {
    detach(child);
  }
}

export interface ExecMonitorOptions {
  readonly containerId: string;
  readonly execId: string;
  readonly cuuid: string;
  readonly name: string;
  /** the exec session dir (-b): attach, ctl, winsz land here */
  readonly dir: string;
  readonly processSpec: object;
  readonly tty: boolean;
  readonly stdin: boolean;
}

export interface ExecSession {
  readonly attachPath: string;
  readonly ctlPath: string;
  /** call once the attach socket is connected (or not wanted): conmon then runs `runc exec` */
  go(): Promise<number>; // resolves with the exec pid
  /** resolves with the exit code */
  readonly exited: Promise<number>;
}

/** Prepare an exec through conmon with --exec-attach (no output lost before attach). */
export async function prepareExec(p: MonitorPaths, o: ExecMonitorOptions): Promise<ExecSession> {
  await mkdir(join(o.dir, 'exit'), { recursive: true });
  await mkdir(join(o.dir, 'persist'), { recursive: true });
  const specPath = join(o.dir, 'process.json');
  await writeFile(specPath, JSON.stringify(o.processSpec));
  await rm(join(p.socketDir, o.cuuid), { force: true });
  const args = [
    ...baseArgs(p, {
      id: o.containerId,
      cuuid: o.cuuid,
      name: o.name,
      bundle: o.dir,
      pidFile: join(o.dir, 'exec_pid'),
      exitDir: join(o.dir, 'exit'),
      persistDir: join(o.dir, 'persist'),
    }),
    '-l', 'none',
    '-e', '--exec-attach', '--exec-process-spec', specPath,
    ...(o.stdin ? ['-i'] : []),
    ...(o.tty ? ['-t'] : []),
  ];
  const child = spawn(p.conmon, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
  });
  const sync = child.stdio[3] as Readable;
  const start = child.stdio[4] as Writable;
  const attach = (child.stdio as unknown as (Readable | Writable | null)[])[5] as Readable;
  start.write('0');
  try {
    const ready = await readJsonLine(attach, 'attach');
    if (ready.data < 0) throw new EngineError('system', ready.message ?? 'conmon attach setup failed');
  } catch (e) {
    detach(child);
    throw e;
  }
  let resolveExit!: (n: number) => void;
  let rejectExit!: (e: Error) => void;
  const exited = new Promise<number>((res, rej) => {
    resolveExit = res;
    rejectExit = rej;
  });
  exited.catch(() => undefined);
  return {
    attachPath: join(p.socketDir, o.cuuid, 'attach'),
    ctlPath: join(o.dir, 'ctl'),
    exited,
    async go() {
      start.write('1');
      try {
        const first = await readJsonLine(sync, 'sync');
        if (first.data < 0) throw new CreateError('system', (first.message ?? 'runc exec failed').trim().replace(/^time="[^"]*" level=\w+ msg="(.*)"$/s, '$1').replace(/\\"/g, '"'));
        // conmon reports the exit code on the sync pipe, or at least in the exit file
        readJsonLine(sync, 'exit')
          .then((m) => m.data)
          .catch(async () => {
            const txt = await readFile(join(o.dir, 'exit', o.containerId), 'utf8');
            return Number.parseInt(txt.trim(), 10);
          })
          .then((code) => (Number.isNaN(code) ? rejectExit(new EngineError('system', 'exec exited without an exit code')) : resolveExit(code)))
          .catch((e: Error) => rejectExit(e))
          .finally(() => detach(child));
        return first.data;
      } catch (e) {
        detach(child);
        throw e;
      }
    },
  };
}
