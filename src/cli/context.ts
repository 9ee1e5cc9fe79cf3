// What every command needs: the client for the chosen daemon, started on demand.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../client/index.ts';

export interface GlobalOptions {
  host?: string;
}

function hostFromEnv(opts: GlobalOptions): { socket: string; explicit: boolean } {
  const h = opts.host ?? process.env.BERTH_HOST ?? process.env.DOCKER_HOST;
  if (h) {
    if (!h.startsWith('unix://') && !h.startsWith('/')) throw new Error(`unsupported host ${h}: berth speaks to unix sockets (unix:///path)`);
    return { socket: h.replace(/^unix:\/\//, ''), explicit: true };
  }
  const runRoot = process.env.BERTH_RUN ?? '/run/berth';
  return { socket: join(runRoot, 'berth.sock'), explicit: false };
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Start berthd in the background when its socket is absent (and no host was named). */
async function ensureDaemon(socket: string): Promise<void> {
  if (existsSync(socket) && (await canConnect(socket))) return;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'berthd.mjs'), join(here, '..', 'berthd.mjs')];
  const script = candidates.find((c) => existsSync(c));
  if (!script) throw new Error('cannot find berthd.mjs next to the berth CLI');
  const runRoot = dirname(socket);
  mkdirSync(runRoot, { recursive: true, mode: 0o700 });
  const log = openSync(join(runRoot, 'berthd.log'), 'a');
  // a small young generation keeps the daemon's resident memory low under churn
  const child = spawn(process.execPath, ['--max-semi-space-size=2', '--enable-source-maps', script, '--run-root', runRoot, '--host', `unix://${socket}`], {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  child.unref();
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (await canConnect(socket)) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error(`berthd did not start; see ${join(runRoot, 'berthd.log')}`);
}

let client: Client | undefined;

export async function getClient(opts: GlobalOptions): Promise<Client> {
  if (client) return client;
  const { socket, explicit } = hostFromEnv(opts);
  if (!explicit && process.getuid?.() === 0) await ensureDaemon(socket);
  client = new Client(socket);
  return client;
}

export function closeClient(): void {
  client?.close();
}
