// berth exec [-d] [-i] [-t] [-e] [-w] [-u] CONTAINER COMMAND...
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus, exitCodeOf } from '../../exit-codes.ts';
import { pump } from '../../streams.ts';
import { envList } from './create-body.ts';
import { ApiError } from '../../../client/index.ts';

export default async function exec(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const [name = '', ...cmd] = args;
  const tty = opts.tty === true;
  const interactive = opts.interactive === true;
  const detach = opts.detach === true;
  const size = tty && process.stdout.isTTY ? [process.stdout.rows ?? 0, process.stdout.columns ?? 0] : undefined;
  const body = {
    User: typeof opts.user === 'string' ? opts.user : '',
    Privileged: opts.privileged === true,
    Tty: tty,
    AttachStdin: interactive && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Detach: detach,
    DetachKeys: typeof opts.detachKeys === 'string' ? opts.detachKeys : '',
    Env: envList(opts),
    WorkingDir: typeof opts.workdir === 'string' ? opts.workdir : '',
    Cmd: cmd,
    ...(size ? { ConsoleSize: size } : {}),
  };
  const { Id } = await client.call<{ Id: string }>('POST', `/containers/${encodeURIComponent(name)}/exec`, { body });
  if (detach) {
    await client.call('POST', `/exec/${Id}/start`, { body: { Detach: true, Tty: tty } });
    return;
  }
  let hij;
  try {
    hij = await client.hijack(`/exec/${Id}/start`, { body: { Detach: false, Tty: tty, ...(size ? { ConsoleSize: size } : {}) } });
  } catch (e) {
    if (e instanceof ApiError) {
      process.stderr.write(`${e.message}\n`);
      throw new ExitStatus(exitCodeOf(e.kind) === 125 ? 126 : exitCodeOf(e.kind));
    }
    throw e;
  }
  await pump(hij.socket, hij.head, {
    tty,
    stdin: interactive,
    client,
    resizePath: `/exec/${Id}/resize`,
    ...(typeof opts.detachKeys === 'string' ? { detachKeys: opts.detachKeys } : {}),
  });
  let code: number | null = null;
  for (let i = 0; i < 200; i++) {
    const r = await client.call<{ Running: boolean; ExitCode: number | null }>('GET', `/exec/${Id}/json`);
    if (!r.Running && r.ExitCode !== null) {
      code = r.ExitCode;
      break;
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  if (code !== null && code !== 0) throw new ExitStatus(code);
}
