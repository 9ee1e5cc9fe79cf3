// Go text/template, as the docker CLI runs `--format` strings: compile once,
// execute per row. Lexer, parser and evaluator follow Go's text/template
// (lex.go, parse.go, exec.go, funcs.go) closely enough that output and error
// messages match what docker prints; docker's own functions (json, split, join,
// title, lower, upper, pad, truncate) come from docker/cli templates/templates.go.
//
// Not supported: {{define}}, {{template}}, {{block}}, complex numbers, hex floats.
//
// Data model (see gofmt.ts): a plain object is a Go struct (default: a missing
// field is an error) or a Go map (`objects: 'map'`: a missing key reads as
// <no value>, or is an error with `missingKey: 'error'`). A JS Map is always a
// Go map. A function-valued property is a method: `{{.Label "k"}}` calls it
// with the arguments; a zero-argument one is called when named (`{{.ID}}`).
// Getters work as fields.

import { formatValue, goJson, goTypeName, quote, sortedEntries, sprint, sprintf, sprintln } from './gofmt.ts';

/** A template that failed to parse or to execute; the message reads as Go's. */
export class TemplateError extends Error {
  readonly phase: 'parse' | 'exec';
  constructor(message: string, phase: 'parse' | 'exec') {
    super(message);
    this.name = 'TemplateError';
    this.phase = phase;
  }
}

/** A template function as callers supply it: called with the evaluated arguments. */
export type TemplateFunc = (...args: any[]) => unknown;

/** Go parameter types a checked function declares (for Go's argument errors). */
export type ParamType = 'any' | 'string' | 'int' | 'bool' | 'strings';

/** A function with Go-style parameter checking, like those docker registers. */
export interface TemplateFuncSpec {
  readonly params: readonly ParamType[];
  readonly variadic?: ParamType;
  readonly fn: (...args: never[]) => unknown;
}

export interface CompileOptions {
  /** Template name used in error messages; docker's is "". */
  readonly name?: string;
  /** Extra functions, added to (or replacing) the built-in and docker ones. */
  readonly funcs?: Readonly<Record<string, TemplateFunc | TemplateFuncSpec>>;
}

export interface ExecuteOptions {
  /** How plain objects behave on field access: as Go structs (default) or maps. */
  readonly objects?: 'struct' | 'map';
  /** A missing map key: '<no value>' ('default', Go's default), nil ('zero'), or an error ('error'). */
  readonly missingKey?: 'default' | 'zero' | 'error';
  /** Go type name of the root object in "can't evaluate field X in type T". */
  readonly typeName?: string;
  /** Functions replacing the template's own for this execution only. */
  readonly funcs?: Readonly<Record<string, TemplateFunc | TemplateFuncSpec>>;
  /** Return the output written before an execution error instead of throwing it. */
  readonly partialOnError?: boolean;
}

export type CompiledTemplate = (data: unknown, options?: ExecuteOptions) => string;

/** Objects may name their Go type under this key, for error messages. */
export const goType: unique symbol = Symbol.for('berth.format.goType');

// ---------------------------------------------------------------------------
// Lexer

type TokType =
  | 'text' | 'left' | 'right' | 'space' | 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'char'
  | 'string' | 'rawstring' | 'charconst' | 'number' | 'bool' | 'nil' | 'dot' | 'field' | 'variable'
  | 'identifier' | 'eof' | 'error'
  | 'block' | 'break' | 'continue' | 'define' | 'else' | 'end' | 'if' | 'range' | 'template' | 'with';

interface Token {
  readonly t: TokType;
  readonly v: string;
  readonly pos: number;
  readonly line: number;
}

const KEYWORDS: ReadonlySet<string> = new Set([
  'block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with',
]);

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

const ALNUM = /^[\p{L}\p{Nd}_]$/u;

function isAlphaNumeric(c: string | undefined): boolean {
  if (c === undefined) return false;
  const code = c.charCodeAt(0);
  if (code < 0x80) {
    return c === '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  return ALNUM.test(c);
}

/** fmt's %#U: U+0041 'A'. */
function runeDesc(c: string): string {
  const cp = c.codePointAt(0) ?? 0;
  const u = 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(c) ? `${u} '${c}'` : u;
}

function tokenString(tok: Token): string {
  if (tok.t === 'eof') return 'EOF';
  if (tok.t === 'error') return tok.v;
  if (KEYWORDS.has(tok.t)) return `<${tok.v}>`;
  const chars = Array.from(tok.v);
  if (chars.length > 10) return quote(chars.slice(0, 10).join('')) + '...';
  return quote(tok.v);
}

function lex(input: string): Token[] {
  const tokens: Token[] = [];
  const n = input.length;
  let pos = 0;
  let start = 0;
  let parenDepth = 0;
  let line = 1;
  let lineScan = 0;
  const lineAt = (p: number): number => {
    for (; lineScan < p; lineScan++) if (input.charCodeAt(lineScan) === 10) line++;
    return line;
  };
  const emit = (t: TokType): void => {
    tokens.push({ t, v: input.slice(start, pos), pos: start, line: lineAt(start) });
    start = pos;
  };
  const fail = (msg: string): false => {
    tokens.push({ t: 'error', v: msg, pos: start, line: lineAt(start) });
    return false;
  };
  const startsWith = (s: string, at = pos): boolean => input.startsWith(s, at);
  const hasLeftTrim = (at: number): boolean => input[at] === '-' && isSpace(input[at + 1]);
  const hasRightTrim = (at: number): boolean => isSpace(input[at]) && input[at + 1] === '-';
  const atRightDelim = (): [boolean, boolean] => {
    if (hasRightTrim(pos) && startsWith('}}', pos + 2)) return [true, true];
    return [startsWith('}}'), false];
  };
  const skipLeftSpace = (): void => {
    while (pos < n && isSpace(input[pos])) pos++;
    start = pos;
  };
  const atTerminator = (): boolean => {
    if (pos >= n) return true;
    const c = input[pos];
    if (isSpace(c) || '.,|:)('.includes(c ?? '')) return true;
    return startsWith('}}');
  };
  const peekChar = (): string => String.fromCodePoint(input.codePointAt(pos) ?? 0);
  const accept = (valid: string): boolean => {
    if (pos < n && valid.includes(input[pos] ?? '')) {
      pos++;
      return true;
    }
    return false;
  };
  const acceptRun = (valid: string): void => {
    while (pos < n && valid.includes(input[pos] ?? '')) pos++;
  };
  const scanNumber = (): boolean => {
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    if (digits.length === 23 && accept('pP')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    accept('i');
    if (pos < n && isAlphaNumeric(peekChar())) {
      pos += peekChar().length;
      return false;
    }
    return true;
  };
  const lexWord = (t: 'field' | 'variable' | 'identifier'): boolean => {
    if (t !== 'identifier' && atTerminator()) {
      emit(t === 'variable' ? 'variable' : 'dot');
      return true;
    }
    while (pos < n && isAlphaNumeric(peekChar())) pos += peekChar().length;
    if (!atTerminator()) return fail(`bad character ${runeDesc(peekChar())}`);
    if (t !== 'identifier') {
      emit(t);
      return true;
    }
    const word = input.slice(start, pos);
    if (KEYWORDS.has(word)) emit(word as TokType);
    else if (word === 'nil') emit('nil');
    else if (word === 'true' || word === 'false') emit('bool');
    else emit('identifier');
    return true;
  };
  const lexQuoted = (close: string, what: string, escapes: boolean): boolean => {
    for (;;) {
      if (pos >= n) return fail(`unterminated ${what}`);
      const c = input[pos++];
      if (escapes && c === '\\') {
        if (pos < n && input[pos] !== '\n') {
          pos++;
          continue;
        }
        return fail(`unterminated ${what}`);
      }
      if (escapes && c === '\n') return fail(`unterminated ${what}`);
      if (c === close) return true;
    }
  };
  // One action's content, up to and including its right delimiter.
  const insideAction = (): boolean => {
    for (;;) {
      const [delim, trim] = atRightDelim();
      if (delim) {
        if (parenDepth !== 0) return fail('unclosed left paren');
        if (trim) {
          pos += 2;
          start = pos;
        }
        pos += 2;
        emit('right');
        if (trim) skipLeftSpace();
        return true;
      }
      if (pos >= n) return fail('unclosed action');
      const c = peekChar();
      pos += c.length;
      if (isSpace(c)) {
        let spaces = 1;
        while (pos < n && isSpace(input[pos])) {
          pos++;
          spaces++;
        }
        // A space that starts ' -}}' belongs to the delimiter.
        if (hasRightTrim(pos - 1) && startsWith('}}', pos + 1)) {
          pos--;
          if (spaces === 1) continue;
        }
        emit('space');
        continue;
      }
      switch (c) {
        case '=':
          emit('assign');
          continue;
        case ':':
          if (input[pos] !== '=') return fail('expected :=');
          pos++;
          emit('declare');
          continue;
        case '|':
          emit('pipe');
          continue;
        case '"':
          if (!lexQuoted('"', 'quoted string', true)) return false;
          emit('string');
          continue;
        case '`':
          if (!lexQuoted('`', 'raw quoted string', false)) return false;
          emit('rawstring');
          continue;
        case "'":
          if (!lexQuoted("'", 'character constant', true)) return false;
          emit('charconst');
          continue;
        case '$':
          if (!lexWord('variable')) return false;
          continue;
        case '(':
          emit('lparen');
          parenDepth++;
          continue;
        case ')':
          parenDepth--;
          if (parenDepth < 0) return fail('unexpected right paren');
          emit('rparen');
          continue;
      }
      if (c === '.' && pos < n && !(input[pos]! >= '0' && input[pos]! <= '9')) {
        if (!lexWord('field')) return false;
        continue;
      }
      if (c === '.' || c === '+' || c === '-' || (c >= '0' && c <= '9')) {
        pos--;
        if (!scanNumber() || input[pos] === '+' || input[pos] === '-') {
          return fail(`bad number syntax: ${quote(input.slice(start, pos))}`);
        }
        emit('number');
        continue;
      }
      if (isAlphaNumeric(c)) {
        pos -= c.length;
        if (!lexWord('identifier')) return false;
        continue;
      }
      const code = c.codePointAt(0) ?? 0;
      if (code < 0x7f && code >= 0x20) {
        emit('char');
        continue;
      }
      return fail(`unrecognized character in action: ${runeDesc(c)}`);
    }
  };
  for (;;) {
    const x = input.indexOf('{{', pos);
    if (x < 0) {
      pos = n;
      if (pos > start) emit('text');
      tokens.push({ t: 'eof', v: '', pos: n, line: lineAt(n) });
      return tokens;
    }
    pos = x;
    let trimmed = x;
    if (hasLeftTrim(x + 2)) while (trimmed > start && isSpace(input[trimmed - 1])) trimmed--;
    pos = trimmed;
    if (pos > start) emit('text');
    pos = x + 2;
    start = x;
    const trim = hasLeftTrim(pos);
    const after = trim ? 2 : 0;
    if (startsWith('/*', pos + after)) {
      pos += after + 2;
      const end = input.indexOf('*/', pos);
      if (end < 0) {
        fail('unclosed comment');
        return tokens;
      }
      pos = end + 2;
      const [delim, rtrim] = atRightDelim();
      if (!delim) {
        fail('comment ends before closing delimiter');
        return tokens;
      }
      pos += rtrim ? 4 : 2;
      start = pos;
      if (rtrim) skipLeftSpace();
      continue;
    }
    emit('left');
    pos += after;
    start = pos;
    parenDepth = 0;
    if (!insideAction()) return tokens;
  }
}

// ---------------------------------------------------------------------------
// Parse tree

interface NText { readonly k: 'text'; readonly pos: number; readonly text: string }
interface NAction { readonly k: 'action'; readonly pos: number; readonly pipe: NPipe }
interface NControl {
  readonly k: 'if' | 'with' | 'range';
  readonly pos: number;
  readonly pipe: NPipe;
  readonly list: NList;
  readonly elseList: NList | null;
}
interface NList { readonly k: 'list'; readonly pos: number; readonly nodes: Node[] }
interface NLoopControl { readonly k: 'break' | 'continue'; readonly pos: number }
interface NDelim { readonly k: 'end' | 'else'; readonly pos: number }
interface NPipe {
  readonly k: 'pipe';
  readonly pos: number;
  isAssign: boolean;
  readonly decl: NVariable[];
  readonly cmds: NCommand[];
}
interface NCommand { readonly k: 'command'; readonly pos: number; readonly args: Arg[] }
interface NField { readonly k: 'field'; readonly pos: number; readonly ident: readonly string[] }
interface NVariable { readonly k: 'variable'; readonly pos: number; readonly ident: readonly string[] }
interface NChain { readonly k: 'chain'; readonly pos: number; readonly node: Arg; readonly fields: readonly string[] }
interface NIdentifier { readonly k: 'identifier'; readonly pos: number; readonly name: string }
interface NDot { readonly k: 'dot'; readonly pos: number }
interface NNil { readonly k: 'nil'; readonly pos: number }
interface NBool { readonly k: 'bool'; readonly pos: number; readonly value: boolean }
interface NNumber {
  readonly k: 'number';
  readonly pos: number;
  readonly text: string;
  readonly value: number;
  readonly isInt: boolean;
}
interface NString { readonly k: 'string'; readonly pos: number; readonly quoted: string; readonly text: string }

type Arg = NField | NVariable | NChain | NIdentifier | NDot | NNil | NBool | NNumber | NString | NPipe;
type Node = NText | NAction | NControl | NList | NLoopControl | NDelim;
type AnyNode = Node | Arg | NCommand;

function nodeString(node: AnyNode): string {
  switch (node.k) {
    case 'text':
      return node.text;
    case 'action':
      return `{{${nodeString(node.pipe)}}}`;
    case 'if':
    case 'with':
    case 'range': {
      const els = node.elseList ? `{{else}}${nodeString(node.elseList)}` : '';
      return `{{${node.k} ${nodeString(node.pipe)}}}${nodeString(node.list)}${els}{{end}}`;
    }
    case 'list':
      return node.nodes.map(nodeString).join('');
    case 'break':
    case 'continue':
    case 'end':
    case 'else':
      return `{{${node.k}}}`;
    case 'pipe': {
      let s = '';
      if (node.decl.length > 0) {
        s = node.decl.map(nodeString).join(', ') + (node.isAssign ? ' = ' : ' := ');
      }
      return s + node.cmds.map(nodeString).join(' | ');
    }
    case 'command':
      return node.args.map((a) => (a.k === 'pipe' ? `(${nodeString(a)})` : nodeString(a))).join(' ');
    case 'field':
      return '.' + node.ident.join('.');
    case 'variable':
      return node.ident.join('.');
    case 'chain': {
      const base = node.node.k === 'pipe' ? `(${nodeString(node.node)})` : nodeString(node.node);
      return base + node.fields.map((f) => '.' + f).join('');
    }
    case 'identifier':
      return node.name;
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(node.value);
    case 'number':
      return node.text;
    case 'string':
      return node.quoted;
  }
}

// strconv.Unquote for "..." and `...`; undefined on invalid syntax.
function unquote(s: string): string | undefined {
  if (s[0] === '`') return s.slice(1, -1).replace(/\r/g, '');
  const body = s.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
    if (e !== undefined && e in simple) {
      out += simple[e];
      continue;
    }
    if (e === s[0]) {
      out += e;
      continue;
    }
    let hexLen = 0;
    if (e === 'x') hexLen = 2;
    else if (e === 'u') hexLen = 4;
    else if (e === 'U') hexLen = 8;
    if (hexLen > 0) {
      const h = body.slice(i + 1, i + 1 + hexLen);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(h)) return undefined;
      const cp = parseInt(h, 16);
      if (cp > 0x10ffff || (hexLen > 2 && cp >= 0xd800 && cp <= 0xdfff)) return undefined;
      out += String.fromCodePoint(cp);
      i += hexLen;
      continue;
    }
    if (e !== undefined && e >= '0' && e <= '7') {
      const o = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) return undefined;
      out += String.fromCharCode(parseInt(o, 8));
      i += 2;
      continue;
    }
    return undefined;
  }
  return out;
}

function parseNumber(text: string, isChar: boolean): { value: number; isInt: boolean } | string {
  if (isChar) {
    const inner = text.slice(1, -1);
    const s = inner === '"' ? '"' : unquote(`"${inner === "\\'" ? "'" : inner}"`);
    if (s === undefined || Array.from(s).length !== 1) return `malformed character constant: ${text}`;
    return { value: s.codePointAt(0) ?? 0, isInt: true };
  }
  const t = text.replace(/_/g, '');
  const int = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(t);
  if (int) {
    let digits = int[2] ?? '0';
    if (/^0[0-7]+$/.test(digits)) digits = '0o' + digits.slice(1);
    const big = BigInt(digits.replace(/^0([XOB])/, (_m, p: string) => '0' + p.toLowerCase()));
    const value = Number(int[1] === '-' ? -big : big);
    return { value, isInt: true };
  }
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
    const value = Number(t);
    return { value, isInt: Number.isInteger(value) };
  }
  return `illegal number syntax: ${quote(text)}`;
}

class Parser {
  private i = 0;
  private maxI = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private actionLine = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly name: string,
    private readonly hasFunction: (name: string) => boolean,
  ) {}

  private errorf(msg: string): never {
    const tok = this.tokens[Math.min(this.maxI, this.tokens.length - 1)];
    throw new TemplateError(`template: ${this.name}:${tok?.line ?? 1}: ${msg}`, 'parse');
  }

  private next(): Token {
    const idx = Math.min(this.i, this.tokens.length - 1);
    this.i++;
    if (idx > this.maxI) this.maxI = idx;
    return this.tokens[idx]!;
  }

  private backup(): void {
    this.i--;
  }

  private peek(): Token {
    const tok = this.next();
    this.backup();
    return tok;
  }

  private nextNonSpace(): Token {
    let tok: Token;
    do tok = this.next();
    while (tok.t === 'space');
    return tok;
  }

  private peekNonSpace(): Token {
    const tok = this.nextNonSpace();
    this.backup();
    return tok;
  }

  private unexpected(tok: Token, context: string): never {
    if (tok.t === 'error') {
      let extra = '';
      if (this.actionLine !== 0 && this.actionLine !== tok.line) {
        extra = ` in action started at ${this.name}:${this.actionLine}`;
        if (tok.v.endsWith(' action')) extra = extra.slice(' in action'.length);
      }
      this.errorf(tok.v + extra);
    }
    this.errorf(`unexpected ${tokenString(tok)} in ${context}`);
  }

  private expect(t: TokType, context: string): Token {
    const tok = this.nextNonSpace();
    if (tok.t !== t) this.unexpected(tok, context);
    return tok;
  }

  parse(): NList {
    const root: NList = { k: 'list', pos: this.peek().pos, nodes: [] };
    while (this.peek().t !== 'eof') {
      if (this.peek().t === 'left') {
        const save = this.i;
        this.next();
        if (this.nextNonSpace().t === 'define') this.errorf('{{define}} is not supported');
        this.i = save;
      }
      const n = this.textOrAction();
      if (n.k === 'end' || n.k === 'else') this.errorf(`unexpected ${nodeString(n)}`);
      root.nodes.push(n);
    }
    return root;
  }

  private itemList(): [NList, NDelim] {
    const list: NList = { k: 'list', pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().t !== 'eof') {
      const n = this.textOrAction();
      if (n.k === 'end' || n.k === 'else') return [list, n];
      list.nodes.push(n);
    }
    this.errorf('unexpected EOF');
  }

  private textOrAction(): Node {
    const tok = this.nextNonSpace();
    if (tok.t === 'text') return { k: 'text', pos: tok.pos, text: tok.v };
    if (tok.t === 'left') {
      this.actionLine = tok.line;
      try {
        return this.action();
      } finally {
        this.actionLine = 0;
      }
    }
    this.unexpected(tok, 'input');
  }

  private action(): Node {
    const tok = this.nextNonSpace();
    switch (tok.t) {
      case 'block':
      case 'template':
      case 'define':
        return this.errorf(`{{${tok.t}}} is not supported`);
      case 'else':
        return this.elseControl();
      case 'end':
        return { k: 'end', pos: this.expect('right', 'end').pos };
      case 'if':
        return this.control('if');
      case 'range':
        return this.control('range');
      case 'with':
        return this.control('with');
      case 'break':
      case 'continue': {
        if (this.rangeDepth === 0) this.errorf(`{{${tok.t}}} outside {{range}}`);
        const next = this.nextNonSpace();
        if (next.t !== 'right') this.unexpected(next, `{{${tok.t}}}`);
        return { k: tok.t, pos: tok.pos };
      }
    }
    this.backup();
    const pipe = this.pipeline('command');
    return { k: 'action', pos: pipe.pos, pipe };
  }

  private elseControl(): NDelim {
    const peek = this.peekNonSpace();
    if (peek.t === 'if' || peek.t === 'with') return { k: 'else', pos: peek.pos };
    return { k: 'else', pos: this.expect('right', 'else').pos };
  }

  private control(k: 'if' | 'with' | 'range'): NControl {
    const varsLen = this.vars.length;
    const pipe = this.pipeline(k);
    if (k === 'range') this.rangeDepth++;
    const [list, next] = this.itemList();
    if (k === 'range') this.rangeDepth--;
    let elseList: NList | null = null;
    if (next.k === 'else') {
      const peek = this.peek();
      if ((k === 'if' && peek.t === 'if') || (k === 'with' && peek.t === 'with')) {
        // {{else if x}} is {{else}}{{if x}}...{{end}} sharing the outer {{end}}.
        this.next();
        elseList = { k: 'list', pos: next.pos, nodes: [this.control(k)] };
      } else {
        const [els, end] = this.itemList();
        if (end.k !== 'end') this.errorf(`expected end; found ${nodeString(end)}`);
        elseList = els;
      }
    }
    this.vars.length = varsLen;
    return { k, pos: pipe.pos, pipe, list, elseList };
  }

  private pipeline(context: string): NPipe {
    const first = this.peekNonSpace();
    const pipe: NPipe = { k: 'pipe', pos: first.pos, isAssign: false, decl: [], cmds: [] };
    for (;;) {
      const v = this.peekNonSpace();
      if (v.t !== 'variable') break;
      const save = this.i;
      this.nextNonSpace();
      const next = this.peekNonSpace();
      if (next.t === 'assign' || next.t === 'declare') {
        pipe.isAssign = next.t === 'assign';
        this.nextNonSpace();
        pipe.decl.push(this.variable(v.pos, v.v));
        this.vars.push(v.v);
        break;
      }
      if (next.t === 'char' && next.v === ',') {
        this.nextNonSpace();
        pipe.decl.push(this.variable(v.pos, v.v));
        this.vars.push(v.v);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().t;
          if (p === 'variable' || p === 'right' || p === 'rparen') continue;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      }
      this.i = save;
      break;
    }
    for (;;) {
      const tok = this.nextNonSpace();
      switch (tok.t) {
        case 'right':
        case 'rparen':
          if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
          pipe.cmds.forEach((c, i) => {
            const k = c.args[0]?.k;
            if (i > 0 && (k === 'bool' || k === 'dot' || k === 'nil' || k === 'number' || k === 'string')) {
              this.errorf(`non executable command in pipeline stage ${i + 1}`);
            }
          });
          if (tok.t === 'rparen') this.backup();
          return pipe;
        case 'bool':
        case 'charconst':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawstring':
        case 'string':
        case 'variable':
        case 'lparen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(tok, context);
      }
    }
  }

  private command(): NCommand {
    const cmd: NCommand = { k: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const tok = this.next();
      if (tok.t === 'space') continue;
      if (tok.t === 'error') this.errorf(tok.v);
      if (tok.t === 'right' || tok.t === 'rparen') this.backup();
      else if (tok.t !== 'pipe') this.errorf(`unexpected ${tokenString(tok)} in operand`);
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): Arg | null {
    const node = this.term();
    if (!node) return null;
    if (this.peek().t !== 'field') return node;
    const pos = this.peek().pos;
    const fields: string[] = [];
    while (this.peek().t === 'field') fields.push(this.next().v.slice(1));
    switch (node.k) {
      case 'field':
        return { k: 'field', pos, ident: [...node.ident, ...fields] };
      case 'variable':
        return { k: 'variable', pos, ident: [...node.ident, ...fields] };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        return this.errorf(`unexpected . after term ${quote(nodeString(node))}`);
      default:
        return { k: 'chain', pos, node, fields };
    }
  }

  private variable(pos: number, text: string): NVariable {
    return { k: 'variable', pos, ident: text.split('.') };
  }

  private term(): Arg | null {
    const tok = this.nextNonSpace();
    switch (tok.t) {
      case 'error':
        return this.errorf(tok.v);
      case 'identifier':
        if (!this.hasFunction(tok.v)) this.errorf(`function ${quote(tok.v)} not defined`);
        return { k: 'identifier', pos: tok.pos, name: tok.v };
      case 'dot':
        return { k: 'dot', pos: tok.pos };
      case 'nil':
        return { k: 'nil', pos: tok.pos };
      case 'variable': {
        const v = this.variable(tok.pos, tok.v);
        if (!this.vars.includes(v.ident[0] ?? '')) this.errorf(`undefined variable ${quote(v.ident[0] ?? '')}`);
        return v;
      }
      case 'field':
        return { k: 'field', pos: tok.pos, ident: tok.v.slice(1).split('.') };
      case 'bool':
        return { k: 'bool', pos: tok.pos, value: tok.v === 'true' };
      case 'charconst':
      case 'number': {
        const num = parseNumber(tok.v, tok.t === 'charconst');
        if (typeof num === 'string') this.errorf(num);
        return { k: 'number', pos: tok.pos, text: tok.v, value: num.value, isInt: num.isInt };
      }
      case 'lparen': {
        const pipe = this.pipeline('parenthesized pipeline');
        const close = this.next();
        if (close.t !== 'rparen') this.errorf(`unclosed right paren: unexpected ${tokenString(close)}`);
        return pipe;
      }
      case 'string':
      case 'rawstring': {
        const text = unquote(tok.v);
        if (text === undefined) this.errorf('invalid syntax');
        return { k: 'string', pos: tok.pos, quoted: tok.v, text };
      }
    }
    this.backup();
    return null;
  }
}

// ---------------------------------------------------------------------------
// Functions

type Callable =
  | { readonly kind: 'spec'; readonly spec: TemplateFuncSpec }
  | { readonly kind: 'free'; readonly fn: TemplateFunc; readonly self?: unknown; readonly arity?: number };

function isSpec(f: TemplateFunc | TemplateFuncSpec): f is TemplateFuncSpec {
  return typeof f === 'object';
}

function spec(params: readonly ParamType[], fn: (...args: never[]) => unknown, variadic?: ParamType): TemplateFuncSpec {
  return variadic ? { params, fn, variadic } : { params, fn };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Map) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** text/template's notion of truth: not the zero value of its type. */
export function isTrue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'number':
      return v !== 0;
    case 'bigint':
      return v !== 0n;
    case 'string':
      return v.length > 0;
    case 'object':
      if (Array.isArray(v)) return v.length > 0;
      if (v instanceof Map) return v.size > 0;
      return isPlainObject(v) ? Object.keys(v).length > 0 : true;
    default:
      return true;
  }
}

type Kind = 'invalid' | 'bool' | 'number' | 'string' | 'other';

function basicKind(v: unknown): Kind {
  if (v === undefined || v === null) return 'invalid';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
    case 'bigint':
      return 'number';
    case 'string':
      return 'string';
    default:
      return 'other';
  }
}

function eq(a: unknown, ...rest: unknown[]): boolean {
  if (rest.length === 0) throw new Error('missing argument for comparison');
  const k1 = basicKind(a);
  for (const b of rest) {
    const k2 = basicKind(b);
    if (k1 !== k2) {
      if (k1 !== 'invalid' && k2 !== 'invalid') throw new Error('incompatible types for comparison');
      continue;
    }
    if (k1 === 'other') throw new Error(`non-comparable type ${formatValue(a)}: ${goTypeName(a)}`);
    if (k1 === 'invalid' || a == b) return true;
  }
  return false;
}

function lt(a: unknown, b: unknown): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === 'invalid' || k1 === 'other' || k2 === 'invalid' || k2 === 'other') {
    throw new Error('invalid type for comparison');
  }
  if (k1 !== k2) throw new Error('incompatible types for comparison');
  if (k1 === 'bool') throw new Error('invalid type for comparison');
  return (a as number | string) < (b as number | string);
}

function length(v: unknown): number {
  if (v === undefined || v === null) throw new Error('len of nil pointer');
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map) return v.size;
  if (isPlainObject(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goTypeName(v)}`);
}

function indexInt(idx: unknown): number {
  if (typeof idx === 'number' && Number.isInteger(idx)) return idx;
  throw new Error(`cannot index slice/array with type ${goTypeName(idx)}`);
}

function sliceOf(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('slice of untyped nil');
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  let len: number;
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new Error('cannot 3-index slice a string');
    len = Buffer.byteLength(item, 'utf8');
  } else if (Array.isArray(item)) {
    len = item.length;
  } else {
    throw new Error(`can't slice item of type ${goTypeName(item)}`);
  }
  const idx = [0, len];
  indexes.forEach((x, i) => {
    const v = indexInt(x);
    if (v < 0 || v > len) throw new Error(`index out of range: ${v}`);
    idx[i] = v;
  });
  const [lo = 0, hi = len] = idx;
  if (lo > hi) throw new Error(`invalid slice index: ${lo} > ${hi}`);
  if (typeof item === 'string') return Buffer.from(item, 'utf8').subarray(lo, hi).toString('utf8');
  return (item as unknown[]).slice(lo, hi);
}

function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((a) => (a === undefined ? '<no value>' : a)));
}

function htmlEscape(s: string): string {
  return s.replace(/["'&<>\0]/g, (c) =>
    c === '"' ? '&#34;' : c === "'" ? '&#39;' : c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '\ufffd',
  );
}

function jsEscape(s: string): string {
  let out = '';
  for (const c of s) {
    const cp = c.codePointAt(0) ?? 0;
    if (c === '\\' || c === "'" || c === '"') out += '\\' + c;
    else if ('<>&='.includes(c) || cp < 0x20) out += '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
    else if (cp < 0x80 || /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(c)) out += c;
    else out += '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
  }
  return out;
}

function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// strings.Title: upper-case the first letter of each word.
function isSeparator(c: string): boolean {
  if ((c.codePointAt(0) ?? 0) <= 0x7f) return !/[0-9A-Za-z_]/.test(c);
  if (/^[\p{L}\p{Nd}]$/u.test(c)) return false;
  return /^\s$/u.test(c);
}

// unicode.ToTitle differs from ToUpper only for the Latin digraphs.
const TITLE_DIGRAPHS: Readonly<Record<string, string>> = {
  '\u01c4': '\u01c5', '\u01c5': '\u01c5', '\u01c6': '\u01c5', '\u01c7': '\u01c8', '\u01c8': '\u01c8', '\u01c9': '\u01c8',
  '\u01ca': '\u01cb', '\u01cb': '\u01cb', '\u01cc': '\u01cb', '\u01f1': '\u01f2', '\u01f2': '\u01f2', '\u01f3': '\u01f2',
};

function title(s: string): string {
  let prev = ' ';
  let out = '';
  for (const c of s) {
    out += isSeparator(prev) ? (TITLE_DIGRAPHS[c] ?? mapRune(c, 'upper')) : c;
    prev = c;
  }
  return out;
}

// Go maps case rune by rune (simple case mapping). Where JS's full mapping
// gives more than one rune, a rune plus combining marks (İ → i̇) keeps its
// first rune, and anything else (ß → SS) leaves the rune alone.
function mapRune(c: string, to: 'upper' | 'lower'): string {
  const m = Array.from(to === 'upper' ? c.toUpperCase() : c.toLowerCase());
  if (m.length === 1) return m[0]!;
  return /^\p{M}+$/u.test(m.slice(1).join('')) ? m[0]! : c;
}

function mapCase(s: string, to: 'upper' | 'lower'): string {
  if (/^[\x00-\x7f]*$/.test(s)) return to === 'upper' ? s.toUpperCase() : s.toLowerCase();
  let out = '';
  for (const c of s) out += mapRune(c, to);
  return out;
}

function repeat(n: number): string {
  if (n < 0) throw new Error('strings: negative Repeat count');
  return ' '.repeat(n);
}

function truncateBytes(s: string, n: number): string {
  const len = Buffer.byteLength(s, 'utf8');
  if (len < n) return s;
  if (n < 0) throw new Error(`runtime error: slice bounds out of range [:${n}]`);
  return Buffer.from(s, 'utf8').subarray(0, n).toString('utf8');
}

const BUILTINS: Readonly<Record<string, TemplateFuncSpec>> = {
  // text/template's builtins
  and: spec(['any'], () => undefined, 'any'), // evaluated lazily by the executor
  or: spec(['any'], () => undefined, 'any'),
  not: spec(['any'], (v: unknown) => !isTrue(v)),
  len: spec(['any'], length),
  index: spec(['any'], () => undefined, 'any'), // needs the executor's options
  slice: spec(['any'], sliceOf, 'any'),
  print: spec([], (...a: unknown[]) => sprint(a), 'any'),
  printf: spec(['string'], (f: string, ...a: unknown[]) => sprintf(f, a), 'any'),
  println: spec([], (...a: unknown[]) => sprintln(a), 'any'),
  eq: spec(['any'], eq, 'any'),
  ne: spec(['any', 'any'], (a: unknown, b: unknown) => !eq(a, b)),
  lt: spec(['any', 'any'], lt),
  le: spec(['any', 'any'], (a: unknown, b: unknown) => lt(a, b) || eq(a, b)),
  gt: spec(['any', 'any'], (a: unknown, b: unknown) => !(lt(a, b) || eq(a, b))),
  ge: spec(['any', 'any'], (a: unknown, b: unknown) => !lt(a, b)),
  html: spec([], (...a: unknown[]) => htmlEscape(evalArgs(a)), 'any'),
  js: spec([], (...a: unknown[]) => jsEscape(evalArgs(a)), 'any'),
  urlquery: spec([], (...a: unknown[]) => queryEscape(evalArgs(a)), 'any'),
  call: spec(
    ['any'],
    (fn: unknown, ...a: unknown[]) => {
      if (typeof fn !== 'function') throw new Error(`non-function of type ${goTypeName(fn)}`);
      return (fn as TemplateFunc)(...a);
    },
    'any',
  ),
  // docker/cli templates.basicFunctions
  json: spec(['any'], (v: unknown) => goJson(v)),
  split: spec(['string', 'string'], (s: string, sep: string) => (sep === '' ? Array.from(s) : s.split(sep))),
  join: spec(['strings', 'string'], (a: string[] | null, sep: string) => (a ?? []).join(sep)),
  title: spec(['string'], title),
  lower: spec(['string'], (s: string) => mapCase(s, 'lower')),
  upper: spec(['string'], (s: string) => mapCase(s, 'upper')),
  pad: spec(['string', 'int', 'int'], (s: string, pre: number, post: number) =>
    s === '' ? s : repeat(pre) + s + repeat(post),
  ),
  truncate: spec(['string', 'int'], truncateBytes),
};

/**
 * docker/cli templates.HeaderFunctions: for a table's header row the template
 * runs again over the header names, with these replacing the formatting
 * functions so that the names print unchanged.
 */
export const headerFunctions: Readonly<Record<string, TemplateFuncSpec>> = {
  json: spec(['string'], (v: string) => v),
  split: spec(['string', 'string'], (v: string) => v),
  join: spec(['string', 'string'], (v: string) => v),
  title: spec(['string'], (v: string) => v),
  lower: spec(['string'], (v: string) => v),
  upper: spec(['string'], (v: string) => v),
  truncate: spec(['string', 'int'], (v: string) => v),
};

// ---------------------------------------------------------------------------
// Executor

const MISSING: unique symbol = Symbol('missing');
type Final = unknown;

class LoopControl {
  constructor(readonly kind: 'break' | 'continue') {}
}

class State {
  node: AnyNode | null = null;
  readonly vars: { name: string; value: unknown }[];
  readonly out: string[] = [];
  private readonly objects: 'struct' | 'map';
  private readonly missingKey: 'default' | 'zero' | 'error';

  constructor(
    private readonly text: string,
    private readonly name: string,
    private readonly funcs: (name: string) => Callable | undefined,
    private readonly root: unknown,
    private readonly options: ExecuteOptions,
  ) {
    this.vars = [{ name: '$', value: root }];
    this.objects = options.objects ?? 'struct';
    this.missingKey = options.missingKey ?? 'default';
  }

  errorf(msg: string): never {
    if (!this.node) throw new TemplateError(`template: ${this.name}: ${msg}`, 'exec');
    const pos = this.node.pos;
    const before = this.text.slice(0, pos);
    const nl = before.lastIndexOf('\n');
    let line = 1;
    for (let i = 0; i < before.length; i++) if (before.charCodeAt(i) === 10) line++;
    const col = Buffer.byteLength(before.slice(nl + 1), 'utf8');
    const where = `${this.name}:${line}:${col}`;
    throw new TemplateError(
      `template: ${where}: executing ${quote(this.name)} at <${nodeString(this.node)}>: ${msg}`,
      'exec',
    );
  }

  at(node: AnyNode): void {
    this.node = node;
  }

  varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    this.errorf(`undefined variable: ${name}`);
  }

  setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  walk(dot: unknown, node: Node): void {
    this.at(node);
    switch (node.k) {
      case 'text':
        this.out.push(node.text);
        return;
      case 'action': {
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, val);
        return;
      }
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const val = this.evalPipeline(dot, node.pipe);
        if (isTrue(val)) this.walk(node.k === 'with' ? val : dot, node.list);
        else if (node.elseList) this.walk(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'break':
      case 'continue':
        throw new LoopControl(node.k);
      default:
        this.errorf(`unknown node: ${nodeString(node)}`);
    }
  }

  private walkRange(dot: unknown, r: NControl): void {
    this.at(r);
    const mark = this.vars.length;
    const val = this.evalPipeline(dot, r.pipe);
    const bodyMark = this.vars.length;
    const decl = r.pipe.decl.length;
    let iterations = 0;
    const one = (index: unknown, elem: unknown): boolean => {
      iterations++;
      if (decl > 0) this.vars[this.vars.length - 1]!.value = elem;
      if (decl > 1) this.vars[this.vars.length - 2]!.value = index;
      try {
        this.walk(elem, r.list);
      } catch (e) {
        if (!(e instanceof LoopControl)) throw e;
        if (e.kind === 'break') return false;
      } finally {
        this.vars.length = bodyMark;
      }
      return true;
    };
    if (Array.isArray(val)) {
      for (let i = 0; i < val.length; i++) if (!one(i, val[i])) break;
    } else if (typeof val === 'number' && Number.isInteger(val)) {
      if (decl > 1) this.errorf(`can't use ${val} to iterate over more than one variable`);
      for (let i = 0; i < val; i++) if (!one(i, i)) break;
    } else if (val !== undefined && val !== null && typeof val === 'object') {
      for (const [k, v] of sortedEntries(val)) if (!one(k, v)) break;
    } else if (val !== undefined && val !== null) {
      this.errorf(`range can't iterate over ${formatValue(val)}`);
    }
    if (iterations === 0 && r.elseList) this.walk(dot, r.elseList);
    this.vars.length = mark;
  }

  private printValue(node: AnyNode, v: unknown): void {
    this.at(node);
    if (typeof v === 'function') this.errorf(`can't print ${nodeString(node)} of type func()`);
    this.out.push(v === undefined ? '<no value>' : formatValue(v));
  }

  private evalPipeline(dot: unknown, pipe: NPipe): unknown {
    this.at(pipe);
    let value: unknown = MISSING;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const v of pipe.decl) {
      const name = v.ident[0] ?? '';
      if (pipe.isAssign) this.setVar(name, value);
      else this.vars.push({ name, value });
    }
    return value;
  }

  private notAFunction(args: readonly Arg[] | null, final: Final): void {
    if ((args && args.length > 1) || final !== MISSING) {
      this.errorf(`can't give argument to non-function ${args?.[0] ? nodeString(args[0]) : ''}`);
    }
  }

  private evalCommand(dot: unknown, cmd: NCommand, final: Final): unknown {
    const first = cmd.args[0]!;
    switch (first.k) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.k) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        return this.errorf('nil is not a command');
      case 'number':
        return first.value;
      case 'string':
        return first.text;
    }
  }

  private evalFieldNode(dot: unknown, field: NField, args: readonly Arg[] | null, final: Final): unknown {
    this.at(field);
    return this.evalFieldChain(dot, dot, field, field.ident, args, final);
  }

  private evalChainNode(dot: unknown, chain: NChain, args: readonly Arg[] | null, final: Final): unknown {
    this.at(chain);
    if (chain.node.k === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const pipe = this.evalArg(dot, null, chain.node);
    return this.evalFieldChain(dot, pipe, chain, chain.fields, args, final);
  }

  private evalVariableNode(dot: unknown, v: NVariable, args: readonly Arg[] | null, final: Final): unknown {
    this.at(v);
    const value = this.varValue(v.ident[0] ?? '');
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.ident.slice(1), args, final);
  }

  private evalFieldChain(
    dot: unknown,
    receiver: unknown,
    node: AnyNode,
    ident: readonly string[],
    args: readonly Arg[] | null,
    final: Final,
  ): unknown {
    const n = ident.length;
    for (let i = 0; i < n - 1; i++) receiver = this.evalField(dot, ident[i]!, node, null, MISSING, receiver);
    return this.evalField(dot, ident[n - 1]!, node, args, final, receiver);
  }

  private missing(name: string): unknown {
    if (this.missingKey === 'error') this.errorf(`map has no entry for key ${quote(name)}`);
    return this.missingKey === 'zero' ? null : undefined;
  }

  private evalField(
    dot: unknown,
    name: string,
    node: AnyNode,
    args: readonly Arg[] | null,
    final: Final,
    receiver: unknown,
  ): unknown {
    if (receiver === undefined) {
      if (this.missingKey === 'error') this.errorf(`nil data; no entry for key ${quote(name)}`);
      return undefined;
    }
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    const hasArgs = (args !== null && args.length > 1) || final !== MISSING;
    if (typeof receiver === 'object' && !Array.isArray(receiver)) {
      if (receiver instanceof Map) {
        if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
        return receiver.has(name) ? receiver.get(name) : this.missing(name);
      }
      if (hasProperty(receiver, name)) {
        let value: unknown;
        try {
          value = (receiver as Record<string, unknown>)[name];
        } catch (e) {
          this.errorf(`error calling ${name}: ${(e as Error).message}`);
        }
        if (typeof value === 'function') {
          const fn = value as TemplateFunc;
          return this.evalCall(dot, { kind: 'free', fn, self: receiver, arity: fn.length }, node, name, args, final);
        }
        if (hasArgs) {
          this.errorf(
            this.objects === 'map'
              ? `${name} is not a method but has arguments`
              : `${name} has arguments but cannot be invoked as function`,
          );
        }
        return value;
      }
      if (this.objects === 'map') {
        if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
        return this.missing(name);
      }
      const own = (receiver as { [goType]?: unknown })[goType];
      const typeName = typeof own === 'string' ? own : receiver === this.root ? this.options.typeName : undefined;
      this.errorf(`can't evaluate field ${name} in type ${typeName ?? goTypeName(receiver)}`);
    }
    this.errorf(`can't evaluate field ${name} in type ${goTypeName(receiver)}`);
  }

  private evalFunction(
    dot: unknown,
    node: NIdentifier,
    cmd: AnyNode,
    args: readonly Arg[] | null,
    final: Final,
  ): unknown {
    this.at(node);
    const fn = this.funcs(node.name);
    if (!fn) this.errorf(`${quote(node.name)} is not a defined function`);
    return this.evalCall(dot, fn, cmd, node.name, args, final);
  }

  private evalCall(
    dot: unknown,
    fn: Callable,
    node: AnyNode,
    name: string,
    allArgs: readonly Arg[] | null,
    final: Final,
  ): unknown {
    const args = allArgs ? allArgs.slice(1) : [];
    const numIn = args.length + (final !== MISSING ? 1 : 0);
    let params: readonly ParamType[];
    let variadic: ParamType | undefined;
    if (fn.kind === 'spec') {
      params = fn.spec.params;
      variadic = fn.spec.variadic;
    } else if (fn.arity !== undefined) {
      params = new Array<ParamType>(fn.arity).fill('any');
    } else {
      params = [];
      variadic = 'any';
    }
    if (variadic) {
      if (numIn < params.length) {
        this.errorf(`wrong number of args for ${name}: want at least ${params.length} got ${args.length}`);
      }
    } else if (numIn !== params.length) {
      this.errorf(`wrong number of args for ${name}: want ${params.length} got ${numIn}`);
    }
    if (fn.kind === 'spec' && fn.spec === BUILTINS[name] && (name === 'and' || name === 'or')) {
      let v: unknown;
      for (const arg of args) {
        v = this.evalArg(dot, 'any', arg);
        if (isTrue(v) === (name === 'or')) return v;
      }
      if (final !== MISSING) v = this.validateType(final, 'any');
      return v;
    }
    const argv: unknown[] = [];
    args.forEach((arg, i) => argv.push(this.evalArg(dot, params[i] ?? variadic ?? 'any', arg)));
    if (final !== MISSING) {
      let t: ParamType;
      if (variadic) t = numIn - 1 < params.length ? params[numIn - 1]! : variadic;
      else t = params[params.length - 1] ?? 'any';
      argv.push(this.validateType(final, t));
    }
    try {
      if (fn.kind === 'spec') {
        if (fn.spec === BUILTINS['index']) return this.index(argv);
        return (fn.spec.fn as (...a: unknown[]) => unknown)(...argv);
      }
      return fn.fn.apply(fn.self, argv);
    } catch (e) {
      if (e instanceof TemplateError || e instanceof LoopControl) throw e;
      this.at(node);
      this.errorf(`error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private index(argv: unknown[]): unknown {
    let v = argv[0];
    for (const idx of argv.slice(1)) {
      if (v === undefined || v === null) throw new Error('index of untyped nil');
      if (typeof v === 'string') {
        const bytes = Buffer.from(v, 'utf8');
        const i = indexInt(idx);
        if (i < 0 || i >= bytes.length) throw new Error(`index out of range: ${i}`);
        v = bytes[i];
      } else if (Array.isArray(v)) {
        const i = indexInt(idx);
        if (i < 0 || i >= v.length) throw new Error(`index out of range: ${i}`);
        v = v[i];
      } else if (v instanceof Map) {
        v = v.has(idx) ? v.get(idx) : this.indexZero();
      } else if (isPlainObject(v)) {
        if (typeof idx !== 'string') throw new Error(`${goTypeName(idx)} is not index type for ${goTypeName(v)}`);
        v = Object.prototype.hasOwnProperty.call(v, idx) ? v[idx] : this.indexZero();
      } else {
        throw new Error(`can't index item of type ${goTypeName(v)}`);
      }
    }
    return v;
  }

  // A missing key's zero value: docker's typed maps are mostly map[string]string
  // (labels); decoded JSON (`objects: 'map'`) has interface{} values.
  private indexZero(): unknown {
    return this.objects === 'map' ? undefined : '';
  }

  private validateType(value: unknown, t: ParamType | null): unknown {
    if (t === null) return value;
    if (value === undefined) {
      if (t === 'any' || t === 'strings') return null;
      this.errorf(`invalid value; expected ${goParamType(t)}`);
    }
    let ok: boolean;
    switch (t) {
      case 'any':
        return value;
      case 'string':
        ok = typeof value === 'string';
        break;
      case 'int':
        ok = typeof value === 'number' && Number.isInteger(value);
        break;
      case 'bool':
        ok = typeof value === 'boolean';
        break;
      case 'strings':
        ok = value === null || (Array.isArray(value) && value.every((e) => typeof e === 'string'));
        break;
    }
    if (!ok) this.errorf(`wrong type for value; expected ${goParamType(t)}; got ${goTypeName(value)}`);
    return value;
  }

  private evalArg(dot: unknown, t: ParamType | null, n: Arg): unknown {
    this.at(n);
    switch (n.k) {
      case 'dot':
        return this.validateType(dot, t);
      case 'nil':
        if (t === null || t === 'any' || t === 'strings') return null;
        return this.errorf(`cannot assign nil to ${goParamType(t)}`);
      case 'field':
        return this.validateType(this.evalFieldNode(dot, n, [n], MISSING), t);
      case 'variable':
        return this.validateType(this.evalVariableNode(dot, n, null, MISSING), t);
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, n), t);
      case 'identifier':
        return this.validateType(this.evalFunction(dot, n, n, null, MISSING), t);
      case 'chain':
        return this.validateType(this.evalChainNode(dot, n, null, MISSING), t);
    }
    switch (t) {
      case 'bool':
        if (n.k === 'bool') return n.value;
        return this.errorf(`expected bool; found ${nodeString(n)}`);
      case 'int':
        if (n.k === 'number' && n.isInt) return n.value;
        return this.errorf(`expected integer; found ${nodeString(n)}`);
      case 'string':
        if (n.k === 'string') return n.text;
        return this.errorf(`expected string; found ${nodeString(n)}`);
      case 'strings':
        return this.errorf(`can't handle ${nodeString(n)} for arg of type []string`);
      default:
        return n.k === 'bool' ? n.value : n.k === 'number' ? n.value : n.text;
    }
  }
}

function goParamType(t: ParamType): string {
  return t === 'strings' ? '[]string' : t === 'any' ? 'interface {}' : t;
}

function hasProperty(obj: object, name: string): boolean {
  if (name === 'constructor' || name === '__proto__') return false;
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    if (Object.prototype.hasOwnProperty.call(o, name)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------

/**
 * Parse a Go template once; the result runs it over one data value per call.
 * Throws TemplateError (phase 'parse') with Go's message, e.g.
 * `template: :1: function "x" not defined`.
 */
export function compileTemplate(src: string, options: CompileOptions = {}): CompiledTemplate {
  const name = options.name ?? '';
  const compileFuncs = options.funcs ?? {};
  const known = (fn: string): boolean => fn in BUILTINS || fn in compileFuncs;
  const root = new Parser(lex(src), name, known).parse();
  return (data: unknown, exec: ExecuteOptions = {}): string => {
    const lookup = (fn: string): Callable | undefined => {
      const f = exec.funcs?.[fn] ?? compileFuncs[fn] ?? BUILTINS[fn];
      if (f === undefined) return undefined;
      return isSpec(f) ? { kind: 'spec', spec: f } : { kind: 'free', fn: f };
    };
    const state = new State(src, name, lookup, data, exec);
    try {
      state.walk(data, root);
    } catch (e) {
      if (exec.partialOnError && e instanceof TemplateError) return state.out.join('');
      throw e;
    }
    return state.out.join('');
  };
}
