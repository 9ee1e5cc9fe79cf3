// berth ps
import { getClient, type GlobalOptions } from '../../context.ts';
import { formatRows } from '../../format/table.ts';
import { ago, goTimeString, humanSize } from '../../format/units.ts';
import { formatCommand, formatNames } from '../../format/truncate.ts';
import { filtersJson } from './simple.ts';

interface Summary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: unknown[];
  Labels: Record<string, string> | null;
  State: string;
  Status: string;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts: unknown[];
}

const HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS',
  Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', State: 'STATE', LocalVolumes: 'LOCAL VOLUMES',
};

export default async function ps(opts: Record<string, unknown>, _args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const format = typeof opts.format === 'string' ? opts.format : undefined;
  const wantSize = opts.size === true || (format?.includes('.Size') ?? false);
  const filters = filtersJson(opts.filter);
  const limit = opts.latest === true ? 1 : opts.last !== undefined ? Number(opts.last) : undefined;
  const list = await client.call<Summary[]>('GET', '/containers/json', {
    query: { all: opts.all === true, ...(limit !== undefined ? { limit } : {}), size: wantSize, ...(filters ? { filters } : {}) },
  });
  const trunc = opts.trunc !== false;
  if (opts.quiet === true) {
    for (const c of list) process.stdout.write(`${trunc ? c.Id.slice(0, 12) : c.Id}\n`);
    return;
  }
  const rows = list.map((c) => {
    const labels = c.Labels ?? {};
    return {
      ID: trunc ? c.Id.slice(0, 12) : c.Id,
      Image: trunc && c.Image.startsWith('sha256:') ? c.Image.slice(7, 19) : c.Image,
      Command: formatCommand(c.Command, !trunc),
      CreatedAt: goTimeString(c.Created * 1000),
      RunningFor: ago(c.Created * 1000),
      Ports: '',
      Status: c.Status,
      State: c.State,
      Size: c.SizeRw !== undefined ? `${humanSize(c.SizeRw)}${(c.SizeRootFs ?? 0) > 0 ? ` (virtual ${humanSize(c.SizeRootFs ?? 0)})` : ''}` : '0B',
      Names: formatNames(c.Names, !trunc),
      Labels: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
      Label: (k: string) => labels[k] ?? '',
      Mounts: '',
      Networks: '',
      LocalVolumes: '0',
    };
  });
  const def = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${opts.size === true ? '\t{{.Size}}' : ''}`;
  process.stdout.write(formatRows(format, def, rows, HEADERS, { typeName: '*formatter.ContainerContext' }));
}
