// Checking credentials against a registry (`docker login`): the server address as users type it
// (`localhost:5000`, `https://index.docker.io/v1/`) to a registry, then `GET /v2/` with the
// credentials — through the token server when the registry asks for Bearer tokens, asking for a
// refresh token that clients may keep instead of the password (the identity token).

import { invalid } from '../../core/errors.ts';
import { DEFAULT_DOMAIN } from '../../core/reference.ts';
import { RegistrySession, type RegistryAuth, type TokenCache } from './session.ts';
import type { Transport } from './transport.ts';

const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The registry domain a login server address means: `https://index.docker.io/v1/` -> docker.io. */
export function registryOfServerAddress(serverAddress: string): string {
  let s = serverAddress.trim();
  if (s === '') return DEFAULT_DOMAIN;
  s = s.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '');
  s = s.split('/')[0] ?? '';
  if (s === '') throw invalid(`invalid registry address ${JSON.stringify(serverAddress)}`);
  return HUB_ALIASES.has(s.toLowerCase()) ? DEFAULT_DOMAIN : s;
}

export interface LoginResult {
  /** A refresh token to store instead of the password, or ''. */
  readonly identityToken: string;
}

export async function checkLogin(
  transport: Transport,
  serverAddress: string,
  auth: RegistryAuth,
  o: { readonly signal?: AbortSignal; readonly tokens?: TokenCache } = {},
): Promise<LoginResult> {
  const endpoint = transport.endpoint(registryOfServerAddress(serverAddress));
  const session = new RegistrySession({ transport, endpoint, auth, scopes: [], offlineToken: true, ...(o.tokens ? { tokens: o.tokens } : {}) });
  await session.verify(o.signal, { login: true });
  return { identityToken: session.refreshToken ?? '' };
}
