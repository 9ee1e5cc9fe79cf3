// POST /build: the classic builder over the Engine API (a tar context in, JSON lines out: the
// steps' output as `stream`, a FROM image's pull progress as `docker pull`'s status lines).
import { EngineError, invalid, isEngineError } from '../../core/errors.ts';
import { BuildError, type RegistryCredentials } from '../../build/builder.ts';
import { BAD_DATA, decompressed, openContextTar } from '../../build/context/index.ts';
import type { Engine } from '../../engine/engine.ts';
import { type Router, boolParam, sendJson } from '../server.ts';
import { authFromConfig, toJsonMessage } from './distribution.ts';

/**
 * The request body as a plain tar that always ends properly. The context may come compressed
 * (gzip, bzip2, xz, zstd: `docker build - < ctx.tar.xz` sends stdin as it is, and Docker's
 * daemon decompresses it). The docker CLI's classic builder sends a context whose last entry
 * (the `.dockerfile.<random>` it injects for `-f -` or a Dockerfile outside the context) is
 * neither padded to a block nor followed by the end-of-archive blocks; Docker's daemon reads
 * such a tar all the same, so the missing padding and end blocks are supplied here (after
 * decompressing: the tar inside is the short one).
 */
async function* terminatedTar(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let total = 0;
  try {
    for await (const c of decompressed(body)) {
      total += c.length;
      yield c;
    }
  } catch (e) {
    if (isEngineError(e) && e.code === BAD_DATA) throw invalid(`invalid build context: ${e.message}`);
    throw e;
  }
  if (total === 0) return;
  yield Buffer.alloc((512 - (total % 512)) % 512 + 1024);
}

/**
 * X-Registry-Config: base64url of a JSON map from registry server address to AuthConfig (every
 * login the client has). Undecodable values count as none, as Docker ignores them.
 */
export function decodeRegistryConfig(header: string | string[] | undefined): Record<string, RegistryCredentials> {
  const h = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!h) return {};
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    return {};
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return {};
  const out: Record<string, RegistryCredentials> = {};
  for (const [server, v] of Object.entries(o as Record<string, unknown>)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    const auth = authFromConfig(v as Record<string, unknown>);
    if (auth) out[server] = auth;
  }
  return out;
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
    const context = await openContextTar(terminatedTar(ctx.req as AsyncIterable<Buffer>), { dockerfile, signal: ac.signal }).catch((e: unknown) => {
      // A corrupt compressed context can reach the tar reader as garbage before the
      // decompressor reports bad data: either way, it is the context that is invalid.
      if (isEngineError(e) && e.code === 'invalid-layer') throw invalid(`invalid build context: ${e.message.replace(/^invalid layer: /, '')}`);
      throw e;
    });
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
        pull: boolParam(q, 'pull'),
        registryAuth: decodeRegistryConfig(ctx.req.headers['x-registry-config']),
        removeIntermediate: q.get('rm') === null ? true : boolParam(q, 'rm'),
        forceRemove: boolParam(q, 'forcerm'),
        network: q.get('networkmode') || 'default',
        signal: ac.signal,
        emit: (e) => {
          if (e.kind === 'result') send({ aux: { ID: e.id } });
          else if (quiet) return;
          else if (e.kind === 'stream') send({ stream: e.text });
          else send(toJsonMessage(e.progress));
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
