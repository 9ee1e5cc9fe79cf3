// berth build: pack the context as the docker CLI does (.dockerignore, -f; or stdin: a context
// archive or a Dockerfile), POST /build with the stored logins (X-Registry-Config, for the FROM
// images the daemon pulls), render the classic builder's output (step lines, cache hits, pull
// progress) and exit with the failing step's code.
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { readContextFromDir } from '../../../build/context/index.ts';
import { ApiError } from '../../../client/index.ts';
import { configPath, getCredentials, normalizeServer, type AuthConfig } from '../../../client/credentials.ts';
import { encodeContext, readStdinContext } from './build-stdin.ts';
import { displayJsonMessages, type JsonMessage } from './pull.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';

type Opts = Record<string, unknown>;

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

function keyValues(items: string[], fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i >= 0) out[item.slice(0, i)] = item.slice(i + 1);
    else if (fromEnv && process.env[item] !== undefined) out[item] = process.env[item] ?? '';
    else if (!fromEnv) out[item] = '';
  }
  return out;
}

/**
 * X-Registry-Config: every stored login, as the docker CLI's classic build sends them (it cannot
 * know which registries the Dockerfile's FROM lines need): base64url of a JSON map from server
 * address to AuthConfig. Logins whose helper fails are left out, as docker leaves them out.
 */
async function registryConfigHeader(): Promise<string> {
  let cfg: { auths?: Record<string, unknown>; credHelpers?: Record<string, unknown> } = {};
  try {
    cfg = JSON.parse(readFileSync(configPath(), 'utf8')) as typeof cfg;
  } catch {
    cfg = {};
  }
  const servers = new Set([...Object.keys(cfg.auths ?? {}), ...Object.keys(cfg.credHelpers ?? {})].map(normalizeServer));
  const all: Record<string, AuthConfig> = {};
  for (const server of servers) {
    const auth = await getCredentials(server).catch(() => undefined);
    if (auth) all[server] = auth;
  }
  return Buffer.from(JSON.stringify(all)).toString('base64url');
}

export default async function buildCmd(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const path = args[0] ?? '.';
  let dockerfileText: string | undefined;
  let dockerfile = typeof opts.file === 'string' ? opts.file : undefined;
  let body: NodeJS.ReadableStream;
  let dockerfileParam: string;
  if (path === '-') {
    if (dockerfile === '-') {
      process.stderr.write('invalid argument: can\'t use stdin for both build context and dockerfile\n');
      throw new ExitStatus(1);
    }
    // `berth build - < ctx.tar[.gz|.bz2|.xz]`: the context; `berth build - < Dockerfile`: no context
    const input = await readStdinContext(process.stdin);
    if (input.kind === 'archive') {
      body = input.stream;
      dockerfileParam = dockerfile ?? 'Dockerfile';
    } else {
      dockerfileText = input.text;
      body = Readable.from(encodeContext(dockerfileText));
      dockerfileParam = 'Dockerfile';
    }
  } else {
    if (dockerfile === '-') {
      dockerfileText = readFileSync(0, 'utf8');
    }
    const ctx = readContextFromDir(path, { ...(dockerfile ? { dockerfile } : {}), ...(dockerfileText !== undefined ? { dockerfileText } : {}) });
    body = ctx.stream;
    dockerfileParam = ctx.dockerfile;
    dockerfile = ctx.dockerfile;
  }
  const quiet = opts.quiet === true;
  const registryConfig = await registryConfigHeader();
  let res: Awaited<ReturnType<typeof client.check>>;
  try {
    res = await client.check(
      await client.request('POST', '/build', {
        query: {
          t: list(opts.tag),
          dockerfile: dockerfileParam,
          ...(Object.keys(list(opts.buildArg)).length ? { buildargs: JSON.stringify(keyValues(list(opts.buildArg), true)) } : {}),
          ...(list(opts.label).length ? { labels: JSON.stringify(keyValues(list(opts.label), false)) } : {}),
          ...(typeof opts.target === 'string' ? { target: opts.target } : {}),
          nocache: opts.cache === false,
          pull: opts.pull === true,
          q: quiet,
          ...(opts.rm === 'false' ? { rm: '0' } : {}),
          forcerm: opts.forceRm === true,
          ...(typeof opts.network === 'string' ? { networkmode: opts.network } : {}),
          version: '1',
        },
        rawBody: body,
        headers: { 'Content-Type': 'application/x-tar', 'X-Registry-Config': registryConfig },
      }),
    );
  } catch (e) {
    // refused before the build began (no Dockerfile in the context, a bad parameter): docker
    // build's plain failure, exit status 1
    if (!(e instanceof ApiError)) throw e;
    process.stderr.write(`Error response from daemon: ${e.message}\n`);
    throw new ExitStatus(1);
  }
  const tty = process.stdout.isTTY === true;
  let id: string | undefined;
  let failure: { code: number; message: string } | undefined;
  const started = Date.now();
  let stepStart = started;
  /** On a terminal: step lines in bold with the time the previous step took, cache hits green. */
  const decorate = (text: string): string => {
    if (!tty || quiet) return text;
    if (text.startsWith('Step ')) {
      const took = Date.now() - stepStart;
      stepStart = Date.now();
      const timing = took > 0 && started !== stepStart - took ? `\x1b[2m (${(took / 1000).toFixed(2)}s)\x1b[0m\n` : '';
      return `${timing}\x1b[1m${text}\x1b[0m`;
    }
    return text.includes('---> Using cache') ? `\x1b[32m${text}\x1b[0m` : text;
  };
  // the step output (`stream`) and a FROM's pull progress (`status`, per layer) are printed as
  // docker prints them; the result (`aux`) and the error are taken out of the stream here
  async function* messages(): AsyncGenerator<string> {
    let buf = '';
    const take = (line: string): string | undefined => {
      if (!line.trim()) return undefined;
      let m: JsonMessage & { aux?: { ID?: string } };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return undefined;
      }
      if (m.aux !== undefined) {
        if (m.aux.ID) id = m.aux.ID;
        return undefined;
      }
      if (m.errorDetail || m.error) {
        failure = { code: m.errorDetail?.code ?? 1, message: m.errorDetail?.message ?? m.error ?? 'build failed' };
        return undefined;
      }
      if (m.stream !== undefined) return m.stream === '' ? undefined : `${JSON.stringify({ ...m, stream: decorate(m.stream) })}\n`;
      return `${line}\n`;
    };
    for await (const chunk of res as AsyncIterable<Buffer>) {
      buf += chunk.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const out = take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (out !== undefined) yield out;
      }
    }
    const last = take(buf);
    if (last !== undefined) yield last;
  }
  await displayJsonMessages(messages(), process.stdout);
  if (failure) {
    process.stderr.write(`${failure.message}\n`);
    throw new ExitStatus(failure.code || 1);
  }
  if (typeof opts.iidfile === 'string' && id) writeFileSync(opts.iidfile, id);
  void dockerfile;
}
