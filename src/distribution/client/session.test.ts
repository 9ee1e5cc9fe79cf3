// The registry session against a small local server that behaves like Docker Hub: the registry
// answers 401 with a Bearer challenge, the token server gives JWT-like tokens for Basic
// credentials (or anonymously), refresh tokens with offline_token=true and for the OAuth2
// refresh_token grant (POST), and the registry accepts a token only for the scopes it holds.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isEngineError } from '../../core/errors.ts';
import { checkLogin, registryOfServerAddress } from './login.ts';
import { Repository } from './repository.ts';
import { RegistrySession, repositoryScope, TokenCache, type RegistryAuth } from './session.ts';
import { Transport } from './transport.ts';
import { sha256Digest } from '../../core/digest.ts';

interface Claims {
  sub: string;
  access: { type: string; name: string; actions: string[] }[];
  exp: number;
}

const b64url = (s: string): string => Buffer.from(s).toString('base64url');

class HubLike {
  server!: Server;
  host = '';
  tokenRequests: { method: string; query: URLSearchParams; form?: URLSearchParams; user?: string }[] = [];
  registryRequests: { path: string; authorization?: string }[] = [];
  users = new Map([['alice', 'secret']]);
  /** repositories anonymous users may pull */
  publicRepos = new Set(['library/busybox']);
  expiresIn = 300;
  refreshTokens = new Map<string, string>(); // refresh token -> user
  manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest('{}'), size: 2 }, layers: [] }));

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private challenge(scope?: string): string {
    return `Bearer realm="http://${this.host}/token",service="hub.test"${scope ? `,scope="${scope}"` : ''}`;
  }

  private grant(user: string, scopes: string[]): Claims {
    const access: Claims['access'] = [];
    for (const s of scopes) {
      const [type = '', name = '', actions = ''] = s.split(':');
      const allowed = actions.split(',').filter((a) => {
        if (user === 'alice') return true; // alice may pull and push everywhere
        return a === 'pull' && this.publicRepos.has(name);
      });
      if (allowed.length) access.push({ type, name, actions: allowed });
    }
    return { sub: user, access, exp: Math.floor(Date.now() / 1000) + this.expiresIn };
  }

  private token(c: Claims): string {
    return `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(c))}.sig`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/token') {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      let user = '';
      let scopes = url.searchParams.getAll('scope');
      const entry: HubLike['tokenRequests'][number] = { method: req.method ?? '', query: url.searchParams };
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        entry.form = form;
        if (form.get('grant_type') !== 'refresh_token') return json(400, { error: 'unsupported_grant_type' });
        const u = this.refreshTokens.get(form.get('refresh_token') ?? '');
        if (u === undefined) return json(401, { error: 'invalid_grant' });
        user = u;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      } else {
        const auth = req.headers.authorization;
        if (auth?.startsWith('Basic ')) {
          const [u = '', p = ''] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
          if (this.users.get(u) !== p) {
            this.tokenRequests.push({ ...entry, user: u });
            return json(401, { details: 'incorrect username or password' });
          }
          user = u;
        }
      }
      entry.user = user;
      this.tokenRequests.push(entry);
      const body: Record<string, unknown> = { token: this.token(this.grant(user, scopes)), expires_in: this.expiresIn, issued_at: new Date().toISOString() };
      body.access_token = body.token;
      if (url.searchParams.get('offline_token') === 'true' && user !== '') {
        const rt = `refresh-${this.refreshTokens.size + 1}`;
        this.refreshTokens.set(rt, user);
        body.refresh_token = rt;
      }
      return json(200, body);
    }
    this.registryRequests.push({ path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const auth = req.headers.authorization;
    let claims: Claims | undefined;
    if (auth?.startsWith('Bearer ')) {
      try {
        claims = JSON.parse(Buffer.from(auth.slice(7).split('.')[1] ?? '', 'base64url').toString()) as Claims;
      } catch {
        claims = undefined;
      }
      if (claims && claims.exp * 1000 < Date.now()) claims = undefined;
    }
    if (url.pathname === '/v2/') {
      if (!claims) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'WWW-Authenticate': this.challenge() });
      return json(200, {});
    }
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const name = m[1] ?? '';
      const scope = `repository:${name}:pull`;
      if (!claims?.access.some((a) => a.name === name && a.actions.includes('pull'))) {
        return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'repository', Name: name, Action: 'pull' }] }] }, { 'WWW-Authenticate': this.challenge(scope) });
      }
      if (name !== 'library/busybox' && name !== 'alice/private') return json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] });
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': sha256Digest(this.manifest) });
      res.end(this.manifest);
      return;
    }
    json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] });
  }
}

describe('Bearer token flow (Docker Hub-like)', () => {
  const hub = new HubLike();
  const transport = new Transport({ backoffMs: 10 });
  before(() => hub.start());
  after(async () => {
    transport.close();
    await hub.close();
  });

  const repo = (name: string, auth?: RegistryAuth, tokens?: TokenCache): Repository =>
    new Repository(
      new RegistrySession({ transport, endpoint: transport.endpoint(hub.host), ...(auth ? { auth } : {}), scopes: [repositoryScope(name, 'pull')], ...(tokens ? { tokens } : {}) }),
      name,
    );

  test('an anonymous pull gets a token for repository:<name>:pull and reuses it', async () => {
    hub.tokenRequests = [];
    const r = repo('library/busybox');
    const a = await r.getManifest('latest');
    const b = await r.getManifest('latest');
    assert.equal(a.digest, b.digest);
    assert.equal(hub.tokenRequests.length, 1, 'one token for both requests');
    const t = hub.tokenRequests[0];
    assert.equal(t?.method, 'GET');
    assert.equal(t?.query.get('service'), 'hub.test');
    assert.deepEqual(t?.query.getAll('scope'), ['repository:library/busybox:pull']);
    assert.equal(t?.user, '');
  });

  test('a private repository needs credentials: anonymous is refused, Basic to the token server works', async () => {
    await assert.rejects(repo('alice/private').getManifest('latest'), (e: unknown) => isEngineError(e, 'unauthorized'));
    hub.tokenRequests = [];
    const m = await repo('alice/private', { username: 'alice', password: 'secret' }).getManifest('latest');
    assert.equal(m.manifest.kind, 'image');
    assert.equal(hub.tokenRequests[0]?.user, 'alice');
    assert.equal(hub.tokenRequests[0]?.query.get('account'), 'alice');
  });

  test('a wrong password is unauthorized, with the token server\'s words', async () => {
    await assert.rejects(repo('alice/private', { username: 'alice', password: 'nope' }).getManifest('latest'), (e: unknown) => {
      assert.ok(isEngineError(e, 'unauthorized'), String(e));
      assert.match((e as Error).message, /incorrect username or password/);
      return true;
    });
  });

  test('tokens are cached until shortly before they expire', async () => {
    let now = Date.now();
    const tokens = new TokenCache(() => now);
    hub.tokenRequests = [];
    hub.expiresIn = 60;
    try {
      const r = repo('library/busybox', undefined, tokens);
      await r.getManifest('latest');
      now += 30_000;
      await r.getManifest('latest');
      assert.equal(hub.tokenRequests.length, 1);
      now += 40_000; // past expiry (60 s)
      await r.getManifest('latest');
      assert.equal(hub.tokenRequests.length, 2);
    } finally {
      hub.expiresIn = 300;
    }
  });

  test('login asks for a refresh token (the identity token); a session with it uses the OAuth2 POST grant', async () => {
    const { identityToken } = await checkLogin(transport, hub.host, { username: 'alice', password: 'secret' });
    assert.match(identityToken, /^refresh-\d+$/);
    hub.tokenRequests = [];
    const m = await repo('alice/private', { identityToken }).getManifest('latest');
    assert.equal(m.manifest.kind, 'image');
    const t = hub.tokenRequests[0];
    assert.equal(t?.method, 'POST');
    assert.equal(t?.form?.get('grant_type'), 'refresh_token');
    assert.equal(t?.form?.get('refresh_token'), identityToken);
    assert.equal(t?.form?.get('scope'), 'repository:alice/private:pull');
    assert.equal(t?.form?.get('service'), 'hub.test');
  });

  test('login with a wrong password fails as unauthorized', async () => {
    await assert.rejects(checkLogin(transport, hub.host, { username: 'alice', password: 'bad' }), (e: unknown) => isEngineError(e, 'unauthorized'));
  });

  test('a mount source scope is added to the token request', async () => {
    hub.tokenRequests = [];
    const r = repo('alice/private', { username: 'alice', password: 'secret' });
    const s = r.session.withScopes(['repository:library/busybox:pull']);
    await new Repository(s, 'alice/private').getManifest('latest');
    assert.deepEqual(hub.tokenRequests.at(-1)?.query.getAll('scope'), ['repository:alice/private:pull', 'repository:library/busybox:pull']);
  });
});

describe('server addresses', () => {
  test('Docker Hub names and URLs mean docker.io; others lose scheme and path', () => {
    assert.equal(registryOfServerAddress('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(registryOfServerAddress('docker.io'), 'docker.io');
    assert.equal(registryOfServerAddress('registry-1.docker.io'), 'docker.io');
    assert.equal(registryOfServerAddress('http://localhost:5000/v2/'), 'localhost:5000');
    assert.equal(registryOfServerAddress('[::1]:5000'), '[::1]:5000');
    const t = new Transport();
    assert.equal(t.endpoint('docker.io').host, 'registry-1.docker.io');
    assert.equal(t.endpoint('docker.io').insecure, false);
    assert.equal(t.endpoint('localhost:5000').insecure, true);
    assert.equal(t.endpoint('127.1.2.3:80').insecure, true);
    assert.equal(t.endpoint('[::1]:5000').insecure, true);
    assert.equal(t.endpoint('registry.example.com').insecure, false);
    const t2 = new Transport({ insecureRegistries: ['registry.example.com:5000', '10.0.0.0/8'] });
    assert.equal(t2.endpoint('registry.example.com:5000').insecure, true);
    assert.equal(t2.endpoint('10.1.2.3:5000').insecure, true);
    assert.equal(t2.endpoint('11.1.2.3:5000').insecure, false);
  });
});
