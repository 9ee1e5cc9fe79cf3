// /_ping, /version, /info
import os from 'node:os';
import type { Router } from '../server.ts';
import { API_VERSION, ENGINE_VERSION, MIN_API_VERSION, sendJson } from '../server.ts';
import type { Engine } from '../../engine/engine.ts';
import { registryConfig } from '../../engine/distribution.ts';
import { familiarString } from '../../core/reference.ts';

export function systemRoutes(r: Router, engine: Engine): void {
  const ping = (ctx: Parameters<Parameters<Router['add']>[2]>[0]): void => {
    const headers = {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
      'Builder-Version': '1',
      Swarm: 'inactive',
    };
    if (ctx.req.method === 'HEAD') {
      ctx.res.writeHead(200, { ...headers, 'Content-Length': '0' });
      ctx.res.end();
    } else {
      ctx.res.writeHead(200, { ...headers, 'Content-Length': '2' });
      ctx.res.end('OK');
    }
  };
  r.add('GET', '/_ping', ping);
  r.add('HEAD', '/_ping', ping);
  r.add('GET', '/version', (ctx) => {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: 'amd64' };
    sendJson(ctx.res, 200, {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: ENGINE_VERSION, Details: { ...details, GitCommit: '', GoVersion: `node ${process.version}`, KernelVersion: os.release(), BuildTime: '', Experimental: 'false' } }],
      Version: ENGINE_VERSION,
      ...details,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      KernelVersion: os.release(),
      BuildTime: '',
      Experimental: false,
    });
  });
  r.add('GET', '/system/df', async (ctx) => {
    const cs = engine.containers.store.list();
    const images = engine.images.list();
    let layersSize = 0;
    const seen = new Set<string>();
    for (const img of images) for (const l of img.layers) if (!seen.has(l.chainId)) {
      seen.add(l.chainId);
      layersSize += l.size;
    }
    const users = new Map<string, number>();
    for (const img of images) for (const l of img.layers) users.set(l.chainId, (users.get(l.chainId) ?? 0) + 1);
    const containers = [];
    for (const c of cs) {
      containers.push({
        Id: c.id,
        Names: [`/${c.name}`],
        Image: c.config.image,
        ImageID: c.config.imageId,
        Command: [c.config.path, ...c.config.args].join(' '),
        Created: Math.floor(Date.parse(c.created) / 1000),
        State: c.state.status,
        Status: c.state.status,
        SizeRw: await engine.containers.sizeRw(c.id),
        SizeRootFs: 0,
        Labels: c.config.labels,
        Mounts: [],
      });
    }
    sendJson(ctx.res, 200, {
      LayersSize: layersSize,
      Images: images.map((img) => ({
        Id: img.id,
        ParentId: img.parent ?? '',
        RepoTags: engine.images.tagsOf(img.id).map((t) => familiarString(t)),
        RepoDigests: [],
        Created: Math.floor(Date.parse(img.created) / 1000),
        Size: img.size,
        SharedSize: img.layers.filter((l) => (users.get(l.chainId) ?? 0) > 1).reduce((n, l) => n + l.size, 0),
        VirtualSize: img.size,
        Labels: img.config.config?.Labels ?? {},
        Containers: cs.filter((c) => c.config.imageId === img.id).length,
      })),
      Containers: containers,
      Volumes: [],
      BuildCache: [],
    });
  });

  r.add('GET', '/info', (ctx) => {
    const cs = engine.containers.store.list();
    const count = (s: string[]): number => cs.filter((c) => s.includes(c.state.status)).length;
    sendJson(ctx.res, 200, {
      ID: engine.id,
      Containers: cs.length,
      ContainersRunning: count(['running', 'restarting']),
      ContainersPaused: count(['paused']),
      ContainersStopped: count(['exited', 'created', 'dead']),
      Images: engine.images.list().length,
      Driver: 'overlay',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      Plugins: { Volume: [], Network: ['host', 'none'], Authorization: null, Log: ['k8s-file'] },
      MemoryLimit: true,
      SwapLimit: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      PidsLimit: true,
      IPv4Forwarding: false,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'k8s-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: '1',
      NEventsListener: 0,
      KernelVersion: os.release(),
      OperatingSystem: 'berth',
      OSVersion: '',
      OSType: 'linux',
      Architecture: 'x86_64',
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: registryConfig(engine),
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      DockerRootDir: engine.paths.dataRoot,
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: { runc: { path: engine.paths.runc } },
      DefaultRuntime: 'runc',
      Swarm: { LocalNodeState: 'inactive', NodeID: '', NodeAddr: '', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: engine.paths.init,
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: [],
    });
  });
}
