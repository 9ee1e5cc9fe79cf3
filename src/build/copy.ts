// COPY and ADD into a mounted root filesystem, with Docker's rules: a directory source copies
// its contents; the destination is a directory when it ends in `/`, when there are several
// sources, or when it already is one; missing parents are created (owned by the --chown owner
// when there is one); owners are root's unless --chown (or COPY --from, which keeps them);
// --chmod sets the mode; ADD unpacks local tar archives (plain, gzip, bzip2, xz or zstd, known
// by content, not by name) and copies URLs the builder downloaded beforehand (download: mode
// 0600, Last-Modified as mtime). Every destination path is resolved inside the root, so a
// symlink in the image can never send a write outside it.
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, lchown, lstat, lutimes, mkdir, readdir, readlink, rm, symlink, chmod, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoOf, invalid } from '../core/errors.ts';
import { resolveUser } from '../runtime/spec/index.ts';
import { extractLayer } from '../snapshots/index.ts';
import { resolveInRoot } from '../util/root-path.ts';
import { decompressed, isArchiveFile } from './context/index.ts';
import type { CopyStep } from './dockerfile/index.ts';

interface Owner { uid: number; gid: number }

async function isDir(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Create the directory `path` in the root and its missing parents (0755). Directories created
 * here get `owner` when the copy has --chown, as the classic builder's MkdirAllAndChownNew does;
 * ones that exist are left alone.
 */
async function ensureDirIn(rootfs: string, path: string, owner?: Owner): Promise<string> {
  const parts = posix.normalize(`/${path}`).split('/').filter(Boolean);
  let cur = '/';
  for (const part of parts) {
    cur = posix.join(cur, part);
    const host = await resolveInRoot(rootfs, cur);
    try {
      const st = await lstat(host);
      if (st.isDirectory()) continue;
      throw invalid(`cannot copy to ${path}: ${cur} is not a directory`);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    await mkdir(host, { mode: 0o755 });
    await chmod(host, 0o755);
    if (owner) await lchown(host, owner.uid, owner.gid);
  }
  return resolveInRoot(rootfs, path);
}

/** A file ADD downloaded from a URL (before the step, so that its content can key the cache). */
export interface Downloaded {
  readonly url: string;
  /** Where it was saved on the host. */
  readonly file: string;
  /** Its name in the image: the URL path's last component (or Content-Disposition's filename). */
  readonly name: string;
  /** Last-Modified, when the server sent one: the file's mtime. */
  readonly mtime?: Date;
}

function filenameOf(url: string, disposition: string | null): string {
  let name = posix.basename(new URL(url).pathname);
  if ((name === '' || name === '/' || name === '.') && disposition) {
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    if (m?.[1]) name = posix.basename(decodeURIComponent(m[1]));
  }
  if (name === '' || name === '/' || name === '.') throw invalid(`cannot determine filename from url: ${url}`);
  return name;
}

/** Download `url` into the directory `dir` (created), as ADD does: mode 0600, Last-Modified as mtime. */
export async function download(url: string, dir: string, signal: AbortSignal): Promise<Downloaded> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (e) {
    signal.throwIfAborted();
    throw invalid(`failed to download ${url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw invalid(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  }
  const name = filenameOf(res.url || url, res.headers.get('content-disposition'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'download');
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(file, { mode: 0o600 }), { signal });
  await chmod(file, 0o600);
  const lm = res.headers.get('last-modified');
  const mtime = lm ? new Date(lm) : undefined;
  return { url, file, name, ...(mtime && !Number.isNaN(mtime.getTime()) ? { mtime } : {}) };
}

/** Copy one filesystem entry (recursively for directories) to `dest` (a path in the container). */
async function copyEntry(rootfs: string, src: string, dest: string, owner: Owner | undefined, mode: number | undefined, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const st = await lstat(src);
  const host = await resolveInRoot(rootfs, dest, { followFinal: false });
  const uid = owner?.uid ?? st.uid;
  const gid = owner?.gid ?? st.gid;
  if (st.isDirectory()) {
    let existing = false;
    try {
      const cur = await lstat(host);
      existing = cur.isDirectory();
      if (!existing) await rm(host, { recursive: true, force: true });
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    if (!existing) await mkdir(host, { mode: 0o755 });
    for (const name of (await readdir(src)).sort()) await copyEntry(rootfs, join(src, name), posix.join(dest, name), owner, mode, signal);
    await lchown(host, uid, gid);
    await chmod(host, mode ?? st.mode & 0o7777);
    await lutimes(host, st.atime, st.mtime);
    return;
  }
  try {
    const cur = await lstat(host);
    if (cur.isDirectory()) await rm(host, { recursive: true, force: true });
    else await rm(host, { force: true });
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), host);
  } else if (st.isFile()) {
    await copyFile(src, host);
    await chmod(host, mode ?? st.mode & 0o7777);
  } else {
    return; // devices, sockets and FIFOs are not copied from a build context
  }
  await lchown(host, uid, gid);
  await lutimes(host, st.atime, st.mtime);
}

export async function copyInto(o: { step: CopyStep; sources: readonly { path: string; abs: string }[]; downloads?: readonly Downloaded[]; rootfs: string; signal: AbortSignal }): Promise<void> {
  const c = o.step.copy;
  const owner: Owner | undefined = c.chown !== undefined ? await resolveUser(o.rootfs, c.chown).then((u) => ({ uid: u.uid, gid: u.gid })) : c.preserveOwnership ? undefined : { uid: 0, gid: 0 };
  // only --chown changes the owner of the directories the copy creates
  const dirOwner = c.chown !== undefined ? owner : undefined;
  const downloads = o.downloads ?? [];
  const count = o.sources.length + downloads.length + c.inline.length;
  const destPath = c.dest.replace(/\/+$/, '') || '/';
  const destHost = await resolveInRoot(o.rootfs, destPath);
  const destIsDir = c.destIsDir || count > 1 || (await isDir(destHost));
  if (count > 1 && !c.destIsDir) throw invalid(`When using ${c.keyword} with more than one source file, the destination must be a directory and end with a /`);
  if (destIsDir) await ensureDirIn(o.rootfs, destPath, dirOwner);
  else await ensureDirIn(o.rootfs, posix.dirname(destPath), dirOwner);
  const target = (name: string): string => (destIsDir ? posix.join(destPath, name) : destPath);

  for (const f of c.inline) {
    const host = await resolveInRoot(o.rootfs, target(f.name), { followFinal: false });
    await rm(host, { force: true });
    await writeFile(host, f.content, { mode: c.chmod ?? 0o644 });
    await chmod(host, c.chmod ?? 0o644);
    await lchown(host, owner?.uid ?? 0, owner?.gid ?? 0);
  }
  for (const src of o.sources) {
    const st = await lstat(src.abs);
    if (st.isDirectory()) {
      // a directory source copies its contents into the destination
      await ensureDirIn(o.rootfs, destPath, dirOwner);
      for (const name of (await readdir(src.abs)).sort()) await copyEntry(o.rootfs, join(src.abs, name), posix.join(destPath, name), owner, c.chmod, o.signal);
      continue;
    }
    if (c.keyword === 'ADD' && c.unpack && st.isFile() && (await isArchiveFile(src.abs))) {
      // a local archive is unpacked into the destination directory (as written, slash or not)
      const dir = await ensureDirIn(o.rootfs, destPath, dirOwner);
      await extractLayer(decompressed(createReadStream(src.abs)), dir, { signal: o.signal });
      continue;
    }
    await copyEntry(o.rootfs, src.abs, target(basename(src.path)), owner, c.chmod, o.signal);
  }
  for (const d of downloads) {
    const host = await resolveInRoot(o.rootfs, target(d.name), { followFinal: false });
    try {
      if ((await lstat(host)).isDirectory()) await rm(host, { recursive: true, force: true });
      else await rm(host, { force: true });
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    await copyFile(d.file, host);
    await chmod(host, c.chmod ?? 0o600);
    await lchown(host, owner?.uid ?? 0, owner?.gid ?? 0);
    if (d.mtime) await lutimes(host, d.mtime, d.mtime);
  }
}
