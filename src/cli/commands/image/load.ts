// berth load [-i file] [-q]: POST /images/load with the archive as the body, then the daemon's
// JSON messages ("Loaded image: busybox:latest"). As the docker CLI: progress bars only on a
// terminal (quiet is asked for otherwise), and never waiting on a terminal's stdin.
import { createReadStream } from 'node:fs';
import { ApiError } from '../../../client/index.ts';
import { EngineError } from '../../../core/errors.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { displayJsonMessages, StreamError } from './pull.ts';

type Opts = Record<string, unknown>;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  throw new ExitStatus(1);
}

export default async function load(opts: Opts, _args: string[], g: GlobalOptions): Promise<void> {
  const input = typeof opts.input === 'string' ? opts.input : '';
  if (input === '' && process.stdin.isTTY === true) fail('requested load from stdin, but stdin is empty');
  let body: NodeJS.ReadableStream = process.stdin;
  if (input !== '') {
    const file = createReadStream(input);
    await new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', (e: NodeJS.ErrnoException) => reject(e));
    }).catch((e: NodeJS.ErrnoException) => fail(e.code === 'ENOENT' ? `open ${input}: no such file or directory` : `open ${input}: ${e.message}`));
    body = file;
  }
  const quiet = opts.quiet === true || process.stdout.isTTY !== true;
  const client = await getClient(g);
  try {
    const res = await client.check(await client.request('POST', '/images/load', { query: { quiet }, rawBody: body, headers: { 'Content-Type': 'application/x-tar' } }));
    await displayJsonMessages(res as AsyncIterable<Buffer>, process.stdout);
  } catch (e) {
    if (e instanceof StreamError) fail(e.message);
    if (e instanceof ApiError || e instanceof EngineError) fail(`Error response from daemon: ${e.message}`);
    throw e;
  }
}
