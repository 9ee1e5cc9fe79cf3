// A small Engine API client over a unix socket: JSON calls, streamed responses, and hijacked
// (upgraded) connections for attach and exec.
import http from 'node:http';
import type { Socket } from 'node:net';
import { EngineError, type ErrorKind } from '../core/errors.ts';

export const CLIENT_API = 'v1.50';

export interface RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined | string[]>;
  readonly body?: unknown;
  readonly rawBody?: NodeJS.ReadableStream | Buffer;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

const KIND_BY_STATUS: Record<number, ErrorKind> = {
  400: 'invalid-parameter',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  501: 'not-implemented',
  503: 'unavailable',
};

/** An error response from the daemon. */
export class ApiError extends EngineError {
  constructor(readonly status: number, message: string, kind?: ErrorKind) {
    super(kind ?? KIND_BY_STATUS[status] ?? 'system', message);
  }
}

/** The daemon could not be reached at all. */
export class ConnectError extends Error {
  constructor(readonly socketPath: string, cause: unknown) {
    super(`Cannot connect to the berth daemon at unix://${socketPath}. Is the berth daemon running?`, { cause });
  }
}

function buildPath(path: string, query?: RequestOptions['query']): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === false) continue;
    if (Array.isArray(v)) for (const x of v) qs.append(k, x);
    else qs.append(k, v === true ? '1' : String(v));
  }
  const s = qs.toString();
  return `/${CLIENT_API}${path}${s ? `?${s}` : ''}`;
}

export class Client {
  private readonly agent: http.Agent;
  constructor(readonly socketPath: string) {
    this.agent = new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Raw request; the response body is left unread. */
  request(method: string, path: string, o: RequestOptions = {}): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Host: 'api.moby.localhost', 'User-Agent': 'berth-cli', ...(o.headers ?? {}) };
      let payload: Buffer | undefined;
      if (o.body !== undefined) {
        payload = Buffer.from(JSON.stringify(o.body));
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(payload.length);
      } else if (Buffer.isBuffer(o.rawBody)) {
        payload = o.rawBody;
        headers['Content-Length'] = String(payload.length);
      }
      const req = http.request({ socketPath: this.socketPath, method, path: buildPath(path, o.query), headers, agent: this.agent, signal: o.signal });
      req.on('response', resolve);
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new ConnectError(this.socketPath, e));
        else reject(e);
      });
      if (payload) req.end(payload);
      else if (o.rawBody) (o.rawBody as NodeJS.ReadableStream).pipe(req);
      else req.end();
    });
  }

  async text(res: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  async check(res: http.IncomingMessage): Promise<http.IncomingMessage> {
    if ((res.statusCode ?? 500) < 400) return res;
    const body = await this.text(res);
    let message = body.trim();
    let kind: ErrorKind | undefined;
    if (res.headers['content-type'] === 'application/json') {
      try {
        const j = JSON.parse(body) as { message?: string; kind?: ErrorKind };
        message = j.message ?? message;
        kind = j.kind;
      } catch {
        /* keep raw */
      }
    }
    throw new ApiError(res.statusCode ?? 500, message, kind);
  }

  /** A JSON call; returns the parsed body (undefined for empty bodies). */
  async call<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.check(await this.request(method, path, o));
    const text = await this.text(res);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Status-only call (204/304...). */
  async status(method: string, path: string, o: RequestOptions = {}): Promise<number> {
    const res = await this.check(await this.request(method, path, o));
    res.resume();
    return res.statusCode ?? 0;
  }

  /** Upgrade the connection (attach, exec start): resolves with the raw socket. */
  hijack(path: string, o: RequestOptions = {}): Promise<{ socket: Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      let payload: Buffer | undefined;
      const headers: Record<string, string> = { Host: 'api.moby.localhost', Connection: 'Upgrade', Upgrade: 'tcp', 'Content-Type': 'text/plain' };
      if (o.body !== undefined) {
        payload = Buffer.from(JSON.stringify(o.body));
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(payload.length);
      }
      const req = http.request({ socketPath: this.socketPath, method: 'POST', path: buildPath(path, o.query), headers, agent: false });
      req.on('upgrade', (_res, socket: Socket, head: Buffer) => resolve({ socket, head }));
      req.on('response', (res) => {
        this.check(res).then(
          () => reject(new Error(`unable to upgrade to tcp, received ${res.statusCode}`)),
          reject,
        );
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new ConnectError(this.socketPath, e));
        else reject(e);
      });
      req.end(payload);
    });
  }
}

/** Split Docker's multiplexed stream into stdout/stderr. */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly out: (stream: number, data: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const stream = this.buf[0] ?? 1;
      this.out(stream, this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}
