// /containers/{name}/archive: `docker cp`. HEAD stats a path, GET reads it as a tar, PUT
// extracts a tar into a directory. The stat travels in X-Docker-Container-Path-Stat: standard
// base64 of moby's PathStat JSON, whose `mode` is a Go os.FileMode.
import { pipeline } from 'node:stream/promises';
import type { Ctx, Router } from '../server.ts';
import { boolParam } from '../server.ts';
import { invalid } from '../../core/errors.ts';
import type { Engine } from '../../engine/engine.ts';
import { ContainerArchive, type PathStat } from '../../engine/archive.ts';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** moby setContainerPathStatHeader: JSON, then base64.StdEncoding. */
export function encodePathStat(stat: PathStat): string {
  const { name, size, mode, mtime, linkTarget } = stat;
  return Buffer.from(JSON.stringify({ name, size, mode, mtime, linkTarget })).toString('base64');
}

/** moby httputils.ArchiveFormValues: the container name and a non-empty `path`. */
function archiveParams(ctx: Ctx): { name: string; path: string } {
  const name = ctx.params.name ?? '';
  if (name === '') throw invalid('bad parameter: name cannot be empty');
  const path = ctx.query.get('path') ?? '';
  if (path === '') throw invalid('bad parameter: path cannot be empty');
  return { name, path };
}

export function archiveRoutes(r: Router, engine: Engine): void {
  const archive = new ContainerArchive(engine.containers.store, engine.snapshots);

  // HEAD before GET: the router answers HEAD with a GET route of the same path otherwise.
  r.add('HEAD', '/containers/{name:.*}/archive', async (ctx) => {
    const { name, path } = archiveParams(ctx);
    const stat = await archive.statPath(name, path);
    ctx.res.writeHead(200, { [STAT_HEADER]: encodePathStat(stat) });
    ctx.res.end();
  });

  r.add('GET', '/containers/{name:.*}/archive', async (ctx) => {
    const { name, path } = archiveParams(ctx);
    const { stat, tar } = await archive.getArchive(name, path);
    ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar', [STAT_HEADER]: encodePathStat(stat) });
    try {
      await pipeline(tar, ctx.res);
    } catch {
      // the client went away, or the tree could not be read: the body is cut short
      tar.destroy();
      ctx.res.destroy();
    }
  });

  r.add('PUT', '/containers/{name:.*}/archive', async (ctx) => {
    const { name, path } = archiveParams(ctx);
    const aborted = new AbortController();
    const onClose = (): void => {
      if (!ctx.req.complete) aborted.abort();
    };
    ctx.req.once('close', onClose);
    // The body through an iterator the extraction cannot close, so that it can be drained after a failure.
    const body = ctx.req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const input: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => body.next() }) };
    try {
      await archive.putArchive(name, path, input, {
        noOverwriteDirNonDir: boolParam(ctx.query, 'noOverwriteDirNonDir'),
        copyUIDGID: boolParam(ctx.query, 'copyUIDGID'),
        signal: aborted.signal,
      });
    } catch (e) {
      // Read the rest of the upload before answering: a client still writing its body (the
      // docker CLI) would otherwise see a broken pipe instead of the error.
      try {
        while ((await body.next()).done !== true) {
          /* discarded */
        }
      } catch {
        /* the client went away */
      }
      throw e;
    } finally {
      ctx.req.off('close', onClose);
    }
    ctx.res.writeHead(200, { 'Content-Length': 0 });
    ctx.res.end();
  });
}
