// Registry credentials in Docker's config.json (`$DOCKER_CONFIG/config.json`, default
// `~/.docker/config.json`), so berth and the docker CLI share logins: `auths` entries with a
// base64 `user:password` (or an `identitytoken`), a `credsStore` for every registry and
// `credHelpers` per registry, both answered by `docker-credential-<name> get|store|erase`
// programs (stdin: the server URL or {ServerURL,Username,Secret}; stdout: JSON). Docker Hub's
// key is `https://index.docker.io/v1/`. The CLI reads them and sends X-Registry-Auth; the
// daemon never reads this file.

import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_DOMAIN } from '../core/reference.ts';

/** Docker's AuthConfig (as X-Registry-Auth and POST /auth carry it). */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** The key and login address Docker uses for Docker Hub. */
export const INDEX_SERVER = 'https://index.docker.io/v1/';
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export interface CredentialsOptions {
  readonly env?: NodeJS.ProcessEnv;
}

type ConfigFile = Record<string, unknown> & {
  auths?: Record<string, { auth?: string; identitytoken?: string; email?: string; username?: string; password?: string } | undefined>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
};

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker');
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'config.json');
}

/** `http://host:5000/v2/` -> host:5000; Docker Hub's names -> its index address. */
export function normalizeServer(server: string): string {
  let s = server.trim().replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '');
  s = s.split('/')[0] ?? '';
  if (s === '' || HUB_NAMES.has(s.toLowerCase())) return INDEX_SERVER;
  return s;
}

/** The key credentials for a registry domain are stored under. */
export function credentialKey(registry: string): string {
  return registry === DEFAULT_DOMAIN ? INDEX_SERVER : normalizeServer(registry);
}

async function readConfig(env: NodeJS.ProcessEnv): Promise<ConfigFile> {
  try {
    const j = JSON.parse(await readFile(configPath(env), 'utf8')) as unknown;
    return typeof j === 'object' && j !== null && !Array.isArray(j) ? (j as ConfigFile) : {};
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`loading config file ${configPath(env)}: ${(e as Error).message}`);
  }
}

async function writeConfig(env: NodeJS.ProcessEnv, cfg: ConfigFile): Promise<void> {
  const file = configPath(env);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** Which helper program (if any) keeps the credentials of `key`. */
function helperFor(cfg: ConfigFile, key: string): string | undefined {
  const helpers = cfg.credHelpers ?? {};
  const host = key === INDEX_SERVER ? 'docker.io' : key;
  const named = helpers[key] ?? helpers[host] ?? (key === INDEX_SERVER ? helpers['index.docker.io'] ?? helpers['registry-1.docker.io'] : undefined);
  if (named) return named;
  return typeof cfg.credsStore === 'string' && cfg.credsStore !== '' ? cfg.credsStore : undefined;
}

export class CredentialHelperError extends Error {}

/** Run `docker-credential-<name> <action>` with `input` on stdin. */
function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const program = `docker-credential-${name}`;
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new CredentialHelperError(e.code === 'ENOENT' ? `error getting credentials - err: exec: "${program}": executable file not found in $PATH` : `${program}: ${e.message}`));
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const NOT_FOUND = /credentials not found/i;

/** The stored credentials for a registry domain (docker.io, localhost:5000), if any. */
export async function getCredentials(registry: string, o: CredentialsOptions = {}): Promise<AuthConfig | undefined> {
  const env = o.env ?? process.env;
  const cfg = await readConfig(env);
  const key = credentialKey(registry);
  const helper = helperFor(cfg, key);
  if (helper) {
    const r = await runHelper(helper, 'get', key, env);
    if (r.code !== 0) {
      if (NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr)) return undefined;
      throw new CredentialHelperError(`error getting credentials - err: ${(r.stdout || r.stderr).trim() || `exit status ${r.code}`}`);
    }
    let j: { Username?: string; Secret?: string; ServerURL?: string };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      throw new CredentialHelperError(`error getting credentials - err: docker-credential-${helper} sent no JSON`);
    }
    if (!j.Secret) return undefined;
    // A Username of "<token>" means the secret is an identity token.
    if (j.Username === '<token>') return { identitytoken: j.Secret, serveraddress: key };
    return { username: j.Username ?? '', password: j.Secret, serveraddress: key };
  }
  const auths = cfg.auths ?? {};
  const entry =
    auths[key] ??
    Object.entries(auths).find(([k]) => normalizeServer(k) === key)?.[1];
  if (entry === undefined) return undefined;
  const out: AuthConfig = { serveraddress: key };
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) throw new Error(`invalid auth configuration file: ${configPath(env)}`);
    out.username = plain.slice(0, colon);
    out.password = plain.slice(colon + 1);
  } else {
    if (entry.username) out.username = entry.username;
    if (entry.password) out.password = entry.password;
  }
  if (entry.identitytoken) {
    out.identitytoken = entry.identitytoken;
    delete out.password;
  }
  return out.username || out.identitytoken ? out : undefined;
}

/** Store credentials for a login server address (the helper's, or config.json's `auths`). */
export async function storeCredentials(server: string, auth: AuthConfig, o: CredentialsOptions = {}): Promise<void> {
  const env = o.env ?? process.env;
  const cfg = await readConfig(env);
  const key = normalizeServer(server);
  const helper = helperFor(cfg, key);
  const username = auth.username ?? '';
  const secret = auth.identitytoken || auth.password || '';
  if (helper) {
    const input = JSON.stringify({ ServerURL: key, Username: auth.identitytoken ? '<token>' : username, Secret: secret });
    const r = await runHelper(helper, 'store', input, env);
    if (r.code !== 0) throw new CredentialHelperError(`error storing credentials - err: ${(r.stdout || r.stderr).trim() || `exit status ${r.code}`}`);
    // Docker keeps an empty entry so that `auths` lists the registry.
    cfg.auths = { ...(cfg.auths ?? {}), [key]: {} };
    await writeConfig(env, cfg);
    return;
  }
  const entry: { auth: string; identitytoken?: string } = {
    auth: Buffer.from(`${username}:${auth.identitytoken ? '' : (auth.password ?? '')}`).toString('base64'),
    ...(auth.identitytoken ? { identitytoken: auth.identitytoken } : {}),
  };
  cfg.auths = { ...(cfg.auths ?? {}), [key]: entry };
  await writeConfig(env, cfg);
}

/** Forget the credentials of a server; false when there were none. */
export async function eraseCredentials(server: string, o: CredentialsOptions = {}): Promise<boolean> {
  const env = o.env ?? process.env;
  const cfg = await readConfig(env);
  const key = normalizeServer(server);
  const helper = helperFor(cfg, key);
  const auths = cfg.auths ?? {};
  const keys = Object.keys(auths).filter((k) => normalizeServer(k) === key);
  let found = keys.length > 0;
  if (helper) {
    const r = await runHelper(helper, 'erase', key, env);
    if (r.code === 0) found = true;
    else if (!(NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr))) {
      throw new CredentialHelperError(`error erasing credentials - err: ${(r.stdout || r.stderr).trim() || `exit status ${r.code}`}`);
    }
  }
  if (keys.length) {
    for (const k of keys) delete auths[k];
    cfg.auths = auths;
    await writeConfig(env, cfg);
  }
  return found;
}

/** X-Registry-Auth: base64url (with padding) of the JSON AuthConfig; `e30=` when anonymous. */
export function encodeAuthConfig(auth: AuthConfig | undefined): string {
  const o: AuthConfig = {};
  if (auth) for (const [k, v] of Object.entries(auth) as [keyof AuthConfig, string | undefined][]) if (v) o[k] = v;
  return Buffer.from(JSON.stringify(o)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** The X-Registry-Auth header value for a registry domain, from the stored credentials. */
export async function registryAuthHeader(registry: string, o: CredentialsOptions = {}): Promise<string> {
  let auth: AuthConfig | undefined;
  try {
    auth = await getCredentials(registry, o);
  } catch {
    auth = undefined; // as docker: a broken store means anonymous
  }
  return encodeAuthConfig(auth);
}
