// Dockerfile text -> one node per instruction, with the lines it spans. A port of BuildKit's
// frontend/dockerfile/parser (the parser Docker's classic builder also uses), so that lines are
// joined exactly as Docker joins them: parser directives (`# escape=`, `# syntax=`, `# check=`)
// only before anything else; comments are whole lines starting with `#`; a line ending in the
// escape token continues on the next, skipping comment and empty lines in between (an escaped
// escape token at the end does not continue); heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`)
// in RUN, COPY and ADD (and ONBUILD of them) read the following lines up to the terminator.
// Arguments are split per instruction as Docker does (JSON or shell form, key=value pairs,
// `--flags` first). Unknown instruction names are kept: they are reported with their line
// when the instructions are typed.

import { processWords, noEnv, processWordWithMatches } from './lex.ts';
import { isGoSpace, trimGoSpace, trimLeftGoSpace } from './go-compat.ts';

export interface Heredoc {
  /** The terminator word (quotes removed): also the file name COPY gives it. */
  readonly name: string;
  /** File descriptor of `3<<EOF` (0 when not given). */
  readonly fileDescriptor: number;
  /** False when the terminator was quoted: no variable substitution in the content. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are removed from the content. */
  readonly chomp: boolean;
  /** The lines between the instruction and the terminator, each with its line ending. */
  readonly content: string;
}

export interface Node {
  /** The instruction name as written (`RUN`, `run`). */
  readonly value: string;
  /** The logical line: continuation lines joined, comments inside dropped. */
  readonly original: string;
  /** `--name=value` words before the arguments. */
  readonly flags: readonly string[];
  /** Arguments as this instruction's line parser split them (see below). */
  readonly args: readonly string[];
  /** The sub-instruction of ONBUILD. */
  readonly child: Node | undefined;
  /** The arguments were a JSON array (exec form). */
  readonly json: boolean;
  readonly heredocs: readonly Heredoc[];
  /** 1-based, inclusive; heredoc lines included. */
  readonly startLine: number;
  readonly endLine: number;
}

export interface Directive {
  readonly name: 'escape' | 'syntax' | 'check';
  readonly value: string;
  readonly line: number;
}

export interface ScanResult {
  readonly nodes: readonly Node[];
  readonly escapeToken: '\\' | '`';
  readonly directives: readonly Directive[];
  readonly warnings: readonly string[];
  /** Total number of lines. */
  readonly lines: number;
}

/** A syntax error at a line range (1-based); the caller adds the file name. */
export class ScanError extends Error {
  constructor(
    message: string,
    readonly startLine: number,
    readonly endLine: number,
  ) {
    super(message);
  }
}

const WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC = /^(\d*)<<(-?)\s*([^<]*)$/;
const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

/** Split like Go's regexp.Split(s, n) with n = 2 or -1. */
function splitWhitespace(s: string, limit: number): string[] {
  if (limit === 2) {
    const m = WHITESPACE.exec(s);
    if (m === null) return [s];
    return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
  }
  return s.split(new RegExp(WHITESPACE.source, 'g'));
}

class Directives {
  escapeToken: '\\' | '`' = '\\';
  continuation = /([^\\])\\[ \t]*$|^\\[ \t]*$/;
  private done = false;
  private line = 0;
  private readonly seen = new Set<string>();
  readonly found: Directive[] = [];

  setEscapeToken(s: string): void {
    if (s !== '`' && s !== '\\') throw new Error(`invalid escape token '${s}' does not match \` or \\`);
    this.escapeToken = s;
    const e = s === '\\' ? '\\\\' : '`';
    this.continuation = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  }

  /** Look at one line (after its newline and, for a first line, leading space are trimmed). */
  possibleDirective(line: string): boolean {
    this.line++;
    if (this.done) return false;
    if (!line.startsWith('#')) {
      this.done = true;
      return false;
    }
    const m = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(trimLeftGoSpace(line.slice(1)));
    if (m === null) {
      this.done = true;
      return false;
    }
    const key = m[1]!.toLowerCase();
    if (key !== 'escape' && key !== 'syntax' && key !== 'check') {
      this.done = true;
      return false;
    }
    if (this.seen.has(key)) throw new Error(`only one ${key} parser directive can be used`);
    this.seen.add(key);
    const value = m[2]!;
    this.found.push({ name: key, value, line: this.line });
    if (key === 'escape') this.setEscapeToken(value);
    return true;
  }
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, '');
}

function isComment(line: string): boolean {
  return trimLeftGoSpace(line).startsWith('#');
}

function isEmptyContinuationLine(line: string): boolean {
  return trimLeftGoSpace(trimNewline(line)).length === 0;
}

/** Lines with their endings, as Go's bufio scanner with BuildKit's scanLines gives them. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const i = text.indexOf('\n', start);
    if (i === -1) {
      if (start < text.length) out.push(text.slice(start));
      return out;
    }
    out.push(text.slice(start, i + 1));
    start = i + 1;
  }
}

// ---- line parsers: one per instruction, each returning the arguments --------------------------

interface Parsed {
  readonly args: string[];
  readonly json: boolean;
  readonly child?: Node;
}

/** Words delimited by whitespace, quotes kept (Docker's parseWords). */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const enum Phase {
    Spaces,
    Word,
    Quote,
  }
  let phase = Phase.Spaces;
  let quote = '';
  let blankOK = false;
  let word = '';
  const chars = [...rest];
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === Phase.Spaces) {
      if (pos === chars.length) break;
      if (isGoSpace(ch)) continue;
      phase = Phase.Word;
    }
    if ((phase === Phase.Word || phase === Phase.Quote) && pos === chars.length) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === Phase.Word) {
      if (isGoSpace(ch)) {
        phase = Phase.Spaces;
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = Phase.Quote;
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // an escape token at the end is dropped
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    // Phase.Quote
    if (ch === quote) phase = Phase.Word;
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = Phase.Word;
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

function parseNameVal(rest: string, key: string, escapeToken: string): string[] {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    const parts = splitWhitespace(rest, 2);
    if (parts.length < 2) throw new Error(`${key} must have two arguments`);
    return [parts[0]!, parts[1]!, ''];
  }
  const out: string[] = [];
  for (const word of words) {
    const i = word.indexOf('=');
    if (i === -1) throw new Error(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    out.push(word.slice(0, i), word.slice(i + 1), '=');
  }
  return out;
}

function parseStringsWhitespaceDelimited(rest: string): string[] {
  if (rest === '') return [];
  return splitWhitespace(rest, -1);
}

class NotStringArray extends Error {
  constructor() {
    super('when using JSON array syntax, arrays must be comprised of strings only');
  }
}

function parseJSON(rest: string): string[] | undefined {
  const t = trimLeftGoSpace(rest);
  if (!t.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  if (!v.every((x) => typeof x === 'string')) throw new NotStringArray();
  return v as string[];
}

function parseMaybeJSON(rest: string): Parsed {
  if (rest === '') return { args: [], json: false };
  const j = parseJSON(rest);
  if (j !== undefined) return { args: j, json: true };
  return { args: [rest], json: false };
}

function parseMaybeJSONToList(rest: string): Parsed {
  const j = parseJSON(rest);
  if (j !== undefined) return { args: j, json: true };
  return { args: parseStringsWhitespaceDelimited(rest), json: false };
}

function parseHealthConfig(rest: string): Parsed {
  let sep = 0;
  while (sep < rest.length && !isGoSpace(rest[sep]!)) sep++;
  let next = sep;
  while (next < rest.length && isGoSpace(rest[next]!)) next++;
  if (sep === 0) return { args: [], json: false };
  const cmd = parseMaybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/** `--flag` words at the start of the arguments, and the rest (Docker's extractBuilderFlags). */
function extractBuilderFlags(line: string, escapeToken: string): [string, string[]] {
  const words: string[] = [];
  const enum Phase {
    Spaces,
    Word,
    Quote,
  }
  let phase = Phase.Spaces;
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = line[pos] ?? '';
    if (phase === Phase.Spaces) {
      if (pos === line.length) break;
      if (isGoSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') return [line.slice(pos), words];
      phase = Phase.Word;
    }
    if ((phase === Phase.Word || phase === Phase.Quote) && pos === line.length) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === Phase.Word) {
      if (isGoSpace(ch)) {
        phase = Phase.Spaces;
        if (word === '--') return [line.slice(pos), words];
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = Phase.Quote;
        continue;
      }
      if (ch === escapeToken) {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = Phase.Word;
      continue;
    }
    if (ch === escapeToken) {
      if (pos + 1 === line.length) {
        phase = Phase.Word;
        continue;
      }
      pos++;
      ch = line[pos]!;
    }
    word += ch;
  }
  return ['', words];
}

function splitCommand(line: string, escapeToken: string): { cmd: string; flags: string[]; args: string } {
  const cmdline = splitWhitespace(trimGoSpace(line), 2);
  let args = '';
  let flags: string[] = [];
  if (cmdline.length === 2) [args, flags] = extractBuilderFlags(cmdline[1]!, escapeToken);
  return { cmd: cmdline[0]!, flags, args: trimGoSpace(args) };
}

function dispatchLine(cmd: string, rest: string, escapeToken: string, lines: { start: number; end: number }): Parsed {
  switch (cmd.toLowerCase()) {
    case 'add':
    case 'copy':
    case 'volume':
      return parseMaybeJSONToList(rest);
    case 'arg':
      return { args: parseWords(rest, escapeToken), json: false };
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      return parseMaybeJSON(rest);
    case 'env':
      return { args: parseNameVal(rest, 'ENV', escapeToken), json: false };
    case 'label':
      return { args: parseNameVal(rest, 'LABEL', escapeToken), json: false };
    case 'expose':
    case 'from':
      return { args: parseStringsWhitespaceDelimited(rest), json: false };
    case 'healthcheck':
      return parseHealthConfig(rest);
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'onbuild': {
      if (rest === '') return { args: [], json: false };
      const child = nodeFromLine(rest, escapeToken, lines);
      return { args: [child.value, ...child.args], json: false, child };
    }
    default:
      return { args: [], json: false }; // unknown: reported when typed
  }
}

function nodeFromLine(line: string, escapeToken: string, lines: { start: number; end: number }): Node {
  const { cmd, flags, args } = splitCommand(line, escapeToken);
  const parsed = dispatchLine(cmd, args, escapeToken, lines);
  return {
    value: cmd,
    original: line,
    flags,
    args: parsed.args,
    child: parsed.child,
    json: parsed.json,
    heredocs: [],
    startLine: lines.start,
    endLine: lines.end,
  };
}

function canContainHeredoc(node: Node): boolean {
  let n = node;
  if (n.value.toLowerCase() === 'onbuild' && n.child !== undefined) n = n.child;
  return HEREDOC_INSTRUCTIONS.has(n.value.toLowerCase()) && !n.json;
}

/** A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined. */
export function parseHeredoc(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC.exec(word);
  if (m === null) return undefined;
  const fd = m[1] === '' ? 0 : Number(m[1]);
  const chomp = m[2] === '-';
  const rest = m[3]!;
  if (rest.length === 0) return undefined;
  const words = processWords(rest, noEnv, { skipUnsetEnv: true });
  if (words.length !== 1) return undefined;
  const raw = processWords(rest, noEnv, { skipUnsetEnv: true, rawQuotes: true });
  if (raw.length !== words.length) throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const name = words[0]!;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  return { name, fileDescriptor: fd, expand: quotes(name) === quotes(raw[0]!), chomp };
}

function heredocsFromLine(line: string): Omit<Heredoc, 'content'>[] {
  let words: string[];
  try {
    words = processWordWithMatches(line, noEnv, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).words;
  } catch {
    words = [];
  }
  const out: Omit<Heredoc, 'content'>[] = [];
  for (const w of words) {
    const h = parseHeredoc(w);
    if (h !== undefined) out.push(h);
  }
  return out;
}

/** Remove leading tabs from every line (`<<-`). */
export function chompHeredocContent(src: string): string {
  return src.replace(/^\t+/gm, '');
}

/** Split a Dockerfile into instruction nodes. Throws ScanError. */
export function scanDockerfile(input: string): ScanResult {
  const d = new Directives();
  const lines = splitLines(input.startsWith('\uFEFF') ? input.slice(1) : input);
  const nodes: Node[] = [];
  const warnings: string[] = [];
  let currentLine = 0;
  let i = 0;
  const nextLine = (): string | undefined => (i < lines.length ? lines[i++] : undefined);

  for (let raw = nextLine(); raw !== undefined; raw = nextLine()) {
    let token = trimLeftGoSpace(trimNewline(raw));
    try {
      d.possibleDirective(token);
    } catch (e) {
      throw new ScanError((e as Error).message, currentLine + 1, currentLine + 1);
    }
    if (isComment(token)) token = '';
    currentLine++;
    const startLine = currentLine;

    let line = token;
    let endOfLine = true;
    if (d.continuation.test(line)) {
      line = line.replace(d.continuation, '$1');
      endOfLine = false;
    }
    if (endOfLine && line.length === 0) continue;

    let hasEmptyContinuation = false;
    while (!endOfLine) {
      const next = nextLine();
      if (next === undefined) break;
      const cont = trimNewline(next);
      try {
        d.possibleDirective(cont);
      } catch (e) {
        throw new ScanError((e as Error).message, currentLine + 1, currentLine + 1);
      }
      currentLine++;
      if (isComment(next)) continue;
      if (isEmptyContinuationLine(cont)) {
        hasEmptyContinuation = true;
        continue;
      }
      let part = cont;
      if (d.continuation.test(part)) part = part.replace(d.continuation, '$1');
      else endOfLine = true;
      line += part;
    }
    if (hasEmptyContinuation) warnings.push(`Empty continuation line found in: ${line}`);

    let node: Node;
    try {
      node = nodeFromLine(line, d.escapeToken, { start: startLine, end: currentLine });
    } catch (e) {
      throw new ScanError(e instanceof Error ? e.message : String(e), startLine, currentLine);
    }

    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(node) && line.includes('<<')) {
      let markers: Omit<Heredoc, 'content'>[];
      try {
        markers = heredocsFromLine(line);
      } catch (e) {
        throw new ScanError((e as Error).message, startLine, currentLine);
      }
      for (const marker of markers) {
        let terminated = false;
        let content = '';
        for (let h = nextLine(); h !== undefined; h = nextLine()) {
          currentLine++;
          let candidate = trimNewline(h);
          if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += h;
        }
        if (!terminated) throw new ScanError('unterminated heredoc', startLine, currentLine);
        heredocs.push({ ...marker, content });
      }
    }
    nodes.push({ ...node, heredocs, endLine: currentLine, child: node.child === undefined ? undefined : { ...node.child, heredocs } });
  }

  if (nodes.length === 0) throw new ScanError('file with no instructions', Math.max(currentLine, 1), Math.max(currentLine, 1));
  return { nodes, escapeToken: d.escapeToken, directives: d.found, warnings, lines: currentLine };
}
