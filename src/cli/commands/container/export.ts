// berth export [-o file] CONTAINER: GET /containers/{id}/export, the container's filesystem as
// a tar, to a file or to stdout (never to a terminal), as `berth save` writes its archives.
import { getClient, type GlobalOptions } from '../../context.ts';
import { receiveTar } from '../image/save.ts';

type Opts = Record<string, unknown>;

export default async function exportContainer(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const output = typeof opts.output === 'string' ? opts.output : '';
  const name = args[0] ?? '';
  await receiveTar(
    async () => {
      const client = await getClient(g);
      return client.check(await client.request('GET', `/containers/${encodeURIComponent(name)}/export`));
    },
    output,
    'export container',
  );
}
