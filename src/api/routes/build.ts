// POST /build: the classic builder over the Engine API (a tar context in, JSON lines out).
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { EngineError, errnoOf, invalid } from '../../core/errors.ts';
import { BuildError } from '../../build/builder.ts';
import { openContextTar } from '../../build/context/index.ts';
import type { Engine } from '../../engine/engine.ts';
import { type Router, boolParam, sendJson } from '../server.ts';

/**
 * The request body as a plain tar that always ends properly. The docker CLI's classic builder
 * sends a context whose last entry (the `.dockerfile.<random>` it injects for `-f -` or a
 * Dockerfile outside the context) is neither padded to a block nor followed by the end-of-archive
 * blocks; Docker's daemon reads such a tar all the same, so the missing padding and end blocks
 * are supplied here (after gunzipping a compressed context: the tar inside is the short one).
 */
async function* terminatedTar(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = body[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < 2) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(r.value);
    headLen += r.value.length;
  }
  const first = Buffer.concat(head);
  async function* raw(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  let plain: AsyncIterable<Buffer> = raw();
  if (first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = createGunzip();
    const src = Readable.from(raw());
    src.on('error', (e) => gunzip.destroy(e));
    plain = src.pipe(gunzip);
  }
  let total = 0;
  try {
    for await (const c of plain) {
      total += c.length;
      yield c;
    }
  } catch (e) {
    if (errnoOf(e)?.startsWith('Z_')) throw invalid(`invalid build context: bad gzip data: ${(e as Error).message}`);
    throw e;
  }
  if (total === 0) return;
  yield Buffer.alloc((512 - (total % 512)) % 512 + 1024);
}

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
  r.add('POST', '/build/prune', async (ctx) => {
    const { keys, space } = await engine.pruneBuildCache();
    sendJson(ctx.res, 200, { CachesDeleted: keys.length ? keys : null, SpaceReclaimed: space });
  });

  r.add('POST', '/build', async (ctx) => {
    const q = ctx.query;
    const tags = q.getAll('t').filter(Boolean);
    const quiet = boolParam(q, 'q');
    const ac = new AbortController();
    ctx.res.on('close', () => {
      if (!ctx.res.writableFinished) ac.abort();
    });
    const dockerfile = q.get('dockerfile') || 'Dockerfile';
    const context = await openContextTar(terminatedTar(ctx.req as AsyncIterable<Buffer>), { dockerfile, signal: ac.signal });
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
