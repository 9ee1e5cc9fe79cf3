// Image references as Docker normalises them: `busybox` = docker.io/library/busybox:latest,
// `localhost:5000/team/app:1.0`, `name@sha256:<hex>`. Grammar: distribution/reference.
import { invalid } from './errors.ts';
import { type Digest, isDigest } from './digest.ts';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DOMAIN = 'index.docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** registry host[:port], e.g. docker.io, localhost:5000 */
  readonly domain: string;
  /** repository path, e.g. library/busybox */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;

function badRef(s: string): Error {
  return invalid(`invalid reference format: repository name (${s}) must be lowercase`);
}

/** Parse and normalise a reference as the docker CLI does (ParseNormalizedNamed). */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === '' ) throw invalid('invalid reference format');
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw invalid('invalid reference format');
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  const lastSlash = rest.lastIndexOf('/');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid('invalid reference format');
  }
  if (rest === '') throw invalid('invalid reference format');
  let domain: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN.test(domain)) throw invalid('invalid reference format');
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (path.toLowerCase() !== path) throw badRef(s);
  const parts = path.split('/');
  if (parts.some((p) => !PATH_COMPONENT.test(p))) throw invalid('invalid reference format');
  if (domain.length + 1 + path.length > 255) throw invalid('invalid reference format: repository name must not be more than 255 characters');
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Like parseReference but does not add the default tag. */
export function parseRepository(input: string): { domain: string; path: string } {
  const r = parseReference(input.includes('@') || /:[^/]*$/.test(input) ? input : `${input}:${DEFAULT_TAG}`);
  return { domain: r.domain, path: r.path };
}

export function isFullName(s: string): boolean {
  try {
    parseReference(s);
    return true;
  } catch {
    return false;
  }
}

/** Fully qualified name without tag: docker.io/library/busybox */
export function repositoryName(r: Pick<Reference, 'domain' | 'path'>): string {
  return `${r.domain}/${r.path}`;
}

/** Familiar repository name: busybox, user/app, localhost:5000/app */
export function familiarName(r: Pick<Reference, 'domain' | 'path'>): string {
  if (r.domain !== DEFAULT_DOMAIN) return `${r.domain}/${r.path}`;
  return r.path.startsWith('library/') && r.path.split('/').length === 2 ? r.path.slice('library/'.length) : r.path;
}

/** Familiar string: busybox:latest, localhost:5000/app@sha256:… */
export function familiarString(r: Reference): string {
  let s = familiarName(r);
  if (r.tag !== undefined) s += `:${r.tag}`;
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}

export function canonicalString(r: Reference): string {
  let s = repositoryName(r);
  if (r.tag !== undefined) s += `:${r.tag}`;
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}
