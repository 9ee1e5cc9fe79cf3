// berth attach
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { pump, proxySignals, resize } from '../../streams.ts';

interface Inspect { Id: string; State: { Running: boolean; Paused: boolean; Restarting: boolean }; Config: { Tty: boolean; OpenStdin: boolean } }

export default async function attach(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const name = args[0] ?? '';
  const c = await client.call<Inspect>('GET', `/containers/${encodeURIComponent(name)}/json`);
  if (!c.State.Running) {
    process.stderr.write('You cannot attach to a stopped container, start it first\n');
    throw new ExitStatus(1);
  }
  if (c.State.Paused) {
    process.stderr.write('You cannot attach to a paused container, unpause it first\n');
    throw new ExitStatus(1);
  }
  const waitRes = await client.check(await client.request('POST', `/containers/${c.Id}/wait`));
  const waitBody = client.text(waitRes);
  const stdin = opts.stdin !== false && c.Config.OpenStdin;
  const hij = await client.hijack(`/containers/${c.Id}/attach`, {
    query: { stream: true, stdin, stdout: true, stderr: true, ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}) },
  });
  const stop = !c.Config.Tty && opts.sigProxy !== 'false' ? proxySignals(client, c.Id) : () => undefined;
  if (c.Config.Tty) setImmediate(() => resize(client, `/containers/${c.Id}/resize`));
  const r = await pump(hij.socket, hij.head, {
    tty: c.Config.Tty,
    stdin,
    client,
    resizePath: `/containers/${c.Id}/resize`,
    ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}),
  });
  stop();
  if (r.detached) return;
  const status = JSON.parse((await waitBody) || '{"StatusCode":0}') as { StatusCode: number };
  if (status.StatusCode !== 0) throw new ExitStatus(status.StatusCode);
}
