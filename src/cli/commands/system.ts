// berth version / info
import { getClient, type GlobalOptions } from '../context.ts';
import { compileTemplate } from '../format/template.ts';

type Opts = Record<string, unknown>;

export async function version(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const server = await client.call<Record<string, string>>('GET', '/version');
  const data = {
    Client: { Version: '0.1.0', ApiVersion: '1.50', Os: 'linux', Arch: 'amd64', GoVersion: `node ${process.version}` },
    Server: server,
  };
  if (typeof opts.format === 'string') {
    process.stdout.write(`${compileTemplate(opts.format)(data)}\n`);
    return;
  }
  process.stdout.write(
    `Client:\n Version:           0.1.0\n API version:       1.50\n Node version:      ${process.version}\n OS/Arch:           linux/amd64\n\n` +
      `Server: berth\n Engine:\n  Version:          ${server.Version}\n  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  Node version:     ${server.GoVersion}\n  OS/Arch:          ${server.Os}/${server.Arch}\n  Kernel:           ${server.KernelVersion}\n`,
  );
}

export async function info(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const i = await client.call<Record<string, unknown>>('GET', '/info');
  if (typeof opts.format === 'string') {
    process.stdout.write(`${compileTemplate(opts.format)(i)}\n`);
    return;
  }
  const lines = [
    'Server:',
    ` Containers: ${String(i.Containers)}`,
    `  Running: ${String(i.ContainersRunning)}`,
    `  Paused: ${String(i.ContainersPaused)}`,
    `  Stopped: ${String(i.ContainersStopped)}`,
    ` Images: ${String(i.Images)}`,
    ` Server Version: ${String(i.ServerVersion)}`,
    ` Storage Driver: ${String(i.Driver)}`,
    ` Logging Driver: ${String(i.LoggingDriver)}`,
    ` Cgroup Driver: ${String(i.CgroupDriver)}`,
    ` Cgroup Version: ${String(i.CgroupVersion)}`,
    ` Runtimes: runc`,
    ` Default Runtime: ${String(i.DefaultRuntime)}`,
    ` Init Binary: ${String(i.InitBinary)}`,
    ` Kernel Version: ${String(i.KernelVersion)}`,
    ` Operating System: ${String(i.OperatingSystem)}`,
    ` OSType: ${String(i.OSType)}`,
    ` Architecture: ${String(i.Architecture)}`,
    ` CPUs: ${String(i.NCPU)}`,
    ` Total Memory: ${(Number(i.MemTotal) / 1024 ** 3).toFixed(2)}GiB`,
    ` Name: ${String(i.Name)}`,
    ` ID: ${String(i.ID)}`,
    ` Docker Root Dir: ${String(i.DockerRootDir)}`,
    ` Live Restore Enabled: true`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function df(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const { humanSize } = await import('../format/units.ts');
  const { formatRows } = await import('../format/table.ts');
  const d = await client.call<{
    LayersSize: number;
    Images: { Id: string; Size: number; SharedSize: number; Containers: number; RepoTags: string[] }[];
    Containers: { State: string; SizeRw: number }[];
  }>('GET', '/system/df');
  const activeImages = d.Images.filter((i) => i.Containers > 0);
  const unusedImageSize = d.Images.filter((i) => i.Containers === 0).reduce((n, i) => n + i.Size - Math.max(0, i.SharedSize), 0);
  const running = d.Containers.filter((c) => c.State === 'running' || c.State === 'paused');
  const cSize = d.Containers.reduce((n, c) => n + c.SizeRw, 0);
  const cReclaim = d.Containers.filter((c) => !(c.State === 'running' || c.State === 'paused')).reduce((n, c) => n + c.SizeRw, 0);
  const pct = (a: number, b: number): string => (b > 0 ? ` (${Math.round((a * 100) / b)}%)` : '');
  const rows = [
    { Type: 'Images', TotalCount: String(d.Images.length), Active: String(activeImages.length), Size: humanSize(d.LayersSize), Reclaimable: `${humanSize(unusedImageSize)}${pct(unusedImageSize, d.LayersSize)}` },
    { Type: 'Containers', TotalCount: String(d.Containers.length), Active: String(running.length), Size: humanSize(cSize), Reclaimable: `${humanSize(cReclaim)}${pct(cReclaim, cSize)}` },
    { Type: 'Local Volumes', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
    { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
  ];
  process.stdout.write(
    formatRows(typeof opts.format === 'string' ? opts.format : undefined, 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', rows, {
      Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE',
    }),
  );
}
