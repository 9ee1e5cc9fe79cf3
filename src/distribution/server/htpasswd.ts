// Basic authentication against an htpasswd file of bcrypt entries (`htpasswd -B`: `$2y$`,
// also `$2b$`/`$2a$`), as Docker's registry does. Lifecycle: loaded at start; re-read when
// its size, mtime, ctime or inode change, so users can be added without a restart. Other hash
// formats (apr1 MD5, {SHA}, crypt) are reported by `unsupportedUsers` and never match.
//
// bcrypt is slow by design and clients send credentials with every request, so a successful
// check is remembered (keyed by an HMAC of user, entry and password with a per-process key)
// until the entry changes; failures are never remembered.

import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

const BCRYPT_RE = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const CACHE_MAX = 1024;
/** Compared against when the user is unknown, so timing does not tell users apart. */
const DUMMY_HASH = '$2y$05$gEva2s4qjL76Tr8idJNhCera42/RJwrymeb52HOr9yT3QkyGcS5l.';

export interface HtpasswdFile {
  /** bcrypt hash by user. */
  readonly users: ReadonlyMap<string, string>;
  /** Users whose entry is not bcrypt. */
  readonly unsupported: readonly string[];
}

export function parseHtpasswd(text: string): HtpasswdFile {
  const users = new Map<string, string>();
  const unsupported: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const user = line.slice(0, i);
    const hash = line.slice(i + 1);
    if (BCRYPT_RE.test(hash)) users.set(user, hash);
    else unsupported.push(user);
  }
  return { users, unsupported };
}

/** user and password of an `Authorization: Basic …` header, undefined when there is none. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export class Htpasswd {
  private file: HtpasswdFile = { users: new Map(), unsupported: [] };
  private version = '';
  private readonly key = randomBytes(32);
  private readonly verified = new Set<string>();

  private constructor(readonly path: string) {}

  static async load(path: string): Promise<Htpasswd> {
    const h = new Htpasswd(path);
    await h.refresh();
    return h;
  }

  get unsupportedUsers(): readonly string[] {
    return this.file.unsupported;
  }

  get userCount(): number {
    return this.file.users.size;
  }

  /** Re-read the file when it changed since the last read. */
  private async refresh(): Promise<void> {
    const st = await stat(this.path);
    const version = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    if (version === this.version) return;
    this.file = parseHtpasswd(await readFile(this.path, 'utf8'));
    this.version = version;
    this.verified.clear();
  }

  /** The user when the `Authorization` header holds valid credentials, else undefined. */
  async authenticate(header: string | undefined): Promise<string | undefined> {
    const creds = parseBasicAuth(header);
    if (creds === undefined) return undefined;
    await this.refresh();
    const hash = this.file.users.get(creds.user);
    if (hash === undefined) {
      await bcrypt.compare(creds.password, DUMMY_HASH);
      return undefined;
    }
    const token = createHmac('sha256', this.key).update(`${creds.user}\0${hash}\0${creds.password}`).digest('base64');
    if (this.verified.has(token)) return creds.user;
    if (!(await bcrypt.compare(creds.password, hash))) return undefined;
    if (this.verified.size >= CACHE_MAX) this.verified.clear();
    this.verified.add(token);
    return creds.user;
  }
}
