// berth inspect / container inspect / image inspect
import { ApiError, type Client } from '../../client/index.ts';
import { getClient, type GlobalOptions } from '../context.ts';
import { ExitStatus } from '../exit-codes.ts';
import { compileTemplate, TemplateError } from '../format/template.ts';
import { executeInspect } from '../format/inspect.ts';

type Opts = Record<string, unknown>;
type Kind = 'container' | 'image';

async function fetchOne(client: Client, kind: Kind | undefined, name: string, size: boolean): Promise<unknown> {
  const enc = encodeURIComponent(name);
  if (kind !== 'image') {
    try {
      return await client.call('GET', `/containers/${enc}/json`, { query: { size } });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404) || kind === 'container') throw e;
    }
  }
  try {
    return await client.call('GET', `/images/${enc}/json`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && kind === undefined) throw new ApiError(404, `No such object: ${name}`);
    throw e;
  }
}

async function inspect(kind: Kind | undefined, opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  const client = await getClient(g);
  const results: unknown[] = [];
  let failed = false;
  for (const name of args) {
    try {
      results.push(await fetchOne(client, kind, name, opts.size === true));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      process.stderr.write(`Error: ${e.message.replace(/^No such image: /, 'No such image: ')}\n`);
      failed = true;
    }
  }
  if (typeof opts.format === 'string' && opts.format !== '') {
    let t;
    try {
      t = compileTemplate(opts.format);
      for (const r of results) process.stdout.write(`${executeInspect(t, r)}\n`);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      process.stderr.write(`template parsing error: ${e.message}\n`);
      throw new ExitStatus(1);
    }
  } else {
    process.stdout.write(`${JSON.stringify(results, null, 4)}\n`);
  }
  if (failed) throw new ExitStatus(1);
}

export const inspectContainers = (o: Opts, a: string[], g: GlobalOptions): Promise<void> => inspect('container', o, a, g);
export const inspectImages = (o: Opts, a: string[], g: GlobalOptions): Promise<void> => inspect('image', o, a, g);
export const inspectAny = (o: Opts, a: string[], g: GlobalOptions): Promise<void> =>
  inspect(o.type === 'container' || o.type === 'image' ? (o.type as Kind) : undefined, o, a, g);
