// berth start [-a] [-i]
import { ApiError } from '../../../client/index.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus, exitCodeOf } from '../../exit-codes.ts';
import { pump, proxySignals, resize } from '../../streams.ts';

interface Inspect { Id: string; Config: { Tty: boolean; OpenStdin: boolean }; HostConfig: { AutoRemove: boolean } }

export default async function start(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const attach = opts.attach === true || opts.interactive === true;
  if (!attach) {
    let failed = false;
    for (const name of args) {
      try {
        await client.status('POST', `/containers/${encodeURIComponent(name)}/start`);
        process.stdout.write(`${name}\n`);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        process.stderr.write(`Error response from daemon: ${e.message}\n`);
        failed = true;
      }
    }
    if (failed) {
      process.stderr.write('Error: failed to start containers: ' + args.join(', ') + '\n');
      throw new ExitStatus(1);
    }
    return;
  }
  if (args.length > 1) {
    process.stderr.write('you cannot start and attach multiple containers at once\n');
    throw new ExitStatus(1);
  }
  const c = await client.call<Inspect>('GET', `/containers/${encodeURIComponent(args[0] ?? '')}/json`);
  const stdin = opts.interactive === true && c.Config.OpenStdin;
  const hij = await client.hijack(`/containers/${c.Id}/attach`, {
    query: { stream: true, stdin, stdout: true, stderr: true, ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}) },
  });
  const pumping = pump(hij.socket, hij.head, {
    tty: c.Config.Tty,
    stdin,
    client,
    resizePath: `/containers/${c.Id}/resize`,
    ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}),
  });
  const waitRes = await client.check(await client.request('POST', `/containers/${c.Id}/wait`, { query: { condition: c.HostConfig.AutoRemove ? 'removed' : 'next-exit' } }));
  const waitBody = client.text(waitRes);
  try {
    await client.status('POST', `/containers/${c.Id}/start`);
  } catch (e) {
    hij.socket.destroy();
    if (e instanceof ApiError) {
      process.stderr.write(`Error response from daemon: ${e.message}\n`);
      throw new ExitStatus(exitCodeOf(e.kind));
    }
    throw e;
  }
  if (c.Config.Tty) resize(client, `/containers/${c.Id}/resize`);
  const stop = !c.Config.Tty ? proxySignals(client, c.Id) : () => undefined;
  const r = await pumping;
  stop();
  if (r.detached) return;
  const status = JSON.parse((await waitBody) || '{"StatusCode":0}') as { StatusCode: number };
  if (status.StatusCode !== 0) throw new ExitStatus(status.StatusCode);
}
