// Repository names, tags and digests as the distribution spec allows them. Every path the
// server builds on disk comes from a value parsed here, so no `..`, no leading `/` and no
// stray character can reach the filesystem.

import { isDigest, type Digest } from '../../core/digest.ts';
import { registryError } from './errors.ts';

declare const nameBrand: unique symbol;
/** A repository name matching the spec's `<name>` grammar. */
export type RepositoryName = string & { readonly [nameBrand]: true };

declare const tagBrand: unique symbol;
export type Tag = string & { readonly [tagBrand]: true };

export type Reference = { readonly tag: Tag } | { readonly digest: Digest };

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Any digest the OCI grammar allows (`algorithm:encoded`), whether or not we support it. */
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** Clients limit host + `/` + name to 255 characters; keep names well inside that. */
const NAME_MAX = 255;

export function parseRepositoryName(s: string): RepositoryName {
  if (s.length > NAME_MAX || !NAME_RE.test(s)) {
    throw registryError('name-invalid', `invalid repository name: ${JSON.stringify(s)}`, { name: s });
  }
  return s as RepositoryName;
}

export function isTag(s: string): s is Tag {
  return TAG_RE.test(s);
}

export function parseTag(s: string): Tag {
  if (!isTag(s)) throw registryError('tag-invalid', `invalid tag: ${JSON.stringify(s)}`, { tag: s });
  return s;
}

/** sha256 digests only: another well-formed algorithm is unsupported, anything else invalid. */
export function parseRegistryDigest(s: string): Digest {
  if (isDigest(s)) return s;
  if (ANY_DIGEST_RE.test(s) && !s.startsWith('sha256:')) {
    throw registryError('digest-unsupported', `unsupported digest algorithm: ${JSON.stringify(s)}`, { digest: s });
  }
  throw registryError('digest-invalid', `invalid digest: ${JSON.stringify(s)}`, { digest: s });
}

/** A manifest reference: a tag, or (when it contains `:`) a digest. */
export function parseReference(s: string): Reference {
  if (s.includes(':')) return { digest: parseRegistryDigest(s) };
  return { tag: parseTag(s) };
}
