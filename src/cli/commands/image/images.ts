// berth images
import { getClient, type GlobalOptions } from '../../context.ts';
import { formatRows } from '../../format/table.ts';
import { ago, humanSize } from '../../format/units.ts';
import { filtersJson } from '../container/simple.ts';

interface Summary { Id: string; RepoTags: string[] | null; RepoDigests: string[] | null; Created: number; Size: number; Labels: Record<string, string> | null; Containers: number }

const HEADERS: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', Containers: 'CONTAINERS',
};

export default async function images(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const flist = Array.isArray(opts.filter) ? [...(opts.filter as string[])] : [];
  if (args[0]) flist.push(`reference=${args[0]}`);
  const filters = filtersJson(flist);
  const list = await client.call<Summary[]>('GET', '/images/json', { query: { all: opts.all === true, ...(filters ? { filters } : {}) } });
  const trunc = opts.trunc !== false;
  const id = (s: string): string => (trunc ? s.slice(7, 19) : s);
  if (opts.quiet === true) {
    const seen = new Set<string>();
    for (const i of list) {
      if (seen.has(i.Id)) continue;
      seen.add(i.Id);
      process.stdout.write(`${id(i.Id)}\n`);
    }
    return;
  }
  const rows: Record<string, unknown>[] = [];
  for (const i of list) {
    const tags = i.RepoTags?.length ? i.RepoTags : ['<none>:<none>'];
    for (const t of tags) {
      const c = t.lastIndexOf(':');
      rows.push({
        ID: id(i.Id),
        Repository: t.slice(0, c),
        Tag: t.slice(c + 1),
        Digest: '<none>',
        CreatedSince: ago(i.Created * 1000),
        CreatedAt: new Date(i.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
        Size: humanSize(i.Size),
        Containers: String(i.Containers),
      });
    }
  }
  const def = `table {{.Repository}}\t{{.Tag}}${opts.digests === true ? '\t{{.Digest}}' : ''}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`;
  process.stdout.write(formatRows(typeof opts.format === 'string' ? opts.format : undefined, def, rows, HEADERS));
}
