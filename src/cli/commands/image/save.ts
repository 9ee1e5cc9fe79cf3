// berth save [-o file] IMAGE...: GET /images/get?names=… to a file or to stdout. As the docker
// CLI: never binary to a terminal; a file is written beside its final name (mode 0600) and
// renamed into place only once the whole archive arrived, so a failed save leaves no file.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApiError } from '../../../client/index.ts';
import { errnoOf } from '../../../core/errors.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';

type Opts = Record<string, unknown>;

const TERMINAL = 'Cowardly refusing to save to a terminal. Use the -o flag or redirect';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  throw new ExitStatus(1);
}

/** The docker CLI's checks of an output path: its directory exists; it is not something else than a file. */
async function checkOutputPath(path: string, what: string): Promise<void> {
  const dir = dirname(path);
  const d = await stat(dir).catch(() => undefined);
  if (d === undefined) fail(`failed to ${what}: invalid output path: directory ${JSON.stringify(dir)} does not exist`);
  if (!d.isDirectory()) fail(`failed to ${what}: invalid output path: ${JSON.stringify(dir)} is not a directory`);
  const f = await stat(path).catch(() => undefined);
  if (f !== undefined && !f.isFile()) fail(`failed to ${what}: invalid output path: ${JSON.stringify(path)} must be a directory or a regular file`);
}

async function toStdout(res: IncomingMessage): Promise<void> {
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  }
}

async function toFile(res: IncomingMessage, path: string): Promise<void> {
  const tmp = join(dirname(path), `.berth_temp_${basename(path)}_${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o600);
  let done = false;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    done = true;
  } finally {
    await fh.close().catch(() => undefined);
    if (!done) await rm(tmp, { force: true });
  }
}

/**
 * A tar the daemon streams (save, export) to `output` or stdout. `what` words the errors as the
 * docker CLI does ("save image", "export container").
 */
export async function receiveTar(request: () => Promise<IncomingMessage>, output: string, what: string): Promise<void> {
  if (output === '' && process.stdout.isTTY === true) fail(TERMINAL);
  if (output !== '') await checkOutputPath(output, what);
  let res: IncomingMessage;
  try {
    res = await request();
  } catch (e) {
    if (e instanceof ApiError) fail(`Error response from daemon: ${e.message}`);
    throw e;
  }
  try {
    if (output === '') await toStdout(res);
    else await toFile(res, output);
  } catch (e) {
    if (errnoOf(e) === 'EPIPE') throw e;
    fail(`failed to ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
  // A response cut short by the daemon (a layer could not be read) is not a complete archive.
  if (!res.complete) fail(`failed to ${what}: unexpected EOF`);
}

export default async function save(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const output = typeof opts.output === 'string' ? opts.output : '';
  await receiveTar(
    async () => {
      const client = await getClient(g);
      return client.check(await client.request('GET', '/images/get', { query: { names: args } }));
    },
    output,
    'save image',
  );
}
