// Registry routes: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`, and
// `POST /auth` (login). Pull and push stream moby's JSONMessage lines (`{"status":…,
// "progressDetail":…,"progress":…,"id":…}`); an error before the first line is a plain HTTP
// error (so the docker CLI's auto-pull on 404 and re-auth on 401 work), after it an
// `errorDetail` line. `POST /images/create` without fromImage (import) goes to the image routes.

import type http from 'node:http';
import { EngineError, invalid } from '../../core/errors.ts';
import { parseReference } from '../../core/reference.ts';
import type { Engine } from '../../engine/engine.ts';
import { login, pullImage, pushImage, type ProgressEvent, type RegistryAuth } from '../../engine/distribution.ts';
import { type Ctx, type Handler, readJsonBody, Router, sendJson } from '../server.ts';
import { imageRoutes } from './images.ts';

type Json = Record<string, unknown>;

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSize: 4 significant digits, decimal units. */
export function humanSize(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${UNITS[i] ?? ''}`;
}

/** moby's JSONProgress.String() as the daemon renders it (width 200: with the bar). */
export function progressString(current: number, total?: number): string {
  if (current <= 0 && !total) return '';
  const pad = (s: string): string => s.padStart(8, ' ');
  if (!total || total <= 0) return pad(humanSize(current));
  let pct = Math.trunc(Math.trunc((current / total) * 100) / 2);
  if (pct > 50) pct = 50;
  if (pct < 0) pct = 0;
  const bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers = current > total ? pad(humanSize(current)) : `${pad(humanSize(current))}/${humanSize(total)}`;
  return bar + numbers;
}

/** A progress event as moby's JSONMessage (field order as Go marshals the struct). */
export function toJsonMessage(e: ProgressEvent): Json {
  if (e.aux) return { progressDetail: {}, aux: { Tag: e.aux.tag, Digest: e.aux.digest, Size: e.aux.size } };
  const m: Json = { status: e.status };
  if (e.progress) {
    m.progressDetail = { current: e.progress.current, ...(e.progress.total !== undefined && e.progress.total > 0 ? { total: e.progress.total } : {}) };
    const p = progressString(e.progress.current, e.progress.total);
    if (p) m.progress = p;
  } else if (e.layer) {
    m.progressDetail = {};
  }
  if (e.id !== undefined) m.id = e.id;
  return m;
}

function field(o: Json, name: string): string | undefined {
  const key = Object.keys(o).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : o[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Credentials of an AuthConfig object (keys case-insensitive, as Go's JSON decoding). */
export function authFromConfig(o: Json): RegistryAuth | undefined {
  let username = field(o, 'username');
  let password = field(o, 'password');
  const encoded = field(o, 'auth');
  if (encoded !== undefined && username === undefined) {
    const plain = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) {
      username = plain.slice(0, colon);
      password = plain.slice(colon + 1);
    }
  }
  const identityToken = field(o, 'identitytoken');
  const registryToken = field(o, 'registrytoken');
  const auth: RegistryAuth = {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(identityToken !== undefined ? { identityToken } : {}),
    ...(registryToken !== undefined ? { registryToken } : {}),
  };
  return Object.keys(auth).length ? auth : undefined;
}

/** `X-Registry-Auth`: base64url (or standard base64) of a JSON AuthConfig; `e30=` is anonymous. */
export function decodeRegistryAuth(header: string | string[] | undefined): RegistryAuth | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h === undefined || h.trim() === '') return undefined;
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(h.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw invalid('invalid X-Registry-Auth header: not base64-encoded JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined;
  return authFromConfig(o as Json);
}

/** A JSON-lines reply whose headers go out with the first line. */
class MessageStream {
  started = false;
  constructor(private readonly res: http.ServerResponse) {}
  write(m: Json): void {
    if (this.res.destroyed) return;
    if (!this.started) {
      this.res.writeHead(200, { 'Content-Type': 'application/json' });
      this.started = true;
    }
    this.res.write(`${JSON.stringify(m)}\n`);
  }
  fail(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.write({ errorDetail: { message }, error: message });
    this.res.end();
  }
  end(): void {
    if (!this.started) this.res.writeHead(200, { 'Content-Type': 'application/json' });
    this.started = true;
    this.res.end();
  }
}

/** An AbortSignal that fires when the client goes away before the reply is finished. */
function clientGone(ctx: Ctx): AbortSignal {
  const ac = new AbortController();
  ctx.res.on('close', () => {
    if (!ctx.res.writableFinished) ac.abort(new EngineError('unavailable', 'client disconnected', { code: 'client-gone' }));
  });
  return ac.signal;
}

/** Run a streaming operation: plain HTTP error before the first line, errorDetail after it. */
async function streamed(ctx: Ctx, run: (write: (e: ProgressEvent) => void, signal: AbortSignal) => Promise<void>): Promise<void> {
  const stream = new MessageStream(ctx.res);
  const signal = clientGone(ctx);
  try {
    await run((e) => stream.write(toJsonMessage(e)), signal);
  } catch (e) {
    if (signal.aborted) {
      ctx.res.destroy();
      return;
    }
    if (!stream.started) throw e;
    stream.fail(e);
    return;
  }
  stream.end();
}

/** `fromImage` (+ `tag`) as a reference; no tag anywhere means every tag. */
export function pullReference(fromImage: string, tag: string): { ref: string; allTags: boolean } {
  const r = parseReference(fromImage);
  const name = `${r.domain}/${r.path}`;
  if (tag !== '') {
    if (tag.startsWith('sha256:')) return { ref: `${name}@${tag}`, allTags: false };
    return { ref: `${name}:${tag}`, allTags: false };
  }
  const explicit = fromImage.includes('@') || /:[^/]*$/.test(fromImage);
  return explicit ? { ref: fromImage, allTags: false } : { ref: `${name}:latest`, allTags: true };
}

export function distributionRoutes(r: Router, engine: Engine): void {
  // `POST /images/create` without fromImage is an import: the image routes' handler does it.
  let importHandler: Handler | undefined;
  const importRoute = (ctx: Ctx): Promise<void> | void => {
    if (importHandler === undefined) {
      const own = new Router();
      imageRoutes(own, engine);
      const m = own.match('POST', '/images/create');
      if (m === undefined || m === 'method') throw new EngineError('not-implemented', 'importing images is not supported');
      importHandler = m.handler;
    }
    return importHandler(ctx);
  };

  r.add('POST', '/images/create', async (ctx) => {
    const q = ctx.query;
    const fromImage = q.get('fromImage') ?? '';
    if (fromImage === '') return importRoute(ctx);
    const { ref, allTags } = pullReference(fromImage, q.get('tag') ?? '');
    const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
    const platform = q.get('platform') ?? '';
    ctx.req.resume();
    await streamed(ctx, async (write, signal) => {
      await pullImage(engine, ref, { ...(auth ? { auth } : {}), ...(platform ? { platform } : {}), allTags, signal, onProgress: write });
    });
  });

  r.add('POST', '/images/{name:.*}/push', async (ctx) => {
    const name = ctx.params.name ?? '';
    const tag = ctx.query.get('tag') ?? '';
    const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
    const r0 = parseReference(name);
    const ref = `${r0.domain}/${r0.path}:${tag || r0.tag || 'latest'}`;
    const explicit = /:[^/]*$/.test(name);
    ctx.req.resume();
    await streamed(ctx, async (write, signal) => {
      await pushImage(engine, explicit && tag === '' ? name : ref, { ...(auth ? { auth } : {}), allTags: tag === '' && !explicit, signal, onProgress: write });
    });
  });

  r.add('POST', '/auth', async (ctx) => {
    const body = (await readJsonBody<Json>(ctx.req)) ?? {};
    const auth = authFromConfig(body) ?? {};
    const server = field(body, 'serveraddress') ?? '';
    const signal = clientGone(ctx);
    const result = await login(server, auth, { signal, engine });
    sendJson(ctx.res, 200, result);
  });
}
