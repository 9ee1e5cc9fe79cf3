// Reading a file inside a container's root filesystem without leaving it: symlinks are resolved
// as if `root` were "/" (an absolute target restarts at root, ".." stops at root), like moby's
// symlink.FollowSymlinkInScope. The final open uses O_NOFOLLOW and accepts only a regular file
// (a FIFO or device planted as /etc/passwd must not hang or feed the engine). libuv adds O_CLOEXEC.

import { constants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf } from '../../core/errors.ts';

const MAX_LINKS = 255;

/** The host path that `path` names inside `root`, with every symlink resolved within `root`. */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  let resolved: string[] = [];
  let pending = path.split('/');
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    let isLink = false;
    try {
      isLink = (await lstat(join(root, ...candidate))).isSymbolicLink();
    } catch (e) {
      const code = errnoOf(e);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
    if (!isLink) {
      resolved = candidate;
      continue;
    }
    if (++links > MAX_LINKS) {
      throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
    }
    const target = await readlink(join(root, ...candidate));
    if (target.startsWith('/')) resolved = [];
    pending = [...target.split('/'), ...pending];
  }
  return join(root, ...resolved);
}

/**
 * Contents of the regular file at `path` inside `root`, or undefined when it is missing or is not
 * a regular file. At most `maxBytes` are read.
 */
export async function readFileInRoot(root: string, path: string, maxBytes = 16 << 20): Promise<string | undefined> {
  let hostPath: string;
  try {
    hostPath = await resolveInRoot(root, path);
  } catch {
    return undefined;
  }
  let fh;
  try {
    fh = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(st.size, maxBytes));
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await fh.close();
  }
}
