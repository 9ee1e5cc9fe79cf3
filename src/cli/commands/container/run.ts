// berth run: create, attach (before start, so no output is lost), wait, start.
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus, exitCodeOf } from '../../exit-codes.ts';
import { pump, proxySignals } from '../../streams.ts';
import { buildCreateRequest } from './create-body.ts';
import { createContainer } from './create-call.ts';
import { EngineError } from '../../../core/errors.ts';

const dbg = (m: string): void => { if (process.env.BERTH_DEBUG) process.stderr.write(`[${performance.now().toFixed(1)}] ${m}\n`); };
export default async function run(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const req = buildCreateRequest(opts, args);
  const body = req.body as { Tty: boolean; AttachStdin: boolean; AttachStdout: boolean; AttachStderr: boolean; OpenStdin: boolean; HostConfig: { AutoRemove: boolean } };
  if (opts.detach === true && opts.rm === true) {
    /* allowed since API 1.25 */
  }
  let id: string;
  try {
    id = await createContainer(client, req, { ...(typeof opts.platform === 'string' ? { platform: opts.platform } : {}), quiet: opts.quiet === true });
  } catch (e) {
    if (e instanceof EngineError) {
      process.stderr.write(`berth: Error response from daemon: ${e.message.replace(/\.?$/, '.')}\nSee 'berth run --help'.\n`);
      throw new ExitStatus(125);
    }
    throw e;
  }
  if (opts.detach === true) {
    await startOrExit(client, id);
    process.stdout.write(`${id}\n`);
    return;
  }
  dbg('created');
  const attaching = body.AttachStdin || body.AttachStdout || body.AttachStderr;
  const hij = attaching
    ? await client.hijack(`/containers/${id}/attach`, {
        query: {
          stream: true,
          stdin: body.AttachStdin,
          stdout: body.AttachStdout,
          stderr: body.AttachStderr,
          ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}),
        },
      })
    : undefined;
  dbg('attached');
  // pump from now on, so nothing the container writes (or its end) is missed while we start it
  const pumping = hij
    ? pump(hij.socket, hij.head, {
        tty: body.Tty,
        stdin: body.AttachStdin,
        client,
        resizePath: `/containers/${id}/resize`,
        ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}),
      })
    : undefined;
  const waitRes = await client.request('POST', `/containers/${id}/wait`, { query: { condition: body.HostConfig.AutoRemove ? 'removed' : 'next-exit' } });
  await client.check(waitRes);
  const waitBody = client.text(waitRes);
  dbg('wait sent');
  await startOrExit(client, id);
  dbg('started');
  const stopProxy = !body.Tty && opts.sigProxy !== 'false' ? proxySignals(client, id) : () => undefined;
  let detached = false;
  if (pumping) detached = (await pumping).detached;
  stopProxy();
  dbg('pumped');
  if (detached) return;
  const text = await waitBody;
  dbg('waited');
  const status = JSON.parse(text || '{"StatusCode":125}') as { StatusCode: number; Error?: { Message: string } | null };
  if (status.Error?.Message) process.stderr.write(`berth: ${status.Error.Message}\n`);
  if (status.StatusCode !== 0) throw new ExitStatus(status.StatusCode);
}

async function startOrExit(client: Awaited<ReturnType<typeof getClient>>, id: string): Promise<void> {
  try {
    await client.status('POST', `/containers/${id}/start`);
  } catch (e) {
    if (e instanceof EngineError) {
      process.stderr.write(`berth: Error response from daemon: ${e.message}\n`);
      throw new ExitStatus(exitCodeOf((e as EngineError & { reason?: EngineError['kind'] }).reason ?? e.kind));
    }
    throw e;
  }
}
