// berth create
import { getClient, type GlobalOptions } from '../../context.ts';
import { buildCreateRequest } from './create-body.ts';
import { createContainer } from './create-call.ts';

export default async function create(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const req = buildCreateRequest(opts, args);
  const id = await createContainer(client, req, { ...(typeof opts.platform === 'string' ? { platform: opts.platform } : {}), quiet: opts.quiet === true });
  process.stdout.write(`${id}\n`);
}
