// berth login [-u USER] [-p PASS | --password-stdin] [SERVER] and berth logout [SERVER]: the
// daemon checks the credentials against the registry (POST /auth); the CLI keeps them in
// Docker's config.json (or the configured credential helper), as the docker CLI does.
import { ApiError } from '../../../client/index.ts';
import { getCredentials, eraseCredentials, INDEX_SERVER, normalizeServer, storeCredentials, type AuthConfig } from '../../../client/credentials.ts';
import { EngineError } from '../../../core/errors.ts';
import { DEFAULT_DOMAIN } from '../../../core/reference.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';

type Opts = Record<string, unknown>;

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  throw new ExitStatus(code);
}

async function readAllStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

/** Read one line from the terminal, echoing it (or not, for a password). */
function prompt(question: string, echo: boolean): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let value = '';
    const raw = stdin.isTTY === true;
    if (raw) stdin.setRawMode(true);
    const done = (): void => {
      stdin.off('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (b: Buffer): void => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          return;
        }
        if (ch === '\u0003') {
          if (raw) stdin.setRawMode(false);
          process.stderr.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') {
          if (value.length) {
            value = value.slice(0, -1);
            if (echo) process.stderr.write('\b \b');
          }
          continue;
        }
        value += ch;
        if (echo) process.stderr.write(ch);
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** The server address as stored and sent: Docker Hub's index URL, else host[:port]. */
function serverOf(arg: string | undefined): string {
  if (arg === undefined || arg === '') return INDEX_SERVER;
  return normalizeServer(arg);
}

function registryOf(server: string): string {
  return server === INDEX_SERVER ? DEFAULT_DOMAIN : server;
}

interface AuthReply {
  Status: string;
  IdentityToken?: string;
}

export async function login(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const server = serverOf(args[0]);
  let username = typeof opts.username === 'string' ? opts.username.trim() : undefined;
  let password = typeof opts.password === 'string' ? opts.password : undefined;
  if (opts.passwordStdin === true) {
    if (password !== undefined) fail('--password and --password-stdin are mutually exclusive');
    if (username === undefined) fail('Must provide --username with --password-stdin');
    password = (await readAllStdin()).replace(/[\r\n]+$/, '');
  } else if (password !== undefined) {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  const client = await getClient(g);
  const check = (auth: AuthConfig): Promise<AuthReply> => client.call<AuthReply>('POST', '/auth', { body: { ...auth, serveraddress: server } });

  let stored: AuthConfig | undefined;
  if (username === undefined && password === undefined) {
    try {
      stored = await getCredentials(registryOf(server));
    } catch {
      stored = undefined;
    }
    if (stored) {
      process.stderr.write('Authenticating with existing credentials...');
      try {
        const r = await check(stored);
        process.stderr.write(stored.username ? ` [Username: ${stored.username}]\n` : '\n');
        process.stdout.write(`${r.Status || 'Login Succeeded'}\n`);
        return;
      } catch (e) {
        process.stderr.write('\n');
        if (!(e instanceof ApiError && e.status === 401)) throw e;
        process.stderr.write(`Stored credentials invalid or expired\n`);
      }
    }
  }
  if (username === undefined || password === undefined) {
    if (process.stdin.isTTY !== true) fail('Error: Cannot perform an interactive login from a non TTY device');
    if (username === undefined) {
      const def = stored?.username;
      const answer = (await prompt(def ? `Username (${def}): ` : 'Username: ', true)).trim();
      username = answer || def || '';
      if (username === '') fail('Error: Non-null Username Required');
    }
    if (password === undefined) {
      password = await prompt('Password: ', false);
      if (password === '') fail('Error: Password Required');
    }
  }
  let reply: AuthReply;
  try {
    reply = await check({ username, password });
  } catch (e) {
    if (e instanceof ApiError || e instanceof EngineError) fail(`Error response from daemon: ${e.message}`);
    throw e;
  }
  try {
    await storeCredentials(server, reply.IdentityToken ? { username, identitytoken: reply.IdentityToken } : { username, password });
  } catch (e) {
    fail(`Error saving credentials: ${(e as Error).message}`);
  }
  process.stdout.write(`${reply.Status || 'Login Succeeded'}\n`);
}

export async function logout(_opts: Opts, args: string[]): Promise<void> {
  const server = serverOf(args[0]);
  let found: boolean;
  try {
    found = await eraseCredentials(server);
  } catch (e) {
    process.stdout.write(`Removing login credentials for ${server}\n`);
    process.stderr.write(`WARNING: could not erase credentials: ${(e as Error).message}\n`);
    return;
  }
  process.stdout.write(found ? `Removing login credentials for ${server}\n` : `Not logged in to ${server}\n`);
}

export default login;
