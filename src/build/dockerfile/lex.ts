// Variable substitution and word splitting as Docker does it in Dockerfiles (a port of BuildKit's
// frontend/dockerfile/shell/lex.go): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
// `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`,
// `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}`; single quotes keep
// everything, double quotes keep everything but `$` and escapes; the escape token (`\` or the
// Dockerfile's `# escape=` choice) escapes the next character. Quotes are removed from the
// result, as Docker removes them.

import { isGoSpace } from './go-compat.ts';

/** Looks a variable up: its value, or undefined when it is not set. */
export type EnvLookup = (name: string) => string | undefined;

export interface LexOptions {
  readonly escapeToken?: string;
  /** Keep quote characters in the result. */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  readonly skipProcessQuotes?: boolean;
  /** Leave references to unset variables as they are written. */
  readonly skipUnsetEnv?: boolean;
}

export interface LexResult {
  readonly result: string;
  readonly words: string[];
  /** Names looked up and found / not found. */
  readonly matched: ReadonlySet<string>;
  readonly unmatched: ReadonlySet<string>;
}

const EOF = '';

class LexError extends Error {}

class Words {
  words: string[] = [];
  buf = '';
  inWord = false;
  addChar(ch: string): void {
    if (isGoSpace(ch) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else if (!isGoSpace(ch)) {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

function isSpecialParam(ch: string): boolean {
  return '@*#?-$!0'.includes(ch) && ch !== '';
}
const isLetter = (ch: string): boolean => /^\p{L}$/u.test(ch);
const isDigit = (ch: string): boolean => /^\p{Nd}$/u.test(ch);

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: EnvLookup,
    private readonly escapeToken: string,
    private readonly opts: LexOptions,
  ) {
    this.chars = [...word];
    this.rawEscapes = opts.rawEscapes === true;
  }

  private peek(): string {
    return this.chars[this.pos] ?? EOF;
  }
  private next(): string {
    const ch = this.chars[this.pos] ?? EOF;
    if (ch !== EOF) this.pos++;
    return ch;
  }

  process(): [string, string[]] {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  processStopOn(stopChar: string, rawEscapes: boolean): [string, string[]] {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        const ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return [result, words.getWords()];
        }
        const special =
          ch === '$' ||
          ch === '<' ||
          (this.opts.skipProcessQuotes !== true && (ch === "'" || ch === '"'));
        if (special) {
          const tmp =
            ch === '$' ? this.processDollar() : ch === '<' ? this.processPossibleHeredoc() : ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          if (ch === '$') words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        let c = this.next();
        if (c === this.escapeToken) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          c = this.next();
          if (c === EOF) break;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
      if (stopChar !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stopChar}`);
      return [result, words.getWords()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes === true) result += ch;
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes === true) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes === true) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const ch = this.next();
        if (this.opts.rawQuotes === true) result += ch;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += ch;
        const q = this.peek();
        if (q === EOF) continue; // ignore an escape at the end of the word
        if (q === '"' || q === '$' || q === this.escapeToken) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): string | undefined {
    const v = this.env(name);
    if (v !== undefined) this.matched.add(name);
    else this.unmatched.add(name);
    return v;
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv === true) return `$${name}`;
      return value ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    // Docker reports "unsupported modifier (\ufffd)" here, its scanner's EOF rune; say what it is.
    if (ch === EOF) throw new LexError("syntax error: missing '}'");
    let chs = ch;
    let nullIsUnset = false;
    switch (ch) {
      case '}': {
        const value = this.getEnv(name);
        if (value === undefined && this.opts.skipUnsetEnv === true) return `\${${name}}`;
        return value ?? '';
      }
      case ':':
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        if (ch === ':') {
          nullIsUnset = true;
          ch = this.next();
          chs += ch;
        }
        const rawEscapes = ch === '#' || ch === '%';
        if (nullIsUnset && rawEscapes) throw new LexError(`unsupported modifier (${chs}) in substitution`);
        let word: string;
        try {
          [word] = this.processStopOn('}', rawEscapes);
        } catch (e) {
          if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw e;
        }
        const value = this.getEnv(name);
        const set = value !== undefined;
        if (this.opts.skipUnsetEnv === true && !set) return `\${${name}${chs}${word}}`;
        switch (ch) {
          case '-':
            return !set || (nullIsUnset && value === '') ? word : value;
          case '+':
            return !set || (nullIsUnset && value === '') ? '' : word;
          case '?':
            if (!set) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
            if (nullIsUnset && value === '') throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
            return value;
          case '%':
          case '#': {
            let greedy = false;
            let pattern = word;
            if (pattern.length > 0 && pattern[0] === ch) {
              greedy = true;
              pattern = pattern.slice(1);
            }
            return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
          }
          default:
            throw new LexError(`unsupported modifier (${chs}) in substitution`);
        }
      }
      case '/': {
        const replaceAll = this.peek() === '/';
        if (replaceAll) this.next();
        let pattern: string;
        try {
          [pattern] = this.processStopOn('/', true);
        } catch (e) {
          if (this.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
          throw e;
        }
        let replacement: string;
        try {
          [replacement] = this.processStopOn('}', true);
        } catch (e) {
          if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw e;
        }
        const value = this.getEnv(name);
        if (this.opts.skipUnsetEnv === true && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
        const re = shellPatternToRegex(pattern, true, false, replaceAll);
        if (replaceAll) return (value ?? '').replace(re, () => replacement);
        return (value ?? '').replace(re, () => replacement);
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    while (this.peek() === '\t' || this.peek() === '\r' || this.peek() === ' ') space += this.next();
    return `<<${space}`;
  }
}

function escapeRegexChar(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * A shell wildcard pattern (`*`, `?`, `\` escapes; no bracket expressions) as a regular
 * expression, as BuildKit's convertShellPatternToRegex.
 */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = [...pattern];
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?'; // Go's `.` does not match a newline
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === '*') {
      out += star;
    } else if (tok === '?') {
      out += '[^\\n]';
    } else if (tok === '\\') {
      const nextCh = chars[i + 1];
      if (nextCh === '}' || nextCh === '/') continue;
      i++;
      if (nextCh !== '*' && nextCh !== '?' && nextCh !== '\\') {
        throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nextCh ?? ''}'`);
      }
      out += `\\${nextCh}`;
    } else {
      out += escapeRegexChar(tok);
    }
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = shellPatternToRegex(pattern, greedy, true);
  const m = re.exec(value);
  return m === null ? value : value.slice(m[0].length);
}

/** Reverse a pattern without reversing its escapes (`a\*c` -> `c\*a`). */
function reversePattern(pattern: string): string {
  const runes = [...pattern];
  const out: string[] = new Array<string>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = runes[i]!;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = runes[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = trimPrefix(reversePattern(pattern), [...value].reverse().join(''), greedy);
  return [...reversed].reverse().join('');
}

function run(word: string, env: EnvLookup, options: LexOptions): LexResult {
  const sw = new ShellWord(word, env, options.escapeToken ?? '\\', options);
  try {
    const [result, words] = sw.process();
    return { result, words, matched: sw.matched, unmatched: sw.unmatched };
  } catch (e) {
    if (e instanceof LexError) throw new Error(`failed to process ${JSON.stringify(word)}: ${e.message}`);
    throw e;
  }
}

/** Substitute variables in one word (quotes removed, spaces kept): Docker's ProcessWord. */
export function processWord(word: string, env: EnvLookup, options: LexOptions = {}): string {
  return run(word, env, options).result;
}

/** Substitute, then split into words on unquoted whitespace: Docker's ProcessWords. */
export function processWords(word: string, env: EnvLookup, options: LexOptions = {}): string[] {
  return run(word, env, options).words;
}

export function processWordWithMatches(word: string, env: EnvLookup, options: LexOptions = {}): LexResult {
  return run(word, env, options);
}

/** An EnvLookup over `KEY=value` strings (a later duplicate wins, as EnvsFromSlice). */
export function envLookupOf(...lists: (readonly string[])[]): EnvLookup {
  const m = new Map<string, string>();
  for (const list of lists) {
    for (const e of list) {
      const i = e.indexOf('=');
      if (i === -1) m.set(e, '');
      else m.set(e.slice(0, i), e.slice(i + 1));
    }
  }
  return (name) => m.get(name);
}

export const noEnv: EnvLookup = () => undefined;
