#!/usr/bin/env -S node --max-semi-space-size=2 --enable-source-maps
// berthd entry point: options from the command line and from a daemon.json, as dockerd takes
// them (the command line wins; a directive in both for a list is an error, as in dockerd).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runDaemon } from './daemon.ts';

const USAGE = `Usage: berthd [OPTIONS]

Serve the Docker Engine API for berth.

Options:
      --data-root DIR             Root of persistent state (default /var/lib/berth, or BERTH_ROOT)
      --exec-root DIR             Root of run-time state (default /run/berth, or BERTH_RUN; alias --run-root)
  -H, --host unix:///PATH         Socket to listen on (default <exec-root>/berth.sock)
      --insecure-registry HOST    Registry reachable over plain HTTP: host[:port] or an IPv4 CIDR
                                  (repeatable; 127.0.0.0/8 always is)
      --config-file PATH          Daemon configuration file (default /etc/berth/daemon.json when present)
  -h, --help                      Print this help
`;

/** The daemon.json directives berthd knows, by their dockerd names. */
interface FileConfig {
  readonly 'data-root'?: string;
  readonly 'exec-root'?: string;
  readonly hosts?: readonly string[];
  readonly 'insecure-registries'?: readonly string[];
}
const KNOWN = new Set(['data-root', 'exec-root', 'hosts', 'insecure-registries']);
const DEFAULT_CONFIG = '/etc/berth/daemon.json';

function fail(message: string): never {
  process.stderr.write(`berthd: ${message}\n`);
  process.exit(1);
}

function readConfig(path: string, explicit: boolean): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    fail(`unable to read the configuration file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`unable to configure the daemon with file ${path}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(`unable to configure the daemon with file ${path}: not a JSON object`);
  const unknown = Object.keys(parsed).filter((k) => !KNOWN.has(k));
  if (unknown.length) fail(`the following directives don't match any configuration option: ${unknown.join(', ')}`);
  const c = parsed as Record<string, unknown>;
  for (const k of ['data-root', 'exec-root'] as const) {
    if (c[k] !== undefined && typeof c[k] !== 'string') fail(`invalid configuration in ${path}: "${k}" must be a string`);
  }
  for (const k of ['hosts', 'insecure-registries'] as const) {
    if (c[k] !== undefined && !(Array.isArray(c[k]) && (c[k] as unknown[]).every((x) => typeof x === 'string'))) {
      fail(`invalid configuration in ${path}: "${k}" must be a list of strings`);
    }
  }
  return c as FileConfig;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      'data-root': { type: 'string' },
      'exec-root': { type: 'string' },
      'run-root': { type: 'string' },
      host: { type: 'string', short: 'H' },
      'insecure-registry': { type: 'string', multiple: true },
      'config-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  args = parse();
} catch (e) {
  fail(`${(e as Error).message}\n\n${USAGE}`);
}
const v = args.values;
if (v.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const file = readConfig(v['config-file'] ?? DEFAULT_CONFIG, v['config-file'] !== undefined);
const cliInsecure = v['insecure-registry'] ?? [];
if (cliInsecure.length && file['insecure-registries']?.length) {
  fail('the following directives are specified both as a flag and in the configuration file: insecure-registries');
}
if (v.host && file.hosts?.length) fail('the following directives are specified both as a flag and in the configuration file: hosts');
if (file.hosts && file.hosts.length > 1) fail('berthd listens on one unix socket: "hosts" takes one entry');
const host = v.host ?? file.hosts?.[0];
if (host !== undefined && !host.startsWith('unix://') && host.includes('://')) fail(`berthd listens on a unix socket only: ${host}`);
const dataRoot = v['data-root'] ?? file['data-root'];
const runRoot = v['exec-root'] ?? v['run-root'] ?? file['exec-root'];
const insecure = cliInsecure.length ? cliInsecure : (file['insecure-registries'] ?? []);

runDaemon({
  ...(dataRoot ? { dataRoot } : {}),
  ...(runRoot ? { runRoot } : {}),
  ...(host ? { socket: host.replace(/^unix:\/\//, '') } : {}),
  ...(insecure.length ? { insecureRegistries: insecure } : {}),
}).catch((e: unknown) => {
  process.stderr.write(`berthd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
