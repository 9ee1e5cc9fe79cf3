// POST /build: the classic builder over the Engine API (a tar context in, JSON lines out).
import type { Readable } from 'node:stream';
import { EngineError, invalid } from '../../core/errors.ts';
import { BuildError } from '../../build/builder.ts';
import { openContextTar } from '../../build/context/index.ts';
import type { Engine } from '../../engine/engine.ts';
import { type Router, boolParam } from '../server.ts';

function jsonParam(q: URLSearchParams, name: string): Record<string, string> {
  const raw = q.get(name);
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as Record<string, string | null>;
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null)) as Record<string, string>;
  } catch {
    throw invalid(`invalid ${name}: ${raw}`);
  }
}

export function buildRoutes(r: Router, engine: Engine): void {
  r.add('POST', '/build', async (ctx) => {
    const q = ctx.query;
    const tags = q.getAll('t').filter(Boolean);
    const quiet = boolParam(q, 'q');
    const ac = new AbortController();
    ctx.res.on('close', () => {
      if (!ctx.res.writableFinished) ac.abort();
    });
    const dockerfile = q.get('dockerfile') || 'Dockerfile';
    const context = await openContextTar(ctx.req as unknown as Readable, { dockerfile, signal: ac.signal });
    ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
    const send = (m: unknown): void => {
      if (!ctx.res.writableEnded) ctx.res.write(`${JSON.stringify(m)}\n`);
    };
    try {
      const img = await engine.build({
        contextDir: context.dir,
        dockerfileText: context.dockerfileText,
        dockerfileName: context.dockerfileName,
        tags,
        buildArgs: jsonParam(q, 'buildargs'),
        labels: jsonParam(q, 'labels'),
        ...(q.get('target') ? { target: q.get('target') ?? '' } : {}),
        noCache: boolParam(q, 'nocache'),
        removeIntermediate: q.get('rm') === null ? true : boolParam(q, 'rm'),
        forceRemove: boolParam(q, 'forcerm'),
        network: q.get('networkmode') || 'default',
        signal: ac.signal,
        emit: (e) => {
          if (e.kind === 'result') send({ aux: { ID: e.id } });
          else if (!quiet) send({ stream: e.text });
        },
      });
      if (quiet) send({ stream: `${img.id}\n` });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = e instanceof BuildError ? e.exitCode : 1;
      if (!(e instanceof EngineError)) process.stderr.write(`berthd: build: ${e instanceof Error ? (e.stack ?? message) : message}\n`);
      send({ errorDetail: { code, message }, error: message });
    } finally {
      await context.remove();
      ctx.res.end();
    }
  });
}
