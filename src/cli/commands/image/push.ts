// berth push [-a|--all-tags] [-q] NAME[:TAG]: POST /images/{name}/push with the stored
// credentials, progress rendered as docker does.
import { ApiError } from '../../../client/index.ts';
import { registryAuthHeader } from '../../../client/credentials.ts';
import { EngineError } from '../../../core/errors.ts';
import { canonicalString, familiarName, parseReference, repositoryName } from '../../../core/reference.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { discardOutput, displayJsonMessages, StreamError } from './pull.ts';

type Opts = Record<string, unknown>;

export default async function push(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const name = args[0] ?? '';
  const all = opts.allTags === true;
  const quiet = opts.quiet === true;
  const ref = parseReference(name);
  if (ref.digest) {
    process.stderr.write(`invalid reference format: cannot push a digest reference\n`);
    throw new ExitStatus(1);
  }
  const explicit = /:[^/]*$/.test(name);
  if (all && explicit) {
    process.stderr.write('tag can\'t be used with --all-tags/-a\n');
    throw new ExitStatus(1);
  }
  if (!all && !explicit && !quiet) process.stdout.write(`Using default tag: ${ref.tag ?? 'latest'}\n`);
  const client = await getClient(g);
  try {
    const res = await client.request('POST', `/images/${familiarName(ref)}/push`, {
      query: { tag: all ? '' : (ref.tag ?? 'latest') },
      headers: { 'X-Registry-Auth': await registryAuthHeader(ref.domain) },
    });
    await client.check(res);
    await displayJsonMessages(res as AsyncIterable<Buffer>, quiet ? discardOutput : process.stdout);
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
  if (quiet) process.stdout.write(`${all ? repositoryName(ref) : canonicalString(ref)}\n`);
}
