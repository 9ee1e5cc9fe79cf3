// The Engine API server: a route table over node:http on a unix socket. Routes map to engine
// calls and nothing more; errors become {"message":…} with Content-Type exactly application/json.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { EngineError, invalid } from '../core/errors.ts';
import { statusOf } from './errors.ts';

export const API_VERSION = '1.50';
export const MIN_API_VERSION = '1.24';
export const ENGINE_VERSION = '28.2.2-berth';

export interface Ctx {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  readonly version: string;
  /** present when the request asked to upgrade (Connection: Upgrade) */
  readonly upgradeSocket?: Duplex;
  readonly head?: Buffer;
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

const escapeRe = (s: string): string => s.replace(/[.*+?^$()[\]\\|{}]/g, '\\$&');

interface Route { method: string; re: RegExp; names: string[]; handler: Handler }

export class Router {
  private readonly routes: Route[] = [];
  add(method: string, pattern: string, handler: Handler): this {
    const names: string[] = [];
    let src = '';
    let last = 0;
    for (const m of pattern.matchAll(/\{(\w+)(?::([^}]+))?\}/g)) {
      src += escapeRe(pattern.slice(last, m.index)) + (m[2] === '.*' ? '(.+)' : `(${m[2] ?? '[^/]+'})`);
      names.push(m[1] ?? '');
      last = (m.index ?? 0) + m[0].length;
    }
    src += escapeRe(pattern.slice(last));
    this.routes.push({ method, re: new RegExp(`^${src}$`), names, handler });
    return this;
  }
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    let methodMismatch = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) {
        methodMismatch = true;
        continue;
      }
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1] ?? '');
      });
      return { handler: r.handler, params };
    }
    return methodMismatch ? 'method' : undefined;
  }
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendError(res: http.ServerResponse, e: unknown): void {
  const status = statusOf(e);
  const message = e instanceof Error ? e.message : String(e);
  if (!(e instanceof EngineError) || status >= 500) process.stderr.write(`berthd: ${status} ${e instanceof Error ? (e.stack ?? message) : message}\n`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 304) {
    res.writeHead(304);
    res.end();
    return;
  }
  // `kind` is berth's addition (Docker clients read only `message`): it lets the berth CLI map
  // errors to exit codes without reading message text.
  sendJson(res, status, e instanceof EngineError ? { message, kind: e.kind } : { message });
}

export function noContent(res: http.ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

/** The body of an upgraded request (Node hands those over as a raw socket), read by the server. */
const upgradeBodies = new WeakMap<http.IncomingMessage, Buffer>();

export async function readBody(req: http.IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const early = upgradeBodies.get(req);
  if (early) return early;
  if (req.headers.upgrade !== undefined && req.headers.connection?.toLowerCase().includes('upgrade')) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw invalid('request body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export async function readJsonBody<T>(req: http.IncomingMessage): Promise<T | undefined> {
  const buf = await readBody(req);
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (e) {
    throw invalid(`invalid JSON: ${(e as Error).message}`);
  }
}

/** moby httputils.BoolValue: anything but "", 0, no, false, none is true. */
export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !['', '0', 'no', 'false', 'none'].includes(v.toLowerCase());
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalid(`invalid value for ${name}: ${v}`);
  return n;
}

/** Docker filters: {"k":{"v":true}} or legacy {"k":["v"]}. */
export function filtersParam(q: URLSearchParams): Map<string, string[]> {
  const raw = q.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid(`invalid filter: ${raw}`);
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out.set(k, v.map(String));
    else if (typeof v === 'object' && v !== null) out.set(k, Object.entries(v).filter(([, b]) => b === true).map(([s]) => s));
  }
  return out;
}

const VERSION_PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

export function createApiServer(router: Router): http.Server {
  const server = http.createServer({ keepAlive: true });
  const dispatch = async (req: http.IncomingMessage, res: http.ServerResponse, upgradeSocket?: Duplex, head?: Buffer): Promise<void> => {
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `Docker/${ENGINE_VERSION} (linux)`);
    res.setHeader('Docker-Experimental', 'false');
    try {
      const url = new URL(req.url ?? '/', 'http://berth');
      let path = url.pathname;
      let version = API_VERSION;
      const vm = VERSION_PREFIX.exec(path);
      if (vm) {
        version = vm[1] ?? API_VERSION;
        path = vm[2] ?? '/';
        if (compareVersions(version, MIN_API_VERSION) < 0)
          throw invalid(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
        if (compareVersions(version, API_VERSION) > 0)
          throw invalid(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
      }
      const m = router.match(req.method ?? 'GET', path);
      if (m === undefined || m === 'method') {
        sendJson(res, 404, { message: 'page not found' });
        return;
      }
      await m.handler({ req, res, params: m.params, query: url.searchParams, version, upgradeSocket, head });
    } catch (e) {
      if (upgradeSocket && !res.headersSent) {
        const message = e instanceof Error ? e.message : String(e);
        const status = statusOf(e);
        upgradeSocket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ message })}\r\n`);
        return;
      }
      sendError(res, e);
    }
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void dispatch(req, res);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // A ServerResponse bound to the raw socket lets handlers answer errors normally before hijacking.
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as import('node:net').Socket);
    // an upgraded request may still carry a body (exec start's JSON): take it off the stream
    const len = Number(req.headers['content-length'] ?? 0);
    void (async () => {
      let buf = head;
      while (buf.length < len) {
        const more = await new Promise<Buffer | undefined>((resolve) => {
          socket.once('data', (d: Buffer) => resolve(d));
          socket.once('end', () => resolve(undefined));
        });
        if (!more) break;
        buf = Buffer.concat([buf, more]);
      }
      socket.pause();
      if (len > 0) upgradeBodies.set(req, buf.subarray(0, len));
      await dispatch(req, res, socket, buf.subarray(Math.min(len, buf.length)));
    })();
  });
  return server;
}
