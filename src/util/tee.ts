// One stream read by two consumers at once — a layer going to the content store and being
// unpacked in the same pass — at the pace of the slower.
import { PassThrough, type Readable } from 'node:stream';

/** Two readers of one source, fed at the pace of the slower; an error of the source reaches both. */
export function tee(source: AsyncIterable<Buffer>, highWaterMark = 1024 * 1024): [Readable, Readable] {
  const outs = [new PassThrough({ highWaterMark }), new PassThrough({ highWaterMark })] as const;
  // A reader sees an error by reading; one that has stopped must not make it uncaught.
  for (const s of outs) s.on('error', () => undefined);
  const room = (s: PassThrough): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
  void (async () => {
    try {
      for await (const chunk of source) {
        if (outs.some((s) => s.destroyed)) {
          // One reader gave up: the other must not take what it has for the whole.
          for (const s of outs) s.destroy(new Error('the other reader of the layer stopped'));
          return;
        }
        const waits = outs.filter((s) => !s.write(chunk)).map(room);
        if (waits.length) await Promise.all(waits);
      }
      for (const s of outs) s.end();
    } catch (e) {
      for (const s of outs) s.destroy(e as Error);
    }
  })();
  return [outs[0], outs[1]];
}
