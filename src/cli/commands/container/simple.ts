// The short container verbs: stop, restart, kill, pause, unpause, rm, wait, top, rename, prune.
import { ApiError } from '../../../client/index.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { confirm } from '../../prompt.ts';
import { renderTable } from '../../format/table.ts';
import { humanSize } from '../../format/units.ts';

type Opts = Record<string, unknown>;
const enc = encodeURIComponent;

/** Run `fn` for each argument; print errors like the docker CLI and exit 1 if any failed. */
async function each(args: string[], fn: (name: string) => Promise<void>): Promise<void> {
  let failed = false;
  for (const name of args) {
    try {
      await fn(name);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      process.stderr.write(`Error response from daemon: ${e.message}\n`);
      failed = true;
    }
  }
  if (failed) throw new ExitStatus(1);
}

function stopLike(verb: 'stop' | 'restart') {
  return async (opts: Opts, args: string[], g: GlobalOptions): Promise<void> => {
    const client = await getClient(g);
    await each(args, async (name) => {
      await client.status('POST', `/containers/${enc(name)}/${verb}`, {
        query: { ...(opts.time !== undefined ? { t: String(opts.time) } : {}), ...(typeof opts.signal === 'string' ? { signal: opts.signal } : {}) },
      });
      process.stdout.write(`${name}\n`);
    });
  };
}

export const stop = stopLike('stop');
export const restart = stopLike('restart');

export async function kill(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  await each(args, async (name) => {
    await client.status('POST', `/containers/${enc(name)}/kill`, { query: { ...(typeof opts.signal === 'string' ? { signal: opts.signal } : {}) } });
    process.stdout.write(`${name}\n`);
  });
}

function simplePost(verb: 'pause' | 'unpause') {
  return async (_opts: Opts, args: string[], g: GlobalOptions): Promise<void> => {
    const client = await getClient(g);
    await each(args, async (name) => {
      await client.status('POST', `/containers/${enc(name)}/${verb}`);
      process.stdout.write(`${name}\n`);
    });
  };
}
export const pause = simplePost('pause');
export const unpause = simplePost('unpause');

export async function rm(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  await each(args, async (name) => {
    await client.status('DELETE', `/containers/${enc(name)}`, { query: { force: opts.force === true, v: opts.volumes === true } });
    process.stdout.write(`${name}\n`);
  });
}

export async function wait(_opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  await each(args, async (name) => {
    const r = await client.call<{ StatusCode: number }>('POST', `/containers/${enc(name)}/wait`);
    process.stdout.write(`${r.StatusCode}\n`);
  });
}

export async function top(_opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const [name = '', ...ps] = args;
  const r = await client.call<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${enc(name)}/top`, { query: { ...(ps.length ? { ps_args: ps.join(' ') } : {}) } });
  process.stdout.write(renderTable([r.Titles, ...r.Processes], { minwidth: 20 }));
}

export async function rename(_opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  await client.status('POST', `/containers/${enc(args[0] ?? '')}/rename`, { query: { name: args[1] ?? '' } });
}

export function filtersJson(list: unknown): string | undefined {
  const arr = Array.isArray(list) ? (list as string[]) : [];
  if (arr.length === 0) return undefined;
  const f: Record<string, Record<string, boolean>> = {};
  for (const item of arr) {
    const i = item.indexOf('=');
    if (i < 0) throw new ApiError(400, `bad format of filter (expected name=value)`);
    const k = item.slice(0, i).trim().toLowerCase();
    (f[k] ??= {})[item.slice(i + 1)] = true;
  }
  return JSON.stringify(f);
}

export async function prune(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  if (opts.force !== true && !(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) return;
  const client = await getClient(g);
  const filters = filtersJson(opts.filter);
  const r = await client.call<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { ...(filters ? { filters } : {}) } });
  if (r.ContainersDeleted?.length) {
    process.stdout.write('Deleted Containers:\n');
    for (const id of r.ContainersDeleted) process.stdout.write(`${id}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
}
