// Helpers for the snapshot tests: tar archives built with tar-stream, temporary directories.

import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface TestEntry {
  readonly name: string;
  readonly type?: 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  readonly content?: string | Buffer;
  readonly linkname?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly pax?: Record<string, string>;
}

export const T0 = new Date('2020-01-02T03:04:05Z');

/** A tar archive of `entries`, in order, built by tar-stream (an independent writer). */
export async function buildTar(entries: readonly TestEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = buffer(pack);
  for (const e of entries) {
    const type = e.type ?? (e.content !== undefined ? 'file' : e.name.endsWith('/') ? 'directory' : 'file');
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? T0,
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      pax: e.pax,
    } as tar.Headers;
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, content ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return done;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  return buffer(stream);
}

/** A comparable listing of a tree: type, mode, owner, link count and content or link target of each path. */
export async function treeOf(dir: string, options: { mtimes?: boolean } = {}, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`;
    const st = await lstat(join(dir, p));
    let head = `${p} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (options.mtimes === true) head += ` @${Math.floor(st.mtimeMs / 1000)}`;
    if (st.isDirectory()) {
      out.push(`${head} dir`);
      out.push(...(await treeOf(dir, options, p)));
    } else if (st.isSymbolicLink()) out.push(`${head} -> ${await readlink(join(dir, p))}`);
    else if (st.isFile()) out.push(`${head} x${st.nlink} = ${await readFile(join(dir, p), 'utf8')}`);
    else out.push(`${head} special ${st.rdev}`);
  }
  return out;
}
