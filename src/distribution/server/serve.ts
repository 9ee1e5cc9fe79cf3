// `berth registry serve`: options from the command line, then listen and log one line per
// request. Rendering (the log line) lives here, at the edge; the server only reports events.

import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { invalid } from '../../core/errors.ts';
import { createRegistryServer, type RegistryServer, type RequestLogEntry } from './server.ts';

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly root: string;
  readonly htpasswd?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

export const DEFAULT_ADDR = '127.0.0.1:5000';
export const SERVE_USAGE =
  'usage: berth registry serve --root DIR [--addr HOST:PORT] [--htpasswd FILE] [--tls-cert FILE --tls-key FILE]';

/** `HOST:PORT`, `[V6]:PORT`, `:PORT` (every interface) or `PORT`. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(addr) ?? (/^\d+$/.test(addr) ? ['', undefined, '', addr] : null);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`invalid address ${JSON.stringify(addr)}: want HOST:PORT`);
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  return { host, port };
}

/** Parse `--addr`, `--root`, `--htpasswd`, `--tls-cert`, `--tls-key` (`--flag value` or `--flag=value`). */
export function parseServeArgs(argv: readonly string[]): ServeOptions {
  const values = new Map<string, string>();
  const known = new Set(['--addr', '--root', '--htpasswd', '--tls-cert', '--tls-key']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (!known.has(flag)) throw invalid(`unknown argument ${JSON.stringify(a)}\n${SERVE_USAGE}`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw invalid(`${flag} needs a value\n${SERVE_USAGE}`);
    values.set(flag, value);
  }
  const root = values.get('--root');
  if (root === undefined) throw invalid(`--root is required\n${SERVE_USAGE}`);
  const tlsCert = values.get('--tls-cert');
  const tlsKey = values.get('--tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw invalid('--tls-cert and --tls-key go together');
  const htpasswd = values.get('--htpasswd');
  return {
    ...parseAddr(values.get('--addr') ?? DEFAULT_ADDR),
    root,
    ...(htpasswd !== undefined ? { htpasswd } : {}),
    ...(tlsCert !== undefined && tlsKey !== undefined ? { tlsCert, tlsKey } : {}),
  };
}

/** One log line: time, client, user, request, status, bytes, duration (and why, on faults). */
export function formatLogLine(e: RequestLogEntry, now = new Date()): string {
  const error = e.error !== undefined ? ` error=${JSON.stringify(e.error)}` : '';
  return `${now.toISOString()} ${e.remote || '-'} ${e.user ?? '-'} "${e.method} ${e.url}" ${e.status} ${e.bytes} ${e.durationMs.toFixed(1)}ms${error}`;
}

export interface RunningRegistry {
  readonly registry: RegistryServer;
  /** e.g. `http://127.0.0.1:5000`. */
  readonly url: string;
}

/** Open the registry and listen; every request and start-up notice goes to `log`. */
export async function serveRegistry(opts: ServeOptions, log: (line: string) => void): Promise<RunningRegistry> {
  const tls =
    opts.tlsCert !== undefined && opts.tlsKey !== undefined
      ? { cert: await readFile(opts.tlsCert), key: await readFile(opts.tlsKey) }
      : undefined;
  const registry = await createRegistryServer({
    root: opts.root,
    ...(opts.htpasswd !== undefined ? { htpasswd: opts.htpasswd } : {}),
    ...(tls ? { tls } : {}),
    onRequest: (e) => log(formatLogLine(e)),
  });
  const { startup } = registry;
  if (startup.sweptUploads > 0 || startup.sweptIngest > 0) {
    log(`removed ${startup.sweptUploads} stale upload(s) and ${startup.sweptIngest} half-written blob(s)`);
  }
  if (startup.unsupportedUsers.length > 0) {
    log(`warning: htpasswd entries that are not bcrypt are ignored: ${startup.unsupportedUsers.join(', ')}`);
  }
  await new Promise<void>((resolve, reject) => {
    registry.server.once('error', reject);
    registry.server.listen(opts.port, opts.host, () => {
      registry.server.off('error', reject);
      resolve();
    });
  });
  const a = registry.server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${a.port}`;
  log(`listening on ${url} (root ${opts.root}${opts.htpasswd !== undefined ? ', htpasswd auth' : ''})`);
  return { registry, url };
}
