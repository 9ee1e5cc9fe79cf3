// Talking to one registry with credentials: ping `/v2/` (which also settles HTTPS or plain HTTP),
// answer its `WWW-Authenticate` challenge — Basic, or Bearer per docker-token.md: a token for
// the session's scopes (`repository:<name>:pull[,push]`) from the realm, with Basic credentials
// (GET) or a stored identity token (POST, OAuth2 refresh_token grant), cached until it expires —
// and send requests with that authorization, fetching a new token once when one is refused.

import { createHash } from 'node:crypto';
import { EngineError } from '../../core/errors.ts';
import { parseChallenges, pickChallenge, type Challenge } from './challenge.ts';
import { isAbort, parseErrorBody, RegistryResponseError, statusLine } from './errors.ts';
import { discard, readReply, type BodySource, type RegistryEndpoint, type Reply, type Transport } from './transport.ts';

/** Credentials for one registry (X-Registry-Auth, decoded and renamed). */
export interface RegistryAuth {
  readonly username?: string;
  readonly password?: string;
  /** A refresh token from an earlier login, used instead of the password. */
  readonly identityToken?: string;
  /** A bearer token to send as is. */
  readonly registryToken?: string;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Bearer tokens by realm, service, scopes and credentials, each kept until shortly before it expires. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  constructor(private readonly now: () => number = Date.now) {}

  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (t === undefined) return undefined;
    if (t.expiresAt - 5000 <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  set(key: string, token: string, expiresInSeconds: number, issuedAt?: number): void {
    const from = issuedAt !== undefined && Number.isFinite(issuedAt) && issuedAt <= this.now() ? issuedAt : this.now();
    this.tokens.set(key, { token, expiresAt: from + expiresInSeconds * 1000 });
    if (this.tokens.size > 256) {
      for (const [k, v] of this.tokens) if (v.expiresAt <= this.now()) this.tokens.delete(k);
    }
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}

export interface SessionOptions {
  readonly transport: Transport;
  readonly endpoint: RegistryEndpoint;
  readonly auth?: RegistryAuth;
  /** e.g. `repository:library/busybox:pull`. */
  readonly scopes?: readonly string[];
  readonly tokens?: TokenCache;
  /** Ask the token server for a refresh token (login). */
  readonly offlineToken?: boolean;
  readonly clientId?: string;
}

export interface RequestOptions {
  readonly method: string;
  /** A path under the registry (`/v2/…`) or an absolute URL (an upload Location). */
  readonly path: string | URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: BodySource;
  readonly signal?: AbortSignal;
  readonly retry?: boolean;
}

interface PingState {
  base: URL;
  challenge: Challenge | undefined;
}

export function repositoryScope(name: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${name}:${actions}`;
}

function credentialKey(auth: RegistryAuth | undefined): string {
  if (auth === undefined) return 'anonymous';
  return createHash('sha256').update(JSON.stringify([auth.username ?? '', auth.password ?? '', auth.identityToken ?? '', auth.registryToken ?? ''])).digest('hex').slice(0, 32);
}

export class RegistrySession {
  readonly endpoint: RegistryEndpoint;
  readonly scopes: readonly string[];
  /** Set by a token server that answered with a refresh token (login with offline_token). */
  refreshToken: string | undefined;
  private ping?: Promise<PingState>;
  private readonly tokens: TokenCache;

  constructor(private readonly o: SessionOptions, shared?: { ping?: Promise<PingState> }) {
    this.endpoint = o.endpoint;
    this.scopes = [...new Set(o.scopes ?? [])].sort();
    this.tokens = o.tokens ?? new TokenCache();
    if (shared?.ping) this.ping = shared.ping;
  }

  get transport(): Transport {
    return this.o.transport;
  }

  get auth(): RegistryAuth | undefined {
    return this.o.auth;
  }

  /** The same registry and credentials with more scopes (e.g. a cross-repository mount's source). */
  withScopes(extra: readonly string[]): RegistrySession {
    return new RegistrySession({ ...this.o, tokens: this.tokens, scopes: [...this.scopes, ...extra] }, this.ping ? { ping: this.ping } : {});
  }

  /** `GET /v2/`: settles the scheme and learns the challenge (once per session). */
  async base(signal?: AbortSignal): Promise<URL> {
    return (await this.pinged(signal)).base;
  }

  private pinged(signal?: AbortSignal): Promise<PingState> {
    this.ping ??= this.doPing(signal);
    const p = this.ping;
    p.catch(() => {
      if (this.ping === p) this.ping = undefined;
    });
    return p;
  }

  private async doPing(signal?: AbortSignal): Promise<PingState> {
    let last: unknown;
    for (const scheme of this.transport.schemesFor(this.endpoint)) {
      const base = new URL(`${scheme}://${this.endpoint.host}`);
      try {
        const reply = await this.transport.send({ method: 'GET', url: new URL('/v2/', base), signal, insecureTls: this.endpoint.insecure });
        discard(reply);
        this.transport.rememberScheme(this.endpoint, scheme);
        const challenge = reply.status === 401 ? pickChallenge(parseChallenges(reply.headers['www-authenticate'])) : undefined;
        if (reply.status === 401 && challenge === undefined) {
          throw new RegistryResponseError(401, [], `GET "${new URL('/v2/', base).href}": unauthorized: no challenge this client can answer`);
        }
        return { base, challenge };
      } catch (e) {
        if (isAbort(e) || !(e instanceof EngineError) || e.kind !== 'unavailable' || e instanceof RegistryResponseError) throw e;
        last = e;
      }
    }
    throw last;
  }

  /** Resolve a registry path or Location against the registry's base URL. */
  async url(path: string | URL, signal?: AbortSignal): Promise<URL> {
    return path instanceof URL ? path : new URL(path, await this.base(signal));
  }

  /** A request with this session's authorization; a refused token is replaced once. */
  async request(r: RequestOptions): Promise<Reply> {
    const state = await this.pinged(r.signal);
    const url = r.path instanceof URL ? r.path : new URL(r.path, state.base);
    let authorization = await this.authorization(state, r.signal);
    for (let tries = 0; ; tries++) {
      const reply = await this.transport.send({
        method: r.method,
        url,
        headers: { ...(r.headers ?? {}), ...(authorization ? { Authorization: authorization } : {}) },
        ...(r.body ? { body: r.body } : {}),
        ...(r.signal ? { signal: r.signal } : {}),
        ...(r.retry !== undefined ? { retry: r.retry } : {}),
        insecureTls: this.endpoint.insecure,
      });
      if (reply.status !== 401 || tries > 0) return reply;
      // A new challenge (or a token that expired early): learn it and try once more.
      const challenge = pickChallenge(parseChallenges(reply.headers['www-authenticate']));
      if (challenge === undefined) return reply;
      const had = state.challenge;
      state.challenge = challenge;
      if (had?.scheme === 'basic' && challenge.scheme === 'basic') return reply; // same credentials again: no use
      if (challenge.scheme === 'basic' && this.o.auth?.username === undefined) return reply;
      discard(reply);
      if (challenge.scheme === 'bearer') this.tokens.delete(this.tokenKey(challenge));
      authorization = await this.authorization(state, r.signal);
    }
  }

  private tokenKey(c: Challenge): string {
    return [c.params.realm ?? '', c.params.service ?? '', this.scopes.join(' '), credentialKey(this.o.auth)].join('|');
  }

  /** The Authorization header for the current challenge, fetching a token when needed. */
  private async authorization(state: PingState, signal?: AbortSignal): Promise<string | undefined> {
    const c = state.challenge;
    if (c === undefined) return undefined;
    const auth = this.o.auth;
    if (c.scheme === 'basic') {
      if (auth?.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
    }
    if (auth?.registryToken) return `Bearer ${auth.registryToken}`;
    const key = this.tokenKey(c);
    const cached = this.tokens.get(key);
    if (cached !== undefined) return `Bearer ${cached}`;
    const { token, expiresIn, issuedAt } = await this.fetchToken(c, signal);
    this.tokens.set(key, token, expiresIn, issuedAt);
    return `Bearer ${token}`;
  }

  /** docker-token.md: GET realm?service&scope… with Basic credentials, or POST (OAuth2) with an identity token. */
  private async fetchToken(c: Challenge, signal?: AbortSignal): Promise<{ token: string; expiresIn: number; issuedAt?: number }> {
    const realm = c.params.realm ?? '';
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryResponseError(401, [], `invalid token realm ${JSON.stringify(realm)} in the registry's challenge`, 'unauthorized');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RegistryResponseError(401, [], `unsupported token realm ${realm}`, 'unauthorized');
    const auth = this.o.auth;
    const clientId = this.o.clientId ?? 'berth';
    const service = c.params.service;
    const insecureTls = this.transport.endpoint(url.host).insecure;
    let reply: Reply;
    if (auth?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identityToken, client_id: clientId });
      if (service !== undefined) form.set('service', service);
      if (this.scopes.length) form.set('scope', this.scopes.join(' '));
      if (this.o.offlineToken) form.set('access_type', 'offline');
      const body = Buffer.from(form.toString());
      reply = await this.transport.send({
        method: 'POST',
        url,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: { length: body.byteLength, open: () => body },
        ...(signal ? { signal } : {}),
        retry: true,
        insecureTls,
      });
    } else {
      if (service !== undefined) url.searchParams.set('service', service);
      for (const s of this.scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (auth?.username !== undefined) {
        url.searchParams.set('account', auth.username);
        headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
      }
      if (this.o.offlineToken) {
        url.searchParams.set('offline_token', 'true');
        url.searchParams.set('client_id', clientId);
      }
      reply = await this.transport.send({ method: 'GET', url, headers, ...(signal ? { signal } : {}), insecureTls });
    }
    const body = await readReply(reply, 1024 * 1024);
    const where = `${reply.url.origin}${reply.url.pathname}`;
    if (reply.status !== 200) {
      const entries = parseErrorBody(body);
      let detail = entries[0]?.message;
      if (detail === undefined) {
        try {
          const j = JSON.parse(body.toString('utf8')) as { details?: unknown; message?: unknown; error_description?: unknown };
          detail = [j.details, j.message, j.error_description].find((x): x is string => typeof x === 'string');
        } catch {
          detail = undefined;
        }
      }
      const kind = reply.status === 401 ? 'unauthorized' : reply.status === 403 ? 'forbidden' : reply.status >= 500 ? 'unavailable' : 'unauthorized';
      const what = reply.status === 401 ? 'unauthorized' : statusLine(reply.status);
      throw new RegistryResponseError(reply.status, entries, `${auth?.identityToken ? 'Post' : 'Get'} "${where}": ${what}: ${detail ?? 'authentication required'}`, kind);
    }
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new RegistryResponseError(reply.status, [], `token server ${where} sent a reply that is not JSON`, 'unavailable');
    }
    const token = typeof j.token === 'string' && j.token !== '' ? j.token : typeof j.access_token === 'string' ? j.access_token : '';
    if (token === '') throw new RegistryResponseError(reply.status, [], `token server ${where} sent no token`, 'unavailable');
    if (typeof j.refresh_token === 'string' && j.refresh_token !== '') this.refreshToken = j.refresh_token;
    const expiresIn = typeof j.expires_in === 'number' && j.expires_in >= 60 ? j.expires_in : 60;
    const issuedAt = typeof j.issued_at === 'string' ? Date.parse(j.issued_at) : undefined;
    return { token, expiresIn, ...(issuedAt !== undefined && Number.isFinite(issuedAt) ? { issuedAt } : {}) };
  }

  /**
   * Prove the credentials before any work: `GET /v2/` with them must answer 200. A login is
   * refused with Docker's wording (`login attempt to … failed with status: 401 Unauthorized`).
   */
  async verify(signal?: AbortSignal, o: { readonly login?: boolean } = {}): Promise<void> {
    const state = await this.pinged(signal);
    const url = new URL('/v2/', state.base);
    if (state.challenge === undefined) return;
    if (state.challenge.scheme === 'basic' && this.o.auth?.username === undefined && !o.login) {
      throw new RegistryResponseError(401, [], `Get "${url.href}": no basic auth credentials`, 'unauthorized');
    }
    const reply = await this.request({ method: 'GET', path: '/v2/', ...(signal ? { signal } : {}) });
    if (reply.status === 200) {
      discard(reply);
      return;
    }
    const body = await readReply(reply, 64 * 1024).catch(() => Buffer.alloc(0));
    const kind = reply.status === 401 ? 'unauthorized' : undefined;
    if (o.login) throw new RegistryResponseError(reply.status, [], `login attempt to ${url.href} failed with status: ${statusLine(reply.status)}`, kind);
    const entries = parseErrorBody(body);
    const detail = entries.length ? entries.map((e) => `${e.code.toLowerCase().replace(/_/g, ' ')}: ${e.message}`).join('; ') : `unauthorized: authentication required`;
    throw new RegistryResponseError(reply.status, entries, `Get "${url.href}": ${detail}`, kind);
  }
}
