// Paths inside a layer being extracted. Names are cleaned the way Docker does (Go's
// filepath.Clean, then joined under the root): `/abs/x` lands at `abs/x`, `a/../b` at `b`, and
// a relative name that climbs above the root (`../x`) is refused. Parents are resolved one
// component at a time with lstat, so a symlink already in the tree is never followed.

import { lstatSync, mkdirSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { invalid } from '../core/errors.ts';

export function escapes(what: string): Error {
  return invalid(`invalid layer: ${what} escapes the layer root`, 'invalid-layer');
}

/** Components of a cleaned entry name (`[]` for the root); throws if the name escapes. */
export function cleanEntryPath(name: string, what = 'path'): string[] {
  const absolute = name.startsWith('/');
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0) out.pop();
      else if (!absolute) throw escapes(`${what} ${JSON.stringify(name)}`);
      continue;
    }
    if (part.includes('\0')) throw invalid(`invalid layer: ${what} ${JSON.stringify(name)} contains NUL`, 'invalid-layer');
    out.push(part);
  }
  return out;
}

/** A character device 0:0: overlayfs's whiteout. */
export function isWhiteoutDevice(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export interface DirHooks {
  /** Called when a whiteout device in the way of a parent is replaced by a directory. */
  replacedWhiteout(absPath: string): void;
}

/**
 * Tracks the directories of one extraction that are known to be real directories (not
 * symlinks), so each parent is lstat-ed once. Sound because this extraction is the only writer
 * of its tree; `forget` must be called whenever a path is removed.
 */
export class SafeTree {
  private readonly dirs = new Set<string>();
  constructor(readonly root: string) {}

  abs(components: readonly string[]): string {
    return components.length === 0 ? this.root : join(this.root, ...components);
  }

  /**
   * Make sure every component of `dir` is a real directory inside the root, creating missing
   * ones (mode 0755, as Docker). Refuses a symlink or a non-directory on the way.
   */
  ensureDir(dir: readonly string[], entryName: string, hooks: DirHooks): void {
    let rel = '';
    for (const part of dir) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (this.dirs.has(rel)) continue;
      const abs = join(this.root, rel);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined) {
        mkdirSync(abs, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw escapes(`path ${JSON.stringify(entryName)} (through the symlink ${JSON.stringify(rel)})`);
      } else if (isWhiteoutDevice(st)) {
        rmSync(abs);
        mkdirSync(abs, { mode: 0o755 });
        hooks.replacedWhiteout(abs);
      } else if (!st.isDirectory()) {
        throw invalid(`invalid layer: parent ${JSON.stringify(rel)} of ${JSON.stringify(entryName)} is not a directory`, 'invalid-layer');
      }
      this.dirs.add(rel);
    }
  }

  /** Like ensureDir but creates nothing: every component must already be a real directory. */
  checkDir(dir: readonly string[], entryName: string): boolean {
    let rel = '';
    for (const part of dir) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (this.dirs.has(rel)) continue;
      const st = lstatSync(join(this.root, rel), { throwIfNoEntry: false });
      if (st === undefined) return false;
      if (st.isSymbolicLink()) throw escapes(`link target ${JSON.stringify(entryName)} (through the symlink ${JSON.stringify(rel)})`);
      if (!st.isDirectory()) return false;
      this.dirs.add(rel);
    }
    return true;
  }

  addDir(components: readonly string[]): void {
    if (components.length > 0) this.dirs.add(components.join('/'));
  }

  /** Forget `components` and everything under it (after removing it). */
  forget(components: readonly string[]): void {
    const rel = components.join('/');
    if (!this.dirs.delete(rel)) return;
    const prefix = `${rel}/`;
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
  }
}
