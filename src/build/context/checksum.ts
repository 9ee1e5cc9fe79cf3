// The checksum of what a COPY/ADD takes from a context or a stage's root: the sources resolved
// with Docker's rules (see glob.ts), then a SHA-256 over, for each source and everything below
// it: the relative path, the type, the permission bits, the owner (the --chown owner when the
// copy sets one), a symlink's target, a device's numbers and a file's content. Times are left
// out, so touching a file does not invalidate the cache, and the same tree always gives the same
// sum. Docker's label shape is kept for history texts: `file:<hex>` for one file, `dir:<hex>` for
// one directory, `multi:<hex>` for several sources.

import { createHash, type Hash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest, type Digest } from '../../core/digest.ts';
import { invalid } from '../../core/errors.ts';
import { BadPatternError, resolveSourcePattern, SourceNotFoundError, type ResolvedSource } from './glob.ts';
import { byteOrder } from './scope.ts';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface SourceChecksum {
  /** The source path as resolved (relative to the root). */
  readonly path: string;
  /** `file:<hex>` or `dir:<hex>` (a symlink or device counts as a file). */
  readonly label: string;
}

export interface ChecksumResult {
  /** One digest over all the sources, in order. */
  readonly digest: Digest;
  /** Docker's history label: the single source's, or `multi:<hex>` over all of them. */
  readonly label: string;
  readonly sources: readonly SourceChecksum[];
}

/**
 * The paths COPY/ADD sources name inside `root`, in order. Throws invalid-parameter with
 * Docker's messages: a literal path that does not exist ("file not found in build context or
 * excluded by .dockerignore: …"), a malformed pattern, or nothing at all matched ("no source
 * files were specified").
 */
export function resolveCopySources(root: string, patterns: readonly string[]): ResolvedSource[] {
  const out: ResolvedSource[] = [];
  for (const p of patterns) {
    try {
      out.push(...resolveSourcePattern(root, p));
    } catch (e) {
      if (e instanceof SourceNotFoundError) throw invalid(e.message, 'build-source-not-found');
      if (e instanceof BadPatternError) throw invalid(`${e.message}: ${p}`);
      throw e;
    }
  }
  if (out.length === 0) throw invalid('no source files were specified', 'build-no-sources');
  return out;
}

function typeOf(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

async function hashFile(abs: string, into: Hash): Promise<void> {
  const fh = await open(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      into.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

/** Hash one entry's metadata (and a file's content) into `h`. */
async function hashEntry(h: Hash, rel: string, abs: string, st: Stats, owner: Owner | undefined): Promise<void> {
  const uid = owner?.uid ?? st.uid;
  const gid = owner?.gid ?? st.gid;
  const fields: (string | number)[] = [rel, typeOf(st), (st.mode & 0o7777).toString(8), uid, gid];
  if (st.isSymbolicLink()) fields.push(readlinkSync(abs));
  if (st.isCharacterDevice() || st.isBlockDevice()) fields.push(st.rdev);
  if (st.isFile()) fields.push(st.size);
  h.update(`${JSON.stringify(fields)}\n`);
  if (st.isFile()) await hashFile(abs, h);
}

async function hashTree(h: Hash, dir: string, rel: string, owner: Owner | undefined, signal: AbortSignal | undefined): Promise<void> {
  for (const name of readdirSync(dir).sort(byteOrder)) {
    signal?.throwIfAborted();
    const abs = join(dir, name);
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(abs);
    await hashEntry(h, childRel, abs, st, owner);
    if (st.isDirectory()) await hashTree(h, abs, childRel, owner, signal);
  }
}

/**
 * Checksum resolved sources. `owner` is the owner the copy gives the files (--chown, or root for
 * a copy from the context); leave it out when the copy keeps the files' own owners.
 */
export async function checksumSources(sources: readonly ResolvedSource[], options: { owner?: Owner; signal?: AbortSignal } = {}): Promise<ChecksumResult> {
  const all = createHash('sha256');
  const out: SourceChecksum[] = [];
  for (const src of sources) {
    const st = lstatSync(src.abs);
    const h = createHash('sha256');
    await hashEntry(h, '.', src.abs, st, options.owner);
    if (st.isDirectory()) await hashTree(h, src.abs, '', options.owner, options.signal);
    const hex = h.digest('hex');
    const label = `${st.isDirectory() ? 'dir' : 'file'}:${hex}`;
    out.push({ path: src.path, label });
    all.update(`${JSON.stringify([src.path, label])}\n`);
  }
  const first = out[0];
  const label =
    out.length === 1 && first !== undefined ? first.label : `multi:${sha256Digest(out.map((s) => s.label).join(',')).slice('sha256:'.length)}`;
  return { digest: `sha256:${all.digest('hex')}` as Digest, label, sources: out };
}
