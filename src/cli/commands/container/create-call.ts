// POST /containers/create; on "No such image" try to pull it first, as the docker CLI does.
import { ApiError, type Client } from '../../../client/index.ts';
import { familiarString, parseReference } from '../../../core/reference.ts';
import type { CreateRequest } from './create-body.ts';

export async function createContainer(client: Client, req: CreateRequest): Promise<string> {
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
  const res = await client.request('POST', '/images/create', {
    query: { fromImage: `${ref.domain}/${ref.path}`, tag: ref.digest ?? ref.tag ?? 'latest' },
    headers: { 'X-Registry-Auth': 'e30=' },
  });
  await client.check(res);
  const text = await client.text(res);
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as { error?: string; status?: string; id?: string };
    if (m.error) throw new ApiError(500, m.error);
    if (m.status) process.stderr.write(`${m.id ? `${m.id}: ` : ''}${m.status}\n`);
  }
  const r = await call();
  return r.Id;
}
