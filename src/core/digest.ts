import { createHash } from 'node:crypto';
import { invalid } from './errors.ts';

declare const digestBrand: unique symbol;
/** `sha256:<64 hex>` — made only by parseDigest / sha256Digest. */
export type Digest = string & { readonly [digestBrand]: true };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function parseDigest(s: string): Digest {
  if (!DIGEST_RE.test(s)) throw invalid(`invalid digest: ${JSON.stringify(s)}`);
  return s as Digest;
}

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}
