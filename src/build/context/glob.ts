// COPY/ADD source patterns, matched as Docker matches them: Go's filepath.Match per path (`*` and
// `?` never match `/`, `[a-z]`, `[^a-z]`, `\` escapes; `**` is just two stars, as in BuildKit and
// the classic builder alike), the pattern split at its first component with a wildcard and the
// part before it resolved in the context (BuildKit's fsutil ResolveWildcards).

import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanPath } from '../dockerfile/go-compat.ts';
import { byteOrder, resolveInScope } from './scope.ts';

export class BadPatternError extends Error {
  constructor() {
    super('syntax error in pattern');
  }
}

interface Chunk {
  readonly star: boolean;
  readonly chunk: string[];
  readonly rest: string[];
}

function scanChunk(pattern: string[]): Chunk {
  let p = pattern;
  let star = false;
  while (p.length > 0 && p[0] === '*') {
    p = p.slice(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case '\\':
        if (i + 1 < p.length) i++;
        break;
      case '[':
        inRange = true;
        break;
      case ']':
        inRange = false;
        break;
      case '*':
        if (!inRange) break scan;
        break;
    }
  }
  return { star, chunk: p.slice(0, i), rest: p.slice(i) };
}

function getEsc(chunk: string[]): [string, string[]] {
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw new BadPatternError();
  let c = chunk;
  if (c[0] === '\\') {
    c = c.slice(1);
    if (c.length === 0) throw new BadPatternError();
  }
  const r = c[0]!;
  const next = c.slice(1);
  if (next.length === 0) throw new BadPatternError();
  return [r, next];
}

/** Match one chunk at the start of s: the rest of s, or undefined. Throws on a bad pattern. */
function matchChunk(chunkIn: string[], sIn: string[]): string[] | undefined {
  let chunk = chunkIn;
  let s = sIn;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case '[': {
        let r = '';
        if (!failed) {
          r = s[0]!;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === '^') {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let nrange = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === ']' && nrange > 0) {
            chunk = chunk.slice(1);
            break;
          }
          let lo: string;
          [lo, chunk] = getEsc(chunk);
          let hi = lo;
          if (chunk[0] === '-') [hi, chunk] = getEsc(chunk.slice(1));
          const cp = r === '' ? -1 : r.codePointAt(0)!;
          if (lo.codePointAt(0)! <= cp && cp <= hi.codePointAt(0)!) match = true;
          nrange++;
        }
        if (match === negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] === '/') failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      case '\\':
        chunk = chunk.slice(1);
        if (chunk.length === 0) throw new BadPatternError();
      // falls through
      default:
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
    }
  }
  return failed ? undefined : s;
}

/** Go's path/filepath.Match on a Unix system. Throws BadPatternError for a malformed pattern. */
export function goMatch(patternText: string, nameText: string): boolean {
  let pattern = [...patternText];
  let name = [...nameText];
  outer: while (pattern.length > 0) {
    const { star, chunk, rest } = scanChunk(pattern);
    pattern = rest;
    if (star && chunk.length === 0) return !name.includes('/');
    let t: string[] | undefined;
    let err: unknown;
    try {
      t = matchChunk(chunk, name);
    } catch (e) {
      err = e;
    }
    if (t !== undefined && (t.length === 0 || pattern.length > 0)) {
      name = t;
      continue;
    }
    if (err !== undefined) throw err;
    if (star) {
      for (let i = 0; i < name.length && name[i] !== '/'; i++) {
        const u = matchChunk(chunk, name.slice(i + 1));
        if (u !== undefined) {
          if (pattern.length === 0 && u.length > 0) continue;
          name = u;
          continue outer;
        }
      }
    }
    while (pattern.length > 0) {
      const c = scanChunk(pattern);
      pattern = c.rest;
      matchChunk(c.chunk, []);
    }
    return false;
  }
  return name.length === 0;
}

/** Whether a path has `*`, `?` or `[` not escaped by `\`. */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** Split a path at its first component with a wildcard: the literal part and the pattern. */
export function splitWildcards(p: string): [string, string] {
  const parts = cleanPath(p).split('/');
  const before: string[] = [];
  const after: string[] = [];
  let found = false;
  for (const part of parts) {
    if (!found && containsWildcards(part)) found = true;
    (found ? after : before).push(part === '' ? '/' : part);
  }
  const join2 = (xs: string[]): string => (xs.length === 0 ? '' : cleanPath(xs.join('/')));
  return [join2(before), join2(after)];
}

export interface ResolvedSource {
  /** Path inside the root as matched (cleaned, relative, `.` for the root itself). */
  readonly path: string;
  /** Absolute path on disk, the source itself followed through symlinks within the root. */
  readonly abs: string;
}

/** Thrown for a missing non-wildcard source: Docker's "file not found in build context" case. */
export class SourceNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`file not found in build context or excluded by .dockerignore: stat ${path}: file does not exist`);
  }
}

function relOf(root: string, abs: string): string {
  if (abs === root) return '.';
  return abs.startsWith(`${root}/`) ? abs.slice(root.length + 1) : abs;
}

/**
 * The paths one COPY/ADD source names inside `root` (a build context or a stage's root
 * filesystem), in the order Docker copies them. A pattern that matches nothing gives none (the
 * caller reports "no source files were specified" when all give none); a literal path that does
 * not exist throws SourceNotFoundError. Throws BadPatternError for a malformed pattern.
 */
export function resolveSourcePattern(root: string, source: string): ResolvedSource[] {
  let src = source.startsWith('/') ? source : `/${source}`;
  src = cleanPath(src);
  const [literal, pattern] = splitWildcards(src);
  if (pattern === '') {
    const rel = literal === '/' ? '.' : literal.replace(/^\/+/, '');
    const abs = resolveInScope(root, rel);
    if (lstatSync(abs, { throwIfNoEntry: false }) === undefined) throw new SourceNotFoundError(source.replace(/^\.?\/+/, '') || '.');
    return [{ path: rel, abs }];
  }
  const base = resolveInScope(root, literal === '/' ? '.' : literal.replace(/^\/+/, ''));
  const baseSt = lstatSync(base, { throwIfNoEntry: false });
  if (baseSt === undefined || !baseSt.isDirectory()) {
    goMatch(pattern, ''); // still report a malformed pattern
    return [];
  }
  const depth = pattern.split('/').length;
  const prune = !pattern.includes('[');
  const out: ResolvedSource[] = [];
  const walk = (dir: string, rel: string, level: number): void => {
    const names = readdirSync(dir).sort(byteOrder);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const abs = join(dir, name);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (goMatch(pattern, childRel)) {
        out.push({ path: relOf(root, abs), abs: resolveInScope(root, relOf(root, abs)) });
        continue; // a matched directory is copied whole: not walked further
      }
      if (st.isDirectory() && (!prune || level + 1 < depth)) walk(abs, childRel, level + 1);
    }
  };
  walk(base, '', 0);
  return out;
}
