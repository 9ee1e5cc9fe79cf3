// berth build: pack the context as the docker CLI does (.dockerignore, -f), POST /build, render
// the classic builder's output (step lines, cache hits) and exit with the failing step's code.
import { readFileSync, writeFileSync } from 'node:fs';
import { readContextFromDir } from '../../../build/context/index.ts';
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

export default async function buildCmd(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const path = args[0] ?? '.';
  let dockerfileText: string | undefined;
  let dockerfile = typeof opts.file === 'string' ? opts.file : undefined;
  let body: NodeJS.ReadableStream;
  let dockerfileParam: string;
  if (path === '-') {
    // `berth build - < Dockerfile`: no context, the Dockerfile on stdin
    dockerfileText = readFileSync(0, 'utf8');
    const { Readable } = await import('node:stream');
    const { encodeContext } = await import('./build-stdin.ts');
    body = Readable.from(encodeContext(dockerfileText));
    dockerfileParam = 'Dockerfile';
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
  const res = await client.check(
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
      headers: { 'Content-Type': 'application/x-tar', 'X-Registry-Config': 'e30=' },
    }),
  );
  const tty = process.stdout.isTTY === true;
  let buf = '';
  let id: string | undefined;
  let failure: { code: number; message: string } | undefined;
  const started = Date.now();
  let stepStart = started;
  const handle = (line: string): void => {
    if (!line.trim()) return;
    const m = JSON.parse(line) as { stream?: string; aux?: { ID?: string }; error?: string; errorDetail?: { code?: number; message?: string } };
    if (m.aux?.ID) id = m.aux.ID;
    if (m.errorDetail || m.error) failure = { code: m.errorDetail?.code ?? 1, message: m.errorDetail?.message ?? m.error ?? 'build failed' };
    if (m.stream !== undefined) {
      let text = m.stream;
      if (tty && !quiet) {
        if (text.startsWith('Step ')) {
          const took = Date.now() - stepStart;
          stepStart = Date.now();
          if (took > 0 && started !== stepStart - took) process.stdout.write(`\x1b[2m (${(took / 1000).toFixed(2)}s)\x1b[0m\n`);
          text = `\x1b[1m${text}\x1b[0m`;
        } else if (text.includes('---> Using cache')) text = `\x1b[32m${text}\x1b[0m`;
      }
      process.stdout.write(text);
    }
  };
  for await (const chunk of res as AsyncIterable<Buffer>) {
    buf += chunk.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      handle(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  handle(buf);
  if (failure) {
    process.stderr.write(`${failure.message}\n`);
    throw new ExitStatus(failure.code || 1);
  }
  if (typeof opts.iidfile === 'string' && id) writeFileSync(opts.iidfile, id);
  void dockerfile;
}
