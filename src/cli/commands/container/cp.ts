// berth cp [-a] [-L] [-q] CONTAINER:SRC DEST|-  /  SRC|- CONTAINER:DEST
//
// The client half of `docker cp`, as the docker CLI 28 does it (cli/command/container/cp.go,
// go-archive copy.go): the daemon only stats paths, sends a tar of a path and extracts a tar
// into a directory; which directory, and which names the entries carry, is decided here from
// the stat of the destination (HEAD) and of the source.
//
// Extraction on this machine uses tar-stream and our own checks rather than `tar -x`: the
// archive comes from a container, so nothing in it may land outside the destination. Entry
// names that climb out ("../x") are refused, hardlinks must point inside, every parent directory
// is checked with lstat and a symlink on the way is refused (an archive that ships `a -> /etc`
// and then `a/passwd` gets the symlink, never a write through it), files are created
// O_EXCL|O_NOFOLLOW after removing what was there, and nothing is chowned (Docker's NoLchown:
// files belong to the user running the command). `tar -x` would need all of this re-checked on
// entry names it has not yet seen and follows symlinks already in the destination.

import { once } from 'node:events';
import { constants, type Stats } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, open, readdir, readlink, realpath, rm, stat, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getSystemErrorMap } from 'node:util';
import tar from 'tar-stream';
import { ApiError, type Client } from '../../../client/index.ts';
import { getClient, type GlobalOptions } from '../../context.ts';
import { ExitStatus } from '../../exit-codes.ts';
import { humanSizeWithPrecision } from '../../format/units.ts';

type Opts = Record<string, unknown>;

/** moby's container.PathStat, from X-Docker-Container-Path-Stat. */
interface PathStat {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: string;
  readonly linkTarget: string;
}

/** go-archive CopyInfo. */
interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName: string;
}

/** An error printed as it is (the docker CLI prints errors that are not the daemon's raw). */
class CpError extends Error {}

// Go os.FileMode bits
const hasBit = (mode: number, bit: number): boolean => Math.floor(mode / 2 ** bit) % 2 === 1;
const isDirMode = (mode: number): boolean => hasBit(mode, 31);
const isSymlinkMode = (mode: number): boolean => hasBit(mode, 27);
const isDeviceMode = (mode: number): boolean => hasBit(mode, 26);
const isIrregularMode = (mode: number): boolean => hasBit(mode, 19);

// ------------------------------------------------------------------ Go path semantics

/** Go's path.Clean. */
function cleanPath(p: string): string {
  if (p === '') return '.';
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = out.join('/');
  return abs ? `/${s}` : s === '' ? '.' : s;
}

/** Go's filepath.Base. */
function baseName(p: string): string {
  if (p === '') return '.';
  const t = p.replace(/\/+$/, '');
  if (t === '') return '/';
  return t.slice(t.lastIndexOf('/') + 1);
}

/** Go's filepath.Dir. */
function dirName(p: string): string {
  const i = p.lastIndexOf('/');
  return cleanPath(i < 0 ? '.' : p.slice(0, i + 1));
}

/** Go's filepath.Join. */
function joinPath(...parts: string[]): string {
  const s = parts.filter((x) => x !== '').join('/');
  return s === '' ? '' : cleanPath(s);
}

const hasTrailingSeparator = (p: string): boolean => p.endsWith('/');
const specifiesCurrentDir = (p: string): boolean => baseName(p) === '.';
const assertsDirectory = (p: string): boolean => hasTrailingSeparator(p) || specifiesCurrentDir(p);

function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  let p = cleaned;
  if (!specifiesCurrentDir(p) && specifiesCurrentDir(original)) {
    if (!hasTrailingSeparator(p)) p += '/';
    p += '.';
  }
  if (!hasTrailingSeparator(p) && hasTrailingSeparator(original)) p += '/';
  return p;
}

/** go-archive SplitPathDirEntry: [dir, base], a trailing "." kept as the base. */
function splitPathDirEntry(p: string): [string, string] {
  let cleaned = cleanPath(p);
  if (specifiesCurrentDir(p)) cleaned += '/.';
  return [dirName(cleaned), baseName(cleaned)];
}

/** go-archive GetRebaseName. */
function getRebaseName(p: string, resolved: string): [string, string] {
  let r = resolved;
  if (specifiesCurrentDir(p) && !specifiesCurrentDir(r)) r += '/.';
  if (hasTrailingSeparator(p) && !hasTrailingSeparator(r)) r += '/';
  return [r, baseName(p) !== baseName(r) ? baseName(p) : ''];
}

/** Go's strings.Replace(s, old, new, 1). */
function replaceFirst(s: string, old: string, nu: string): string {
  if (old === '') return nu + s;
  const i = s.indexOf(old);
  return i < 0 ? s : s.slice(0, i) + nu + s.slice(i + old.length);
}

type Rename = (name: string) => string;
const identity: Rename = (n) => n;

/** go-archive RebaseArchiveEntries, as a function on entry names (and hardlink targets). */
function rebase(oldBase: string, newBase: string): Rename {
  const from = oldBase === '/' ? '' : oldBase;
  return (name) => replaceFirst(name, from, newBase);
}

/** cp.go splitCpArg: "container:path", or a local path ("/x", "./a:b", "x"). */
function splitCpArg(arg: string): [string, string] {
  if (arg.startsWith('/')) return ['', arg];
  const i = arg.indexOf(':');
  if (i < 0 || arg.slice(0, i).startsWith('.')) return ['', arg];
  return [arg.slice(0, i), arg.slice(i + 1)];
}

function resolveLocalPath(p: string): string {
  return preserveTrailingDotOrSeparator(path.resolve(p), p);
}

/** A Node fs error the way Go prints one: "lstat /x: no such file or directory". */
function goError(e: unknown): unknown {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string' || typeof err.syscall !== 'string') return e;
  const n = (osConstants.errno as Record<string, number>)[err.code];
  const text = (n !== undefined ? getSystemErrorMap().get(-n)?.[1] : undefined) ?? err.code;
  return new CpError(err.path !== undefined ? `${err.syscall} ${err.path}: ${text}` : `${err.syscall}: ${text}`);
}

// --------------------------------------------------------------------------- the API

const enc = encodeURIComponent;

function decodeStat(header: string | string[] | undefined): PathStat {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || raw === '') throw new CpError('unable to decode container path stat header: missing header');
  try {
    return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as PathStat;
  } catch (e) {
    throw new CpError(`unable to decode container path stat header: ${(e as Error).message}`);
  }
}

async function statPath(client: Client, container: string, p: string): Promise<PathStat> {
  const res = await client.check(await client.request('HEAD', `/containers/${enc(container)}/archive`, { query: { path: p } }));
  res.resume();
  return decodeStat(res.headers['x-docker-container-path-stat']);
}

/** The stat, or undefined when HEAD fails for any reason (the CLI then carries on without it). */
async function tryStatPath(client: Client, container: string, p: string): Promise<PathStat | undefined> {
  try {
    return await statPath(client, container, p);
  } catch (e) {
    if (e instanceof ApiError || e instanceof CpError) return undefined;
    throw e;
  }
}

// ------------------------------------------------------------------------- progress

/** Counts the bytes passing through. */
class Counter extends Transform {
  total = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.total += chunk.length;
    cb(null, chunk);
  }
}

const ESC = '\x1b[';

/** cp.go copyProgress: a live byte count on a terminal's stderr; returns the function that stops it. */
function showProgress(header: string, counter: Counter): () => void {
  const err = process.stderr;
  if (!err.isTTY) return () => undefined;
  err.write(`${ESC}s`);
  err.write('Preparing to copy...');
  err.write(`${ESC}?25l${ESC}u${ESC}2K${header}${humanSizeWithPrecision(0, 3)}`);
  let last = 0;
  const timer = setInterval(() => {
    const n = counter.total;
    if (n === last) return;
    last = n;
    err.write(`${ESC}${header.length + 1}G${ESC}0K${humanSizeWithPrecision(n, 3)}`);
  }, 75);
  return () => {
    clearInterval(timer);
    err.write(`${ESC}?25h${ESC}u${ESC}2K`);
  };
}

// --------------------------------------------------------------------- the command

export default async function cp(opts: Opts, args: string[], g: GlobalOptions): Promise<void> {
  try {
    const [source = '', destination = ''] = args;
    if (source === '') throw new CpError('source can not be empty');
    if (destination === '') throw new CpError('destination can not be empty');
    const [srcContainer, srcPath] = splitCpArg(source);
    const [dstContainer, dstPath] = splitCpArg(destination);
    if (srcContainer !== '' && dstContainer !== '') throw new CpError('copying between containers is not supported');
    if (srcContainer === '' && dstContainer === '') throw new CpError('must specify at least one container source');
    const cfg = {
      followLink: opts.followLink === true,
      copyUIDGID: opts.archive === true,
      // like docker: no progress and no summary unless stdout is a terminal
      quiet: opts.quiet === true || process.stdout.isTTY !== true,
    };
    const client = await getClient(g);
    if (srcContainer !== '') await copyFromContainer(client, srcContainer, srcPath, dstPath, cfg);
    else await copyToContainer(client, dstContainer, srcPath, dstPath, cfg);
  } catch (e) {
    if (e instanceof ApiError) {
      process.stderr.write(`Error response from daemon: ${e.message}\n`);
      throw new ExitStatus(1);
    }
    const err = goError(e);
    if (err instanceof CpError) {
      process.stderr.write(`${err.message}\n`);
      throw new ExitStatus(1);
    }
    throw e;
  }
}

interface CopyConfig {
  readonly followLink: boolean;
  readonly copyUIDGID: boolean;
  readonly quiet: boolean;
}

// ------------------------------------------------------------ container -> this machine

async function copyFromContainer(client: Client, container: string, srcArg: string, dstArg: string, cfg: CopyConfig): Promise<void> {
  const dstPath = dstArg === '-' ? '-' : resolveLocalPath(dstArg);
  await validateOutputPath(dstPath);
  let srcPath = srcArg;
  let rebaseName = '';
  if (cfg.followLink) {
    const st = await tryStatPath(client, container, srcPath);
    if (st !== undefined && isSymlinkMode(st.mode)) {
      let target = st.linkTarget;
      if (!target.startsWith('/')) target = joinPath(splitPathDirEntry(srcPath)[0], target);
      [srcPath, rebaseName] = getRebaseName(srcPath, target);
    }
  }
  const res = await client.check(await client.request('GET', `/containers/${enc(container)}/archive`, { query: { path: srcPath } }));
  const stat = decodeStat(res.headers['x-docker-container-path-stat']);
  if (dstPath === '-') {
    await pipeline(res, process.stdout, { end: false });
    return;
  }
  const srcInfo: CopyInfo = { path: srcPath, exists: true, isDir: isDirMode(stat.mode), rebaseName };
  const counter = new Counter();
  const stop = cfg.quiet ? () => undefined : showProgress('Copying from container - ', counter);
  try {
    const first = rebaseName !== '' ? rebase(splitPathDirEntry(srcPath)[1], rebaseName) : identity;
    await copyTo(res.pipe(counter), srcInfo, dstPath, first);
  } finally {
    stop();
  }
  if (!cfg.quiet) process.stderr.write(`Successfully copied ${humanSizeWithPrecision(counter.total, 3)} to ${dstPath}\n`);
}

/** command.ValidateOutputPath. */
async function validateOutputPath(p: string): Promise<void> {
  const dir = dirName(cleanPath(p));
  if (dir !== '' && dir !== '.') {
    try {
      await stat(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CpError(`invalid output path: directory ${JSON.stringify(dir)} does not exist`);
    }
  }
  let st: Stats;
  try {
    st = await stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (st.isDirectory() || st.isFile()) return;
  const why = st.isBlockDevice() || st.isCharacterDevice() ? 'got a device' : 'got an irregular file';
  throw new CpError(`invalid output path: ${JSON.stringify(p)} must be a directory or a regular file: ${why}`);
}

/** go-archive CopyInfoDestinationPath: a local destination, symlinks followed (it is the user's own path). */
async function copyInfoDestinationPath(p: string): Promise<CopyInfo> {
  let cur = p;
  let st = await lstat(cur).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  for (let n = 0; st?.isSymbolicLink() === true; n++) {
    if (n > 10) throw new CpError(`too many symlinks in ${p}`);
    let target = await readlink(cur);
    if (!target.startsWith('/')) target = joinPath(splitPathDirEntry(cur)[0], target);
    cur = target;
    st = await lstat(cur).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  }
  if (st !== undefined) return { path: cur, exists: true, isDir: st.isDirectory(), rebaseName: '' };
  const parent = splitPathDirEntry(cur)[0];
  if (!(await stat(parent)).isDirectory()) throw new CpError('not a directory');
  return { path: cur, exists: false, isDir: false, rebaseName: '' };
}

/**
 * go-archive PrepareArchiveCopy: the directory to extract into and the renaming of entries
 * that makes the copy land under the destination's name.
 */
function prepareArchiveCopy(src: CopyInfo, dst: CopyInfo): { dir: string; rename: Rename } {
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  const srcBase = src.rebaseName !== '' ? src.rebaseName : splitPathDirEntry(src.path)[1];
  if (dst.exists && dst.isDir) return { dir: dst.path, rename: identity };
  if (dst.exists && src.isDir) throw new CpError('cannot copy directory');
  if (dst.exists || src.isDir) return { dir: dstDir, rename: rebase(srcBase, dstBase) };
  if (assertsDirectory(dst.path)) throw new CpError('no such directory');
  return { dir: dstDir, rename: rebase(srcBase, dstBase) };
}

/** go-archive CopyTo, with the safe local extraction below. */
async function copyTo(content: Readable, src: CopyInfo, dstPath: string, first: Rename): Promise<void> {
  const dst = await copyInfoDestinationPath(dstPath);
  const { dir, rename } = prepareArchiveCopy(src, dst);
  await extractLocal(content, dir, (n) => rename(first(n)));
}

interface LocalDir {
  readonly real: string;
}

/** Extract a tar from a container under `destDir`, never writing anywhere else (see the top of this file). */
async function extractLocal(content: Readable, destDir: string, rename: Rename): Promise<void> {
  const root: LocalDir = { real: await realpath(destDir) };
  const extract = tar.extract();
  const piping = pipeline(content, extract);
  const dirTimes: { abs: string; atime: Date; mtime: Date }[] = [];
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const rawName = rename(h.name);
      const name = cleanPath(rawName);
      if (name === '..' || name.startsWith('../')) throw new CpError(`${JSON.stringify(name)} is outside of ${JSON.stringify(destDir)}`);
      const comps = name.split('/').filter((c) => c !== '' && c !== '.');
      const base = comps.pop();
      const type = h.type ?? 'file';
      if (base === undefined) {
        entry.resume();
        if (type === 'directory') continue;
        throw new CpError(`cannot overwrite directory ${JSON.stringify(destDir)} with non-directory ${JSON.stringify(destDir)}`);
      }
      const parent = await ensureParents(root, comps, name);
      const abs = path.join(parent, base);
      const shown = path.join(destDir, ...comps, base);
      const mtime = h.mtime ?? new Date(0);
      const existing = await lstat(abs).catch(() => undefined);
      if (existing !== undefined) {
        const isDir = existing.isDirectory();
        if (isDir && type !== 'directory') throw new CpError(`cannot overwrite directory ${JSON.stringify(shown)} with non-directory ${JSON.stringify(destDir)}`);
        if (!isDir && type === 'directory') throw new CpError(`cannot overwrite non-directory ${JSON.stringify(shown)} with directory ${JSON.stringify(destDir)}`);
        if (!isDir) await rm(abs, { force: true });
      }
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (type) {
        case 'directory':
          entry.resume();
          if (existing === undefined) await mkdir(abs, { mode: 0o700 });
          await chmod(abs, mode);
          dirTimes.push({ abs, atime: mtime, mtime });
          break;
        case 'file':
        case 'contiguous-file': {
          const fh: FileHandle = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>) {
              let off = 0;
              while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
            }
            await fh.chmod(mode);
            await fh.utimes(mtime, mtime);
          } finally {
            await fh.close();
          }
          break;
        }
        case 'symlink': {
          entry.resume();
          const linkname = h.linkname ?? '';
          // go-archive createTarFile: a symlink's target, taken from where the link is, must stay under the destination
          const target = joinPath(dirName(path.join(destDir, name)), linkname);
          if (!target.startsWith(cleanPath(destDir))) throw new CpError(`invalid symlink ${JSON.stringify(shown)} -> ${JSON.stringify(linkname)}`);
          await symlink(linkname, abs);
          await lutimes(abs, mtime, mtime);
          break;
        }
        case 'link': {
          entry.resume();
          const linkname = rename(h.linkname ?? '');
          const target = joinPath(destDir, linkname);
          const rel = path.relative(cleanPath(destDir), target);
          if (!target.startsWith(cleanPath(destDir)) || rel === '..' || rel.startsWith('../')) {
            throw new CpError(`invalid hardlink ${JSON.stringify(target)} -> ${JSON.stringify(linkname)}`);
          }
          const tcomps = rel.split('/').filter((c) => c !== '');
          const tbase = tcomps.pop();
          if (tbase === undefined) throw new CpError(`invalid hardlink ${JSON.stringify(target)} -> ${JSON.stringify(linkname)}`);
          const tparent = await ensureParents(root, tcomps, linkname, false);
          await link(path.join(tparent, tbase), abs); // link(2) does not follow a symlink
          break;
        }
        default:
          // device nodes and fifos need root and mknod(2): skipped, as tar does for a non-root user
          entry.resume();
      }
    }
    await piping;
  } catch (e) {
    extract.destroy();
    content.destroy();
    await piping.catch(() => undefined);
    throw e;
  }
  for (const d of dirTimes.reverse()) await utimes(d.abs, d.atime, d.mtime).catch(() => undefined);
}

/**
 * The real directory `comps` names under the destination, made (0755) where missing. Every
 * component is checked with lstat: a symlink or a non-directory on the way is an error.
 */
async function ensureParents(root: LocalDir, comps: readonly string[], entryName: string, create = true): Promise<string> {
  let cur = root.real;
  for (const c of comps) {
    const next = path.join(cur, c);
    const st = await lstat(next).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (st === undefined) {
      if (!create) throw new CpError(`invalid hardlink: ${JSON.stringify(entryName)} is not in the archive`);
      await mkdir(next, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      throw new CpError(`refusing to extract ${JSON.stringify(entryName)}: ${JSON.stringify(next)} is a symbolic link`);
    } else if (!st.isDirectory()) {
      throw new CpError(`cannot extract ${JSON.stringify(entryName)}: ${JSON.stringify(next)} is not a directory`);
    }
    cur = next;
  }
  return cur;
}

// ------------------------------------------------------------ this machine -> container

async function copyToContainer(client: Client, container: string, srcArg: string, dstPath: string, cfg: CopyConfig): Promise<void> {
  const srcPath = srcArg === '-' ? '-' : resolveLocalPath(srcArg);
  // Stat the destination: whether it exists and is a directory decides where the archive goes.
  const dst: CopyInfo = { path: dstPath, exists: false, isDir: false, rebaseName: '' };
  let st = await tryStatPath(client, container, dstPath);
  if (st !== undefined && isSymlinkMode(st.mode)) {
    let target = st.linkTarget;
    if (!target.startsWith('/')) target = joinPath(splitPathDirEntry(dstPath)[0], target);
    dst.path = target;
    st = await tryStatPath(client, container, target);
  }
  if (st !== undefined) {
    const why = isDeviceMode(st.mode) ? 'got a device' : isIrregularMode(st.mode) ? 'got an irregular file' : '';
    if (why !== '') throw new CpError(`destination "${container}:${dstPath}" must be a directory or a regular file: ${why}`);
    dst.exists = true;
    dst.isDir = isDirMode(st.mode);
  }

  let body: Readable;
  let dir: string;
  const counter = new Counter();
  if (srcPath === '-') {
    if (!dst.isDir) throw new CpError(`destination "${container}:${dstPath}" must be a directory`);
    dir = dst.path;
    // like docker, the bytes of a tar from stdin are not counted
    body = process.stdin.pipe(new PassThrough());
  } else {
    const src = await copyInfoSourcePath(srcPath, cfg.followLink);
    const prepared = prepareArchiveCopy(src, dst);
    dir = prepared.dir;
    body = tarResource(src, prepared.rename).pipe(counter);
  }

  const stop = cfg.quiet ? () => undefined : showProgress('Copying to container - ', counter);
  const aborted = new AbortController();
  let bodyError: unknown;
  body.once('error', (e) => {
    bodyError = e;
    aborted.abort();
  });
  try {
    const res = await client
      .request('PUT', `/containers/${enc(container)}/archive`, {
        query: { path: dir, noOverwriteDirNonDir: 'true', ...(cfg.copyUIDGID ? { copyUIDGID: 'true' } : {}) },
        rawBody: body,
        headers: { 'Content-Type': 'application/x-tar' },
        signal: aborted.signal,
      })
      .catch((e: unknown) => Promise.reject(bodyError ?? e));
    await client.check(res);
    res.resume();
  } finally {
    stop();
  }
  if (!cfg.quiet) process.stderr.write(`Successfully copied ${humanSizeWithPrecision(counter.total, 3)} to ${container}:${dst.path}\n`);
}

/** go-archive CopyInfoSourcePath / ResolveHostSourcePath. */
async function copyInfoSourcePath(p: string, followLink: boolean): Promise<CopyInfo> {
  let resolved: string;
  let rebaseName = '';
  if (followLink) {
    [resolved, rebaseName] = getRebaseName(p, await realpath(p));
  } else {
    const slash = p.lastIndexOf('/');
    const dir = p.slice(0, slash + 1);
    const base = p.slice(slash + 1);
    const realDir = await realpath(dir === '' ? '.' : dir);
    resolved = `${realDir === '/' ? '' : realDir}/${base}`;
    if (hasTrailingSeparator(p) && baseName(p) !== baseName(resolved)) rebaseName = baseName(p);
  }
  const st = await lstat(resolved);
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName };
}

interface LocalEntry {
  readonly abs: string;
  readonly name: string;
  readonly st: Stats;
}

/** go-archive Tarballer.Do's walk: the source and, for a directory, everything under it, in name order. */
async function* walkSource(abs: string, name: string): AsyncGenerator<LocalEntry> {
  let st: Stats;
  try {
    st = await lstat(abs);
  } catch {
    return; // vanished: skipped, as Docker logs and skips
  }
  yield { abs, name, st };
  if (!st.isDirectory()) return;
  const children = (await readdir(abs).catch(() => [] as string[])).sort();
  const prefix = name === '.' ? './' : name.endsWith('/') ? name : `${name}/`;
  for (const c of children) yield* walkSource(path.join(abs, c), `${prefix}${c}`);
}

/**
 * go-archive TarResourceRebase + PrepareArchiveCopy's rebasing: a tar of the source whose
 * entry names already carry the names the destination wants.
 */
function tarResource(src: CopyInfo, rename: Rename): Readable {
  const [sourceDir, sourceBase] = splitPathDirEntry(src.path);
  const first: Rename = src.rebaseName !== '' ? rebase(sourceBase, src.rebaseName === '/' ? '' : src.rebaseName) : identity;
  const nameOf = (n: string): string => rename(first(n));
  const pack = tar.pack();
  const produce = async (): Promise<void> => {
    const links = new Map<string, string>();
    const walkRoot = `${sourceDir.replace(/\/$/, '')}/${sourceBase}`;
    for await (const e of walkSource(walkRoot, sourceBase)) {
      const st = e.st;
      const name = nameOf(e.name);
      const header: tar.Headers = {
        name: st.isDirectory() && !name.endsWith('/') ? `${name}/` : name,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
        size: 0,
      };
      if (st.isSocket()) continue;
      if (!st.isDirectory() && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const firstName = links.get(key);
        if (firstName !== undefined) {
          await addEntry(pack, { ...header, type: 'link', linkname: firstName });
          continue;
        }
        links.set(key, name);
      }
      if (st.isDirectory()) await addEntry(pack, { ...header, type: 'directory' });
      else if (st.isSymbolicLink()) await addEntry(pack, { ...header, type: 'symlink', linkname: await readlink(e.abs) });
      else if (st.isFIFO()) await addEntry(pack, { ...header, type: 'fifo' });
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const d = BigInt(st.rdev);
        const devmajor = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
        const devminor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
        await addEntry(pack, { ...header, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor, devminor });
      } else if (st.isFile()) await addFile(pack, { ...header, type: 'file', size: st.size }, e.abs);
    }
    pack.finalize();
  };
  produce().catch((e: unknown) => pack.destroy(goError(e) as Error));
  return pack;
}

function addEntry(pack: tar.Pack, header: tar.Headers): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}

/** A file's bytes, exactly as many as its header says (cut or zero-padded if it changed meanwhile). */
async function addFile(pack: tar.Pack, header: tar.Headers, abs: string): Promise<void> {
  const size = header.size ?? 0;
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let err: Error | null | undefined;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const sink = pack.entry(header, (e) => {
      err = e;
      finished();
    });
    let off = 0;
    while (off < size) {
      const want = Math.min(256 * 1024, size - off);
      const buf = Buffer.alloc(want);
      const { bytesRead } = await fh.read(buf, 0, want, off);
      const chunk = bytesRead === 0 ? Buffer.alloc(size - off) : buf.subarray(0, bytesRead);
      off += chunk.length;
      if (!sink.write(chunk)) await once(sink, 'drain');
    }
    sink.end();
    await done;
    if (err) throw err;
  } finally {
    await fh.close();
  }
}
