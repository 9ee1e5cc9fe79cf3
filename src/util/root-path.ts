// Resolve a path inside a container's root filesystem the way the container would see it:
// symlinks are followed relative to the root and can never lead outside it (like
// cyphar/filepath-securejoin). Returns the host path; the final component may not exist.
import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { errnoOf } from '../core/errors.ts';

const MAX_LINKS = 255;

export async function resolveInRoot(root: string, unsafePath: string, opts: { followFinal?: boolean } = {}): Promise<string> {
  const followFinal = opts.followFinal ?? true;
  let pending = posix.normalize('/' + unsafePath).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    if (pending.length === 0 && !followFinal) {
      done.push(part);
      break;
    }
    let isLink = false;
    try {
      isLink = (await lstat(host)).isSymbolicLink();
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT' && errnoOf(e) !== 'ENOTDIR') throw e;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw Object.assign(new Error(`too many levels of symbolic links: ${unsafePath}`), { code: 'ELOOP' });
    const target = await readlink(host);
    const tparts = target.split('/').filter(Boolean);
    if (target.startsWith('/')) done.length = 0;
    pending = [...tparts, ...pending];
  }
  return join(root, ...done);
}
