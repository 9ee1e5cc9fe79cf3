// berth pull, and the rendering of the daemon's JSON progress messages that pull, push and
// run's auto-pull share: on a terminal one line per layer, redrawn in place with ANSI cursor
// moves (moby's jsonmessage.DisplayJSONMessagesStream); otherwise plain lines, without the
// byte-count updates.
import type { IncomingMessage } from 'node:http';
import { ApiError, type Client } from '../../../client/index.ts';
import { registryAuthHeader } from '../../../client/credentials.ts';
import { EngineError } from '../../../core/errors.ts';
import { canonicalString, parseReference, repositoryName } from '../../../core/reference.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { humanSizeWithPrecision } from '../../format/units.ts';

type Opts = Record<string, unknown>;

export interface JsonMessage {
  readonly status?: string;
  readonly id?: string;
  readonly stream?: string;
  readonly progress?: string;
  readonly progressDetail?: { readonly current?: number; readonly total?: number };
  readonly errorDetail?: { readonly code?: number; readonly message?: string };
  readonly error?: string;
  readonly aux?: unknown;
}

/** An error message sent in the stream (`errorDetail`) after the reply began. */
export class StreamError extends Error {}

interface Output {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** moby's JSONProgress.String() on the client, for a terminal `width` columns wide. */
export function progressBar(current: number, total: number | undefined, width: number): string {
  const size = (n: number): string => humanSizeWithPrecision(n, 4);
  if (current <= 0 && !total) return '';
  if (!total || total <= 0) return size(current).padStart(8, ' ');
  let pct = Math.trunc(Math.trunc((current / total) * 100) / 2);
  pct = Math.max(0, Math.min(50, pct));
  const bar = width > 110 ? `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] ` : '';
  const numbers = current > total ? size(current).padStart(8, ' ') : `${size(current).padStart(8, ' ')}/${size(total)}`;
  return bar + numbers;
}

/** Print a stream of JSON messages like the docker CLI; returns the aux values seen. */
export async function displayJsonMessages(res: AsyncIterable<Buffer | string>, out: Output, o: { readonly tty?: boolean } = {}): Promise<unknown[]> {
  const tty = o.tty ?? out.isTTY === true;
  const aux: unknown[] = [];
  let ids = new Map<string, number>();
  let buf = '';
  const handle = (line: string): void => {
    if (!line.trim()) return;
    let jm: JsonMessage;
    try {
      jm = JSON.parse(line) as JsonMessage;
    } catch {
      return;
    }
    if (jm.errorDetail?.message || jm.error) throw new StreamError(jm.errorDetail?.message ?? jm.error ?? 'unknown error');
    if (jm.aux !== undefined) {
      aux.push(jm.aux);
      return;
    }
    const hasProgress = jm.progressDetail !== undefined || (jm.progress ?? '') !== '';
    let diff = 0;
    if (jm.id && hasProgress) {
      let line = ids.get(jm.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(jm.id, line);
        if (tty) out.write('\n');
      }
      diff = ids.size - line;
      if (tty && diff > 0) out.write(`\x1b[${diff}A`);
    } else {
      // anything that is not a layer's line starts a new block
      ids = new Map();
    }
    const current = jm.progressDetail?.current ?? 0;
    const total = jm.progressDetail?.total;
    const bar = jm.progressDetail ? progressBar(current, total, out.columns ?? 80) : (jm.progress ?? '');
    let endl = '';
    if (tty && !jm.stream && hasProgress) {
      out.write('\x1b[2K\r');
      endl = '\r';
    } else if (hasProgress && bar !== '') {
      return; // no byte counts off a terminal
    }
    let s = jm.id ? `${jm.id}: ` : '';
    if (jm.stream) s += `${jm.stream}${endl}`;
    else if (hasProgress && tty) s += `${jm.status ?? ''} ${bar}${endl}`;
    else s += `${jm.status ?? ''}${endl}\n`;
    out.write(s);
    if (jm.id && tty && diff > 0) out.write(`\x1b[${diff}B`);
  };
  for await (const chunk of res) {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      handle(line);
    }
  }
  handle(buf);
  return aux;
}

/** A sink that drops everything (-q). */
export const discardOutput: Output = { write: () => true, isTTY: false };

/** POST /images/create for a reference with the stored credentials; renders the progress. */
export async function requestPull(
  client: Client,
  ref: { readonly domain: string; readonly path: string; readonly tag?: string; readonly digest?: string },
  o: { readonly all?: boolean; readonly platform?: string; readonly out: Output },
): Promise<void> {
  const auth = await registryAuthHeader(ref.domain);
  const res: IncomingMessage = await client.request('POST', '/images/create', {
    query: {
      fromImage: repositoryName(ref),
      ...(o.all ? {} : { tag: ref.digest ?? ref.tag ?? 'latest' }),
      ...(o.platform ? { platform: o.platform } : {}),
    },
    headers: { 'X-Registry-Auth': auth },
  });
  await client.check(res);
  await displayJsonMessages(res as AsyncIterable<Buffer>, o.out);
}

export default async function pull(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const name = args[0] ?? '';
  const all = opts.allTags === true;
  const quiet = opts.quiet === true;
  const ref = parseReference(name);
  const explicit = name.includes('@') || /:[^/]*$/.test(name);
  if (all && explicit) {
    process.stderr.write('tag can\'t be used with --all-tags/-a\n');
    throw new ExitStatus(1);
  }
  if (!all && !explicit && !quiet) process.stdout.write(`Using default tag: ${ref.tag ?? 'latest'}\n`);
  const client = await getClient(g);
  try {
    await requestPull(client, ref, { all, ...(typeof opts.platform === 'string' ? { platform: opts.platform } : {}), out: quiet ? discardOutput : process.stdout });
  } catch (e) {
    if (e instanceof StreamError) {
      process.stderr.write(`${e.message}\n`);
      throw new ExitStatus(1);
    }
    if (e instanceof ApiError || e instanceof EngineError) {
      process.stderr.write(`Error response from daemon: ${e.message}\n`);
      throw new ExitStatus(1);
    }
    throw e;
  }
  process.stdout.write(`${all ? repositoryName(ref) : canonicalString(ref)}\n`);
}
