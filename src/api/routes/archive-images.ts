// Whole images and containers as tars: GET /images/get and /images/{name}/get (`save`),
// POST /images/load (`load`, JSON lines back), GET /containers/{name}/export (`export`).
// Errors found before anything was sent are answered as errors; after that a save or an
// export is cut short, and a load ends its stream with an errorDetail message, as moby does.
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { digestHex } from '../../core/digest.ts';
import type { Engine } from '../../engine/engine.ts';
import { exportContainer } from '../../engine/export.ts';
import { loadImages, saveImages, type LoadEvent } from '../../images/archive.ts';
import { type Ctx, type Router, boolParam } from '../server.ts';

/** Stream a tar to the client; a failure halfway cuts the response (the tar is then incomplete). */
async function sendTar(ctx: Ctx, tar: Readable): Promise<void> {
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    await pipeline(tar, ctx.res);
  } catch (e) {
    tar.destroy();
    ctx.res.destroy();
    // the client going away is not worth a word; a blob or a file that could not be read is
    const code = (e as { code?: string; name?: string }).code;
    if (code !== 'ERR_STREAM_PREMATURE_CLOSE' && (e as { name?: string }).name !== 'AbortError') {
      process.stderr.write(`berthd: ${ctx.req.method ?? 'GET'} ${ctx.req.url ?? ''}: ${(e as Error).message}\n`);
    }
  }
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
function clientGone(ctx: Ctx): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const onClose = (): void => {
    if (!ctx.res.writableEnded) ac.abort();
  };
  ctx.res.once('close', onClose);
  return { signal: ac.signal, done: () => ctx.res.off('close', onClose) };
}

/** moby's JSON progress message for a layer being loaded. */
function layerProgress(e: Extract<LoadEvent, { type: 'layer' }>): Record<string, unknown> {
  return { status: 'Loading layer', progressDetail: { current: e.current, total: e.total }, id: digestHex(e.diffId).slice(0, 12) };
}

export function imageArchiveRoutes(r: Router, engine: Engine): void {
  const saveDeps = { images: engine.images, blobs: engine.content };
  const loadDeps = { images: engine.images, blobs: engine.content, layers: engine.snapshots, tmpRoot: join(engine.paths.dataRoot, 'tmp') };
  const exportDeps = { containers: engine.containers.store, overlay: engine.snapshots, runRoot: engine.paths.runRoot };

  const save = async (ctx: Ctx, names: string[]): Promise<void> => {
    const gone = clientGone(ctx);
    try {
      await sendTar(ctx, await saveImages(saveDeps, names, { signal: gone.signal }));
    } finally {
      gone.done();
    }
  };
  r.add('GET', '/images/get', (ctx) => save(ctx, ctx.query.getAll('names')));
  r.add('GET', '/images/{name:.*}/get', (ctx) => save(ctx, [ctx.params.name ?? '']));

  r.add('POST', '/images/load', async (ctx) => {
    const quiet = boolParam(ctx.query, 'quiet');
    const gone = clientGone(ctx);
    // The body through an iterator the load cannot close, so that it can be drained after a failure.
    const body = ctx.req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const input: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => body.next() }) };
    let started = false;
    const send = (message: Record<string, unknown>): void => {
      if (!started) {
        started = true;
        ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
      }
      ctx.res.write(`${JSON.stringify(message)}\n`);
    };
    const onProgress = (e: LoadEvent): void => {
      switch (e.type) {
        case 'layer':
          if (!quiet) send(layerProgress(e));
          break;
        case 'replaced':
          send({ stream: `The image ${e.reference} already exists, renaming the old one with ID ${e.previous} to empty string\n` });
          break;
        case 'loaded':
          send({ stream: e.reference !== undefined ? `Loaded image: ${e.reference}\n` : `Loaded image ID: ${e.id}\n` });
          break;
      }
    };
    try {
      await loadImages(loadDeps, input, { signal: gone.signal, onProgress });
    } catch (e) {
      if (gone.signal.aborted) {
        ctx.res.destroy(); // nobody to answer
        return;
      }
      // Read the rest of the upload before answering: a client still writing its body would
      // otherwise see a broken pipe instead of the error.
      try {
        while ((await body.next()).done !== true) {
          /* discarded */
        }
      } catch {
        /* the client went away */
      }
      if (!started) throw e;
      const message = e instanceof Error ? e.message : String(e);
      send({ errorDetail: { message }, error: message });
    } finally {
      gone.done();
    }
    if (!started) ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
    ctx.res.end();
  });

  r.add('GET', '/containers/{name:.*}/export', async (ctx) => {
    const gone = clientGone(ctx);
    try {
      await sendTar(ctx, await exportContainer(exportDeps, ctx.params.name ?? '', { signal: gone.signal }));
    } finally {
      gone.done();
    }
  });
}

