// berth logs [-f] [--tail N] [-t] [--since] [--until]
import { Demuxer } from '../../../client/index.ts';
import { getClient, type GlobalOptions } from '../../context.ts';

/** Docker accepts RFC3339 times, unix seconds, or durations relative to now ("42m"). */
export function timeArg(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (m) {
    const mult = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[m[2] as 's'];
    return ((Date.now() / 1000) - Number(m[1]) * mult).toFixed(9);
  }
  return v;
}

export default async function logs(opts: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const name = args[0] ?? '';
  const c = await client.call<{ Id: string; Config: { Tty: boolean } }>('GET', `/containers/${encodeURIComponent(name)}/json`);
  const res = await client.check(
    await client.request('GET', `/containers/${c.Id}/logs`, {
      query: {
        stdout: true,
        stderr: true,
        follow: opts.follow === true,
        timestamps: opts.timestamps === true,
        tail: String(opts.tail ?? 'all'),
        since: timeArg(opts.since as string | undefined),
        until: timeArg(opts.until as string | undefined),
      },
    }),
  );
  const demux = new Demuxer((s, d) => (s === 2 ? process.stderr.write(d) : process.stdout.write(d)));
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (c.Config.Tty) process.stdout.write(chunk);
    else demux.push(chunk);
  }
}
