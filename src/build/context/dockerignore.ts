// .dockerignore with Docker's rules: the file read as moby/patternmatcher's ignorefile.ReadAll
// reads it (BOM, `#` comments, trimmed lines, `!` exceptions, cleaned patterns with a leading `/`
// dropped), patterns checked as patternmatcher.New checks them, and matched by
// @balena/dockerignore (a port of Docker's matcher: `*`, `?`, `[…]`, `**`, a pattern matching a
// parent directory excludes what is inside, the last matching pattern wins). Two differences of
// that port from today's Docker are corrected here: matching is case-sensitive (its default is
// not), and the regular-expression characters Docker escapes (`+ ( ) | { }`) are escaped.

import dockerignore, { type Ignore } from '@balena/dockerignore';
import { invalid } from '../../core/errors.ts';
import { cleanPath } from '../dockerfile/go-compat.ts';
import { BadPatternError, goMatch } from './glob.ts';

/** The patterns of a .dockerignore file, as Docker reads them. */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  lines.forEach((rawLine, i) => {
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (i === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
    if (line.startsWith('#')) return;
    let pattern = line.trim();
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  });
  return out;
}

/** Escape what Docker's matcher escapes but the port does not, leaving `\x` escapes alone. */
function escapeForPort(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      out += ch + (pattern[i + 1] ?? '');
      i++;
    } else if ('+()|{}'.includes(ch)) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  }
  return out;
}

export interface IgnorePattern {
  readonly pattern: string;
  readonly exclusion: boolean;
}

/** A compiled set of .dockerignore patterns. */
export class IgnoreMatcher {
  readonly patterns: readonly IgnorePattern[];
  /** Some pattern is an exception (`!…`): excluded directories must still be walked. */
  readonly hasExclusions: boolean;
  private readonly port: Ignore;

  /** Throws invalid-parameter for a malformed pattern, as Docker refuses it. */
  constructor(patterns: readonly string[]) {
    const list: IgnorePattern[] = [];
    for (const raw of patterns) {
      let p = raw.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw invalid('illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
      }
      try {
        goMatch(p, '.');
      } catch (e) {
        if (e instanceof BadPatternError) throw invalid(`error checking context: syntax error in pattern: ${raw}`);
        throw e;
      }
      list.push({ pattern: p, exclusion });
    }
    this.patterns = list;
    this.hasExclusions = list.some((p) => p.exclusion);
    // A CommonJS module: its default export is module.exports, whose `default` is the factory.
    this.port = dockerignore.default({ ignorecase: false }).add(list.map((p) => `${p.exclusion ? '!' : ''}${escapeForPort(p.pattern)}`));
  }

  /** Whether `relPath` (slash-separated, relative to the context) is excluded, by itself or a parent. */
  matches(relPath: string): boolean {
    const p = cleanPath(relPath);
    if (p === '.' || p === '' || this.patterns.length === 0) return false;
    return this.port.ignores(p);
  }

  /**
   * Whether an excluded directory must still be walked because an exception pattern may
   * re-include something below it (Docker's check: an exception that starts with `dir/`).
   */
  mayReinclude(relDir: string): boolean {
    if (!this.hasExclusions) return false;
    const prefix = `${relDir}/`;
    return this.patterns.some((p) => p.exclusion && `${p.pattern}/`.startsWith(prefix));
  }
}

/**
 * The docker CLI's TrimBuildFilesFromExcludes: the Dockerfile and .dockerignore are always sent
 * (the daemon removes them from the context after reading them if they are excluded).
 */
export function keepBuildFiles(patterns: readonly string[], dockerfile: string, dockerfileFromStdin: boolean): string[] {
  const out = [...patterns];
  if (new IgnoreMatcher(out).matches('.dockerignore')) out.push('!.dockerignore');
  if (!dockerfileFromStdin && new IgnoreMatcher(out).matches(dockerfile)) out.push(`!${dockerfile}`);
  return out;
}
