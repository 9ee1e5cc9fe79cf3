// Turning run/create flags into the Engine API create body, as the docker CLI does.
import { readFileSync } from 'node:fs';
import { invalid } from '../../../core/errors.ts';
import { parseReference } from '../../../core/reference.ts';

type Opts = Record<string, unknown>;

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

/** Docker's RAMInBytes: 512m, 1g, 1024 (bytes). */
export function parseBytes(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw invalid(`invalid argument "${v}" for "${flag}" flag: invalid size: '${v}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] ?? '').toLowerCase() as ''];
  return Math.floor(Number(m[1]) * mult);
}

export function readEnvFiles(files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      throw invalid(`open ${f}: no such file or directory`);
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) continue;
      if (line.includes('=')) out.push(line);
      else {
        const v = process.env[line.trim()];
        if (v !== undefined) out.push(`${line.trim()}=${v}`);
      }
    }
  }
  return out;
}

/** -e NAME (no '=') takes the value from the client's environment, as the docker CLI does. */
export function envList(opts: Opts): string[] {
  const env = [...readEnvFiles(list(opts.envFile))];
  for (const e of list(opts.env)) {
    if (e.includes('=')) env.push(e);
    else if (process.env[e] !== undefined) env.push(`${e}=${process.env[e]}`);
  }
  return env;
}

export function labels(opts: Opts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list(opts.label)) {
    const i = l.indexOf('=');
    if (i < 0) out[l] = '';
    else out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

export interface CreateRequest {
  readonly body: Record<string, unknown>;
  readonly name?: string;
  readonly image: string;
}

export function buildCreateRequest(opts: Opts, args: string[]): CreateRequest {
  const [image, ...cmd] = args;
  if (!image) throw invalid('"run" requires at least 1 argument.');
  parseReference(image);
  if (list(opts.publish).length) throw invalid('publishing ports (-p) needs networking, which this berth version does not have yet');
  if (list(opts.volume).length) throw invalid('volumes (-v) are not supported by this berth version yet');
  const attach = list(opts.attach).map((s) => s.toLowerCase());
  const detach = opts.detach === true;
  const interactive = opts.interactive === true;
  const tty = opts.tty === true;
  const attachStdin = !detach && (interactive || attach.includes('stdin'));
  const attachStdout = !detach && (attach.length === 0 || attach.includes('stdout'));
  const attachStderr = !detach && (attach.length === 0 || attach.includes('stderr'));
  const cpus = typeof opts.cpus === 'string' ? Number(opts.cpus) : 0;
  if (Number.isNaN(cpus)) throw invalid(`invalid argument "${String(opts.cpus)}" for "--cpus" flag`);
  const ep = typeof opts.entrypoint === 'string' ? (opts.entrypoint === '' ? [''] : [opts.entrypoint]) : null;
  const restart = String(opts.restart ?? 'no');
  const [rpName = 'no', rpCount = '0'] = restart.split(':');
  const size = process.stdout.isTTY && tty ? [process.stdout.rows ?? 0, process.stdout.columns ?? 0] : [0, 0];
  const body: Record<string, unknown> = {
    Hostname: typeof opts.hostname === 'string' ? opts.hostname : '',
    Domainname: '',
    User: typeof opts.user === 'string' ? opts.user : '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && !detach,
    Env: envList(opts),
    Cmd: cmd.length ? cmd : null,
    Image: image,
    WorkingDir: typeof opts.workdir === 'string' ? opts.workdir : '',
    Entrypoint: ep,
    Labels: labels(opts),
    ...(typeof opts.stopSignal === 'string' ? { StopSignal: opts.stopSignal } : {}),
    ...(typeof opts.stopTimeout === 'string' ? { StopTimeout: Number(opts.stopTimeout) } : {}),
    HostConfig: {
      AutoRemove: opts.rm === true,
      NetworkMode: String(opts.network ?? 'default'),
      Init: opts.init === true ? true : null,
      Privileged: opts.privileged === true,
      ReadonlyRootfs: opts.readOnly === true,
      CapAdd: list(opts.capAdd),
      CapDrop: list(opts.capDrop),
      Memory: typeof opts.memory === 'string' ? parseBytes(opts.memory, '--memory') : 0,
      PidsLimit: typeof opts.pidsLimit === 'string' ? Number(opts.pidsLimit) : null,
      NanoCpus: Math.round(cpus * 1e9),
      ShmSize: typeof opts.shmSize === 'string' ? parseBytes(opts.shmSize, '--shm-size') : 0,
      RestartPolicy: { Name: rpName, MaximumRetryCount: Number(rpCount) },
      ConsoleSize: size,
    },
  };
  return { body, image, ...(typeof opts.name === 'string' ? { name: opts.name } : {}) };
}
