// Where berth keeps things. State under the data root (default /var/lib/berth), runtime files
// under the run root (default /run/berth); both can be moved so tests run side by side.
import { join } from 'node:path';

export interface EnginePaths {
  readonly dataRoot: string;
  readonly runRoot: string;
  readonly socket: string;
  readonly runc: string;
  readonly conmon: string;
  readonly init: string;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env): EnginePaths {
  const dataRoot = env.BERTH_ROOT ?? '/var/lib/berth';
  const runRoot = env.BERTH_RUN ?? '/run/berth';
  return {
    dataRoot,
    runRoot,
    socket: join(runRoot, 'berth.sock'),
    runc: env.BERTH_RUNC ?? '/usr/sbin/runc',
    conmon: env.BERTH_CONMON ?? '/usr/bin/conmon',
    init: env.BERTH_INIT ?? '/usr/bin/catatonit',
  };
}

export const layout = (p: EnginePaths) => ({
  content: join(p.dataRoot, 'content'),
  snapshots: join(p.dataRoot, 'snapshots'),
  containers: join(p.dataRoot, 'containers'),
  runcRoot: join(p.runRoot, 'runc'),
  exits: join(p.runRoot, 'exits'),
  sockets: join(p.runRoot, 's'),
  netns: join(p.runRoot, 'netns'),
  execs: join(p.runRoot, 'e'),
  monitors: join(p.runRoot, 'c'),
});
