// berth rmi / tag / import / history / image prune
import { createReadStream } from 'node:fs';
import { ApiError } from '../../../client/index.ts';
import { parseReference, familiarName } from '../../../core/reference.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { confirm } from '../../prompt.ts';
import { formatRows } from '../../format/table.ts';
import { ago, humanSize } from '../../format/units.ts';
import { ellipsis } from '../../format/truncate.ts';
import { filtersJson } from '../container/simple.ts';

type Opts = Record<string, unknown>;

export async function rmi(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  let failed = false;
  for (const name of args) {
    try {
      const r = await client.call<{ Untagged?: string; Deleted?: string }[]>('DELETE', `/images/${name}`, { query: { force: opts.force === true, noprune: opts.prune === false } });
      for (const e of r) process.stdout.write(e.Untagged ? `Untagged: ${e.Untagged}\n` : `Deleted: ${e.Deleted ?? ''}\n`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      process.stderr.write(`Error response from daemon: ${e.message}\n`);
      failed = true;
    }
  }
  if (failed) throw new ExitStatus(1);
}

/** `repo` and `tag` query parameters for a reference, as the docker CLI sends them. */
function repoAndTag(target: string | undefined): { repo?: string; tag?: string } {
  if (!target) return {};
  const ref = parseReference(target);
  return { repo: ref.domain === 'docker.io' ? familiarName(ref) : `${ref.domain}/${ref.path}`, ...(ref.tag ? { tag: ref.tag } : {}) };
}

export async function tag(_opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const [src = '', target = ''] = args;
  if (parseReference(target).digest) throw new ApiError(400, 'refusing to create a tag with a digest reference');
  const q = repoAndTag(target);
  await client.status('POST', `/images/${src}/tag`, { query: { ...q, tag: q.tag ?? 'latest' } });
}

export async function importImage(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const [file = '', target] = args;
  const { repo, tag: tg } = repoAndTag(target);
  const body = file === '-' ? process.stdin : createReadStream(file);
  if (file !== '-') {
    await new Promise<void>((resolve, reject) => {
      (body as ReturnType<typeof createReadStream>).once('open', () => resolve());
      (body as ReturnType<typeof createReadStream>).once('error', (e: NodeJS.ErrnoException) =>
        reject(new ApiError(400, e.code === 'ENOENT' ? `open ${file}: no such file or directory` : e.message)),
      );
    });
  }
  const res = await client.check(
    await client.request('POST', '/images/create', {
      query: { fromSrc: '-', ...(repo ? { repo } : {}), ...(tg ? { tag: tg } : {}), ...(typeof opts.message === 'string' ? { message: opts.message } : {}), changes: (opts.change as string[] | undefined) ?? [] },
      rawBody: body,
      headers: { 'Content-Type': 'application/x-tar' },
    }),
  );
  const text = await client.text(res);
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as { status?: string; error?: string };
    if (m.error) throw new ApiError(500, m.error);
    if (m.status) process.stdout.write(`${m.status}\n`);
  }
}

export async function history(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const h = await client.call<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }[]>('GET', `/images/${args[0] ?? ''}/history`);
  const trunc = opts.trunc !== false;
  if (opts.quiet === true) {
    for (const e of h) process.stdout.write(`${trunc && e.Id.startsWith('sha256:') ? e.Id.slice(7, 19) : e.Id}\n`);
    return;
  }
  const rows = h.map((e) => ({
    ID: trunc && e.Id.startsWith('sha256:') ? e.Id.slice(7, 19) : e.Id,
    CreatedSince: ago(e.Created * 1000),
    CreatedAt: new Date(e.Created * 1000).toISOString(),
    CreatedBy: trunc ? ellipsis(e.CreatedBy, 45) : e.CreatedBy,
    Size: humanSize(e.Size),
    Comment: e.Comment,
  }));
  process.stdout.write(
    formatRows(typeof opts.format === 'string' ? opts.format : undefined, 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', rows, {
      ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT',
    }),
  );
}

export async function prune(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  const warning = opts.all === true ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
  if (opts.force !== true && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
  const client = await getClient(g);
  const f = Array.isArray(opts.filter) ? [...(opts.filter as string[])] : [];
  f.push(`dangling=${opts.all === true ? 'false' : 'true'}`);
  const filters = filtersJson(f);
  const r = await client.call<{ ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed: number }>('POST', '/images/prune', { query: { ...(filters ? { filters } : {}) } });
  if (r.ImagesDeleted?.length) {
    process.stdout.write('Deleted Images:\n');
    for (const e of r.ImagesDeleted) process.stdout.write(e.Untagged ? `untagged: ${e.Untagged}\n` : `deleted: ${e.Deleted ?? ''}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
}

export async function commit(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const [container = '', target] = args;
  const { repo, tag: tg } = repoAndTag(target);
  const r = await client.call<{ Id: string }>('POST', '/commit', {
    query: {
      container,
      ...(repo ? { repo } : {}),
      ...(tg ? { tag: tg } : {}),
      ...(typeof opts.message === 'string' ? { comment: opts.message } : {}),
      ...(typeof opts.author === 'string' ? { author: opts.author } : {}),
      pause: opts.pause === 'false' ? '0' : '1',
      changes: (opts.change as string[] | undefined) ?? [],
    },
    body: {},
  });
  process.stdout.write(`${r.Id}\n`);
}

export async function builderPrune(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  if (opts.force !== true && !(await confirm('WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?'))) return;
  const client = await getClient(g);
  const r = await client.call<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/build/prune');
  if (r.CachesDeleted?.length) {
    process.stdout.write('Deleted build cache objects:\n');
    for (const k of r.CachesDeleted) process.stdout.write(`${k}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
}
