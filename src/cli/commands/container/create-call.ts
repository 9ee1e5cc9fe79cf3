// POST /containers/create; on "No such image" pull it first (with the stored credentials,
// progress on stderr), as the docker CLI does.
import { ApiError, type Client } from '../../../client/index.ts';
import { familiarString, parseReference } from '../../../core/reference.ts';
import { discardOutput, requestPull, StreamError } from '../image/pull.ts';
import type { CreateRequest } from './create-body.ts';

export interface CreateCallOptions {
  /** --platform: passed to the pull. */
  readonly platform?: string;
  /** -q: no pull output. */
  readonly quiet?: boolean;
}

export async function createContainer(client: Client, req: CreateRequest, o: CreateCallOptions = {}): Promise<string> {
  const call = (): Promise<{ Id: string; Warnings?: string[] }> =>
    client.call('POST', '/containers/create', { query: { ...(req.name ? { name: req.name } : {}) }, body: req.body });
  try {
    const r = await call();
    for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    return r.Id;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404 && /^No such image/.test(e.message))) throw e;
  }
  const ref = parseReference(req.image);
  process.stderr.write(`Unable to find image '${familiarString(ref)}' locally\n`);
  try {
    await requestPull(client, ref, { ...(o.platform ? { platform: o.platform } : {}), out: o.quiet ? discardOutput : process.stderr });
  } catch (e) {
    if (e instanceof StreamError) throw new ApiError(500, e.message);
    throw e;
  }
  const r = await call();
  for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  return r.Id;
}
