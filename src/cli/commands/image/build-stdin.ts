// `berth build -`: stdin is either the whole context, a tar (plain, gzip, bzip2, xz or zstd,
// known by its first bytes as the docker CLI's DetectArchiveReader knows it; sent as it is, the
// daemon decompresses it), or a Dockerfile, sent as a context that holds only that file.
import { Readable } from 'node:stream';
import { HEADER_SIZE, looksLikeArchive } from '../../../build/context/index.ts';

export type StdinContext =
  | { readonly kind: 'archive'; readonly stream: Readable }
  | { readonly kind: 'dockerfile'; readonly text: string };

/** Peek at the first two blocks of `input` to tell a context archive from a Dockerfile. */
export async function readStdinContext(input: NodeJS.ReadableStream): Promise<StdinContext> {
  const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < HEADER_SIZE * 2) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(b);
    len += b.length;
  }
  const first = Buffer.concat(head);
  if (looksLikeArchive(first)) {
    async function* all(): AsyncGenerator<Buffer> {
      yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    }
    return { kind: 'archive', stream: Readable.from(all(), { objectMode: false }) };
  }
  const rest: Buffer[] = [first];
  if (!ended) {
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      rest.push(typeof r.value === 'string' ? Buffer.from(r.value) : r.value);
    }
  }
  return { kind: 'dockerfile', text: Buffer.concat(rest).toString('utf8') };
}

/** A context that holds only the Dockerfile read from stdin. */
export function* encodeContext(dockerfile: string): Generator<Buffer> {
  const data = Buffer.from(dockerfile);
  const h = Buffer.alloc(512);
  h.write('Dockerfile', 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0' + '00', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  yield h;
  yield data;
  yield Buffer.alloc((512 - (data.length % 512)) % 512);
  yield Buffer.alloc(1024);
}
