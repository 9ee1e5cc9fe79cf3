// Paths inside a build context (or a stage's root filesystem) followed through symlinks without
// ever leaving it, as Docker's FollowSymlinkInScope does: an absolute link target is taken
// relative to the root, and `..` stops at the root.

import { lstatSync, readlinkSync } from 'node:fs';
import { invalid } from '../../core/errors.ts';

const MAX_LINKS = 255;

/** Names in the order Go's filepath.Walk visits them: by bytes. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The absolute path `rel` names inside `root`, every symlink on the way (the last component
 * included) resolved within `root`. The result may not exist.
 */
export function resolveInScope(root: string, rel: string): string {
  const base = root.endsWith('/') && root !== '/' ? root.slice(0, -1) : root;
  let resolved: string[] = [];
  let pending = rel.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.' || part === '') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    const abs = `${base}/${candidate.join('/')}`;
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined || !st.isSymbolicLink()) {
      resolved = candidate;
      continue;
    }
    if (++links > MAX_LINKS) throw invalid(`too many links in ${rel}`);
    const target = readlinkSync(abs);
    if (target.startsWith('/')) resolved = [];
    pending = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
  }
  return resolved.length === 0 ? base : `${base}/${resolved.join('/')}`;
}
