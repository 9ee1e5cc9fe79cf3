// HTTP(S) to registries: which host and scheme a registry domain means (docker.io is served by
// registry-1.docker.io; loopback and configured insecure registries may use plain HTTP, tried
// after HTTPS as Docker does), TLS with the system's CAs plus a per-registry certs.d directory,
// redirects followed (the Authorization header dropped when the host changes, so a token never
// reaches blob storage), and retries with back-off on 5xx replies and reset connections.

import { readdir, readFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { DEFAULT_DOMAIN } from '../../core/reference.ts';
import { errnoOf, invalid } from '../../core/errors.ts';
import { isAbort, networkError } from './errors.ts';

export const DOCKER_HUB_HOST = 'registry-1.docker.io';
/** The key Docker keeps Docker Hub credentials under, and the server address of its logins. */
export const INDEX_SERVER = 'https://index.docker.io/v1/';

export interface TransportOptions {
  /** Registries (host[:port], or IPv4 CIDR such as 10.0.0.0/8) reachable over plain HTTP. */
  readonly insecureRegistries?: readonly string[];
  /** Directories of `<host[:port]>/*.crt` CA files (and `*.cert` + `*.key` client pairs). */
  readonly certsDirs?: readonly string[];
  /** Tries of an idempotent request (default 3). */
  readonly attempts?: number;
  /** First back-off delay; doubles after each try (default 250 ms). */
  readonly backoffMs?: number;
  /** Idle socket timeout (default 60 s). */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /** Name resolution (default: the system's, as dns.lookup). */
  readonly lookup?: LookupFunction;
}

export interface RegistryEndpoint {
  /** The registry as references name it: docker.io, localhost:5000. */
  readonly domain: string;
  /** host[:port] to connect to: registry-1.docker.io, localhost:5000. */
  readonly host: string;
  /** Plain HTTP (after HTTPS) and unverified TLS are allowed. */
  readonly insecure: boolean;
}

/** A request body that can be produced again for a retry. */
export interface BodySource {
  readonly length?: number;
  open(): Readable | Buffer;
}

export interface SendOptions {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: BodySource;
  readonly signal?: AbortSignal;
  /** Follow redirects (default: for GET and HEAD). */
  readonly followRedirects?: boolean;
  /** May be sent again after a 5xx or a reset connection (default: GET and HEAD). */
  readonly retry?: boolean;
  /** Skip TLS verification (HTTPS to an insecure registry). */
  readonly insecureTls?: boolean;
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Where the reply came from, after redirects. */
  readonly url: URL;
  readonly body: IncomingMessage;
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_ERRNO = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
export const DEFAULT_CERTS_DIRS: readonly string[] = ['/etc/berth/certs.d', '/etc/docker/certs.d'];

/** The whole body of a reply, refused past `limit` bytes. */
export async function readReply(reply: Reply, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of reply.body as AsyncIterable<Buffer>) {
    n += c.byteLength;
    if (n > limit) {
      reply.body.destroy();
      throw invalid(`reply from ${reply.url.host} is larger than ${limit} bytes`);
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Throw the body away (keeps the connection reusable when it is small). */
export function discard(reply: Reply): void {
  reply.body.resume();
  reply.body.on('error', () => undefined);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** Loopback (localhost, 127.0.0.0/8, ::1) registries are insecure by default, as in Docker. */
export function isLoopbackHost(host: string): boolean {
  const name = hostname(host);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}

/** `host:port` / `[v6]:port` / `host` -> host name without brackets and port. */
export function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

export class Transport {
  private readonly http = new http.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly https = new https.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly schemes = new Map<string, 'https' | 'http'>();
  private readonly tlsByHost = new Map<string, Promise<https.RequestOptions>>();
  private systemCa: Promise<string[]> | undefined;

  constructor(readonly options: TransportOptions = {}) {}

  /** Close idle connections. */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }

  endpoint(domain: string): RegistryEndpoint {
    const host = domain === DEFAULT_DOMAIN || domain === 'index.docker.io' ? DOCKER_HUB_HOST : domain;
    return { domain, host, insecure: this.isInsecure(host) };
  }

  private isInsecure(host: string): boolean {
    if (isLoopbackHost(host)) return true;
    const name = hostname(host);
    for (const entry of this.options.insecureRegistries ?? []) {
      const e = entry.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
      if (e === host || e === name) return true;
      const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(e);
      if (cidr && isIP(name) === 4) {
        const bits = Number(cidr[2]);
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        if (((ipv4ToInt(name) & mask) >>> 0) === ((ipv4ToInt(cidr[1] ?? '') & mask) >>> 0)) return true;
      }
    }
    return false;
  }

  /** Schemes to try, best first: HTTPS, then plain HTTP for insecure registries. */
  schemesFor(endpoint: RegistryEndpoint): ('https' | 'http')[] {
    const known = this.schemes.get(endpoint.host);
    if (known) return [known];
    return endpoint.insecure ? ['https', 'http'] : ['https'];
  }

  rememberScheme(endpoint: RegistryEndpoint, scheme: 'https' | 'http'): void {
    this.schemes.set(endpoint.host, scheme);
  }

  /** One request with redirects and retries; the reply's body is for the caller to read. */
  async send(o: SendOptions): Promise<Reply> {
    const idempotent = o.method === 'GET' || o.method === 'HEAD';
    const retry = o.retry ?? idempotent;
    const attempts = retry ? Math.max(1, this.options.attempts ?? 3) : 1;
    const backoff = this.options.backoffMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      o.signal?.throwIfAborted();
      try {
        const reply = await this.follow(o, idempotent);
        if (RETRY_STATUS.has(reply.status) && attempt < attempts) {
          discard(reply);
          await sleep(Math.min(backoff * 2 ** (attempt - 1), 8000), o.signal);
          continue;
        }
        return reply;
      } catch (e) {
        if (isAbort(e) || o.signal?.aborted) throw o.signal?.reason ?? e;
        if (RETRY_ERRNO.has(errnoOf(e) ?? '') && attempt < attempts) {
          await sleep(Math.min(backoff * 2 ** (attempt - 1), 8000), o.signal);
          continue;
        }
        if (e instanceof Error && e.name === 'EngineError') throw e;
        throw networkError(e, o.method, o.url);
      }
    }
  }

  private async follow(o: SendOptions, idempotent: boolean): Promise<Reply> {
    let url = o.url;
    let method = o.method;
    let headers: Record<string, string> = { ...(o.headers ?? {}) };
    let body = o.body;
    const follow = o.followRedirects ?? idempotent;
    for (let hops = 0; ; hops++) {
      const reply = await this.once(method, url, headers, body, o);
      const location = reply.headers.location;
      if (!follow || !REDIRECT_STATUS.has(reply.status) || location === undefined) return reply;
      discard(reply);
      if (hops >= MAX_REDIRECTS) throw networkError(new Error('stopped after 10 redirects'), method, url);
      const next = new URL(location, url);
      if (next.origin !== url.origin) {
        // Credentials are for the registry only, never for the storage it redirects to.
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      if (reply.status === 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
      }
      url = next;
    }
  }

  private async once(method: string, url: URL, headers: Record<string, string>, body: BodySource | undefined, o: SendOptions): Promise<Reply> {
    const secure = url.protocol === 'https:';
    const tlsOptions = secure ? await this.tlsOptions(url.host, o.insecureTls === true) : {};
    const payload = body?.open();
    const h: Record<string, string | number> = { 'User-Agent': this.options.userAgent ?? 'berth/0.1.0', ...headers };
    if (payload !== undefined) {
      if (Buffer.isBuffer(payload)) h['Content-Length'] = payload.byteLength;
      else if (body?.length !== undefined) h['Content-Length'] = body.length;
    } else if (method === 'PUT' || method === 'POST' || method === 'PATCH') {
      h['Content-Length'] = 0;
    }
    return new Promise<Reply>((resolve, reject) => {
      const send = secure ? https.request : http.request;
      const req = send(url, {
        method,
        headers: h,
        agent: secure ? this.https : this.http,
        signal: o.signal,
        ...(this.options.lookup ? { lookup: this.options.lookup } : {}),
        ...tlsOptions,
      });
      req.setTimeout(this.options.timeoutMs ?? 60_000, () => {
        req.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' }));
      });
      req.on('error', (e) => {
        if (!Buffer.isBuffer(payload)) payload?.destroy();
        reject(e);
      });
      req.on('response', (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
      });
      if (payload === undefined || Buffer.isBuffer(payload)) req.end(payload);
      else {
        payload.on('error', (e) => req.destroy(e));
        payload.pipe(req);
      }
    });
  }

  private tlsOptions(host: string, insecure: boolean): Promise<https.RequestOptions> {
    if (insecure) return Promise.resolve({ rejectUnauthorized: false });
    let p = this.tlsByHost.get(host);
    if (p === undefined) {
      p = this.loadTls(host);
      this.tlsByHost.set(host, p);
    }
    return p;
  }

  private async loadTls(host: string): Promise<https.RequestOptions> {
    this.systemCa ??= readFile(SYSTEM_CA_FILE, 'utf8').then(
      (pem) => [pem],
      () => [],
    );
    const ca = [...tls.rootCertificates, ...(await this.systemCa)];
    let cert: Buffer | undefined;
    let key: Buffer | undefined;
    for (const dir of this.options.certsDirs ?? DEFAULT_CERTS_DIRS) {
      const d = join(dir, host);
      const names = await readdir(d).catch(() => [] as string[]);
      for (const n of names.sort()) {
        if (n.endsWith('.crt')) ca.push(await readFile(join(d, n), 'utf8'));
        else if (n.endsWith('.cert') && cert === undefined && names.includes(`${n.slice(0, -5)}.key`)) {
          cert = await readFile(join(d, n));
          key = await readFile(join(d, `${n.slice(0, -5)}.key`));
        }
      }
    }
    return { ca, ...(cert && key ? { cert, key } : {}) };
  }
}
