// The registry's HTTP(S) server: opens the storage under `root` (sweeping what a crash left),
// authenticates every request when an htpasswd file is given, routes, and turns every thrown
// error into the spec's error body through errors.ts.

import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { ContentStore } from '../../content/index.ts';
import { errorResponse, registryError } from './errors.ts';
import type { Htpasswd } from './htpasswd.ts';
import type { RequestContext } from './http.ts';
import { allowedMethods, matchRoute } from './routes.ts';
import { RegistryStorage } from './storage.ts';
import { UploadSessions } from './uploads.ts';

export interface RegistryServerOptions {
  /** Directory holding blobs, repositories and upload sessions (created when missing). */
  readonly root: string;
  /** Path of an htpasswd file of bcrypt entries: every request then needs Basic auth. */
  readonly htpasswd?: string;
  /** PEM certificate chain and key: serve HTTPS instead of HTTP. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Called once per finished (or abandoned) request. */
  readonly onRequest?: (entry: RequestLogEntry) => void;
  /** Upload sessions idle longer than this are removed (default 24 hours). */
  readonly uploadMaxAgeMs?: number;
}

export interface RequestLogEntry {
  readonly method: string;
  /** Path and query as requested. */
  readonly url: string;
  readonly status: number;
  /** Body bytes of the reply (its Content-Length; see `error` for replies cut short). */
  readonly bytes: number;
  readonly durationMs: number;
  readonly remote: string;
  readonly user?: string;
  /** Set for server faults (5xx) and abandoned requests. */
  readonly error?: string;
}

export interface RegistryServer {
  /** Not yet listening: call `server.listen(...)`. */
  readonly server: HttpServer | HttpsServer;
  /** Stop accepting, end open connections and the periodic sweep. */
  close(): Promise<void>;
  /** What start-up found and removed: an htpasswd's unsupported entries, swept uploads. */
  readonly startup: { readonly sweptUploads: number; readonly sweptIngest: number; readonly unsupportedUsers: readonly string[] };
}

/** Body bytes of a reply: every reply here declares its Content-Length. */
function bodyBytes(req: IncomingMessage, res: ServerResponse): number {
  if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return 0;
  const n = Number(res.getHeader('content-length') ?? 0);
  return Number.isFinite(n) ? n : 0;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const REALM = 'berth-registry';

async function loadHtpasswd(path: string): Promise<Htpasswd> {
  const { Htpasswd } = await import('./htpasswd.ts');
  return Htpasswd.load(path);
}

export async function createRegistryServer(opts: RegistryServerOptions): Promise<RegistryServer> {
  const content = await ContentStore.open(opts.root);
  const storage = new RegistryStorage(opts.root, content);
  const uploads = await UploadSessions.open(opts.root, content);
  const maxAge = opts.uploadMaxAgeMs ?? DAY_MS;
  // Nothing is writing yet: every ingest file is a leftover, and old sessions are stale.
  const sweptIngest = await content.sweepIngest();
  const sweptUploads = await uploads.sweep(maxAge);
  // TLS and bcrypt are loaded only when asked for: a plain registry does not carry them.
  const auth = opts.htpasswd !== undefined ? await loadHtpasswd(opts.htpasswd) : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    let user: string | undefined;
    let fault: string | undefined;
    res.on('close', () => {
      opts.onRequest?.({
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        bytes: bodyBytes(req, res),
        durationMs: performance.now() - started,
        remote: req.socket.remoteAddress ?? '',
        ...(user !== undefined ? { user } : {}),
        ...(fault !== undefined ? { error: fault } : res.writableFinished ? {} : { error: 'client went away' }),
      });
    });
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');

    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://registry.invalid');
    } catch {
      url = new URL('http://registry.invalid/');
    }
    const ctx: RequestContext = { req, res, url, storage, uploads, signal: ac.signal };
    try {
      if (auth !== undefined) {
        user = await auth.authenticate(req.headers.authorization);
        if (user === undefined) {
          res.setHeader('WWW-Authenticate', `Basic realm="${REALM}"`);
          throw registryError('unauthorized', 'authentication required');
        }
      }
      const { handler, params } = matchRoute(req.method ?? 'GET', url.pathname);
      await handler(ctx, params);
    } catch (e) {
      const { status, body } = errorResponse(e);
      if (status >= 500) fault = e instanceof Error ? e.message : String(e);
      if (ac.signal.aborted || res.destroyed) return;
      if (res.headersSent) {
        res.destroy(); // mid-body: the only honest thing left is to cut the connection
        return;
      }
      if (status === 405) res.setHeader('Allow', allowedMethods(url.pathname).join(', '));
      // A body we did not read would be drained first; do not, close instead.
      if (!req.complete) res.setHeader('Connection', 'close');
      const json = Buffer.from(JSON.stringify(body));
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': json.byteLength });
      res.end(req.method === 'HEAD' ? undefined : json);
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => res.destroy());
  };
  // Blob uploads may take longer than Node's default 5-minute request timeout.
  const serverOptions = { requestTimeout: 0, headersTimeout: 60_000 };
  const server = opts.tls
    ? (await import('node:https')).createServer({ ...serverOptions, cert: opts.tls.cert, key: opts.tls.key }, listener)
    : createHttpServer(serverOptions, listener);

  const timer = setInterval(() => {
    uploads.sweep(maxAge).catch(() => undefined);
  }, SWEEP_INTERVAL_MS);
  timer.unref();

  return {
    server,
    startup: { sweptUploads, sweptIngest, unsupportedUsers: auth?.unsupportedUsers ?? [] },
    close: () =>
      new Promise<void>((resolve, reject) => {
        clearInterval(timer);
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
