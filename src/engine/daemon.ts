// berthd: open the engine, serve the Engine API on the unix socket. Stopping berthd never
// touches running containers: each has its own conmon.
import net from 'node:net';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEngineApi } from '../api/index.ts';
import { configureDistribution } from './distribution.ts';
import { Engine } from './engine.ts';
import { defaultPaths, type EnginePaths } from './paths.ts';

export interface DaemonOptions {
  readonly dataRoot?: string;
  readonly runRoot?: string;
  readonly socket?: string;
  /** Registries reachable over plain HTTP besides loopback (host[:port] or IPv4 CIDR). */
  readonly insecureRegistries?: readonly string[];
}

async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function runDaemon(o: DaemonOptions = {}): Promise<void> {
  const base = defaultPaths();
  const dataRoot = o.dataRoot ?? base.dataRoot;
  const runRoot = o.runRoot ?? base.runRoot;
  const paths: EnginePaths = { ...base, dataRoot, runRoot, socket: o.socket ?? join(runRoot, 'berth.sock') };
  if (process.getuid?.() !== 0) {
    process.stderr.write('berthd: must run as root\n');
    process.exit(1);
  }
  if (await socketInUse(paths.socket)) {
    process.stderr.write(`berthd: another daemon is already serving ${paths.socket}\n`);
    process.exit(1);
  }
  const engine = await Engine.open(paths);
  if (o.insecureRegistries?.length) configureDistribution(engine, { insecureRegistries: o.insecureRegistries });
  const server = createEngineApi(engine);
  await rm(paths.socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(paths.socket, () => resolve());
  });
  await chmod(paths.socket, 0o660);
  await writeFile(join(runRoot, 'berthd.pid'), `${process.pid}\n`);
  process.stderr.write(`berthd: serving the Engine API on ${paths.socket} (data ${dataRoot}, run ${runRoot})\n`);
  const shutdown = (): void => {
    process.stderr.write('berthd: shutting down (containers keep running)\n');
    engine.close();
    server.close();
    void rm(paths.socket, { force: true }).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGPIPE', () => undefined);
  // A client that disconnects mid-write must never take the engine down.
  process.on('uncaughtException', (e: NodeJS.ErrnoException) => {
    process.stderr.write(`berthd: uncaught: ${e.stack ?? e.message}\n`);
    if (e.code === 'EPIPE' || e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_DESTROYED' || e.code === 'ERR_STREAM_WRITE_AFTER_END') return;
    process.exit(70);
  });
}
