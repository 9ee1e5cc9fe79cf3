// Go's value printing, as docker's templates produce it: fmt's %v and Printf
// verbs, strconv's float formatting and quoting, and encoding/json as docker's
// `json` template function calls it.
//
// JS values stand in for Go values like this: string → string, integral number
// → int, other number → float64, boolean → bool, null → nil, undefined → the
// invalid value (a missing map key), array → slice, Map → map, other object →
// map (or struct, for field access; see template.ts), function → method/func.

/** Whether a JS number stands for a Go int (integral and exactly representable) rather than a float64. */
export function isGoInt(v: number): boolean {
  return Number.isSafeInteger(v) && !Object.is(v, -0);
}

/** The Go type name docker would show for a value, for error messages. */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return isGoInt(v) ? 'int' : 'float64';
    case 'bigint':
      return 'int64';
    case 'boolean':
      return 'bool';
    case 'function':
      return 'func()';
  }
  if (Array.isArray(v)) return v.every((e) => typeof e === 'string') ? '[]string' : '[]interface {}';
  return 'map[string]interface {}';
}

// ---------------------------------------------------------------------------
// Floats (strconv.FormatFloat)

interface Digits {
  d: string; // significant digits, no leading or trailing zeros ('' for zero)
  dp: number; // decimal point position: value = 0.d × 10^dp
}

function parseExponential(s: string): Digits {
  const e = s.indexOf('e');
  const mantissa = s.slice(0, e).replace('.', '');
  const d = mantissa.replace(/0+$/, '');
  return { d, dp: Number(s.slice(e + 1)) + 1 };
}

/** Shortest digits that round-trip, like strconv with precision -1. */
function shortestDigits(x: number): Digits {
  return x === 0 ? { d: '', dp: 0 } : parseExponential(x.toExponential());
}

/**
 * Digits of x rounded to nd significant digits, half to even on the exact
 * binary value (as strconv's decimal rounding does). toExponential(100) is
 * exact for every double with a decimal expansion of up to 101 digits, which
 * covers all values where a tie can occur at a useful precision.
 */
function exactDigits(x: number): Digits {
  if (x === 0) return { d: '', dp: 0 };
  if (x >= 1e100) {
    // Integral, possibly with more than 101 digits: BigInt has them all.
    const all = BigInt(x).toString();
    return { d: all.replace(/0+$/, ''), dp: all.length };
  }
  return parseExponential(x.toExponential(100));
}

function roundDigits(exact: Digits, nd: number): Digits {
  const { d, dp } = exact;
  if (nd < 0 || nd >= d.length) return exact;
  const next = d.charCodeAt(nd) - 48;
  let up: boolean;
  if (next !== 5 || nd + 1 < d.length) up = next >= 5;
  else up = nd > 0 && (d.charCodeAt(nd - 1) - 48) % 2 === 1; // exact tie: to even
  if (!up) return { d: d.slice(0, nd).replace(/0+$/, ''), dp };
  let i = nd - 1;
  while (i >= 0 && d[i] === '9') i--;
  if (i < 0) return { d: '1', dp: dp + 1 };
  return { d: d.slice(0, i) + String.fromCharCode(d.charCodeAt(i) + 1), dp };
}

function fmtE(neg: boolean, { d, dp }: Digits, prec: number, ch: string): string {
  let s = neg ? '-' : '';
  s += d.length === 0 ? '0' : d[0];
  if (prec > 0) {
    s += '.';
    const frac = d.slice(1, Math.min(d.length, prec + 1));
    s += frac + '0'.repeat(prec - frac.length);
  }
  let exp = d.length === 0 ? 0 : dp - 1;
  s += ch;
  if (exp < 0) {
    s += '-';
    exp = -exp;
  } else {
    s += '+';
  }
  return s + (exp < 10 ? '0' : '') + String(exp);
}

function fmtF(neg: boolean, { d, dp }: Digits, prec: number): string {
  let s = neg ? '-' : '';
  if (dp > 0) {
    const m = Math.min(d.length, dp);
    s += d.slice(0, m) + '0'.repeat(dp - m);
  } else {
    s += '0';
  }
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = dp + i - 1;
      s += j >= 0 && j < d.length ? d[j] : '0';
    }
  }
  return s;
}

/** strconv.FormatFloat(x, fmt, prec, 64); prec -1 means shortest. */
export function formatFloat(x: number, fmt: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  const shortest = prec < 0;
  let digs: Digits;
  if (shortest) {
    digs = shortestDigits(a);
    if (fmt === 'e' || fmt === 'E') prec = Math.max(digs.d.length - 1, 0);
    else if (fmt === 'f') prec = Math.max(digs.d.length - digs.dp, 0);
    else prec = digs.d.length;
  } else if (fmt === 'e' || fmt === 'E') {
    digs = roundDigits(exactDigits(a), prec + 1);
  } else if (fmt === 'f') {
    const exact = exactDigits(a);
    digs = roundDigits(exact, exact.dp + prec);
  } else {
    if (prec === 0) prec = 1;
    digs = roundDigits(exactDigits(a), prec);
  }
  if (fmt === 'e' || fmt === 'E') return fmtE(neg, digs, prec, fmt);
  if (fmt === 'f') return fmtF(neg, digs, prec);
  const nd = digs.d.length;
  let eprec = prec;
  if (eprec > nd && nd >= digs.dp) eprec = nd;
  if (shortest) eprec = 6;
  const exp = digs.dp - 1;
  if (exp < -4 || exp >= eprec) {
    if (prec > nd) prec = nd;
    return fmtE(neg, digs, prec - 1, fmt === 'g' ? 'e' : 'E');
  }
  if (prec > digs.dp) prec = nd;
  return fmtF(neg, digs, Math.max(prec - digs.dp, 0));
}

// ---------------------------------------------------------------------------
// Quoting (strconv.Quote)

const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

function isPrint(cp: number): boolean {
  if (cp < 0x7f) return cp >= 0x20;
  if (cp < 0xa1) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  return PRINTABLE.test(String.fromCodePoint(cp));
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function escapeRune(cp: number, quote: number): string {
  if (cp === quote || cp === 0x5c) return '\\' + String.fromCodePoint(cp);
  if (isPrint(cp)) return String.fromCodePoint(cp);
  switch (cp) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return '\\x' + hex(cp, 2);
  if (cp >= 0xd800 && cp <= 0xdfff) return '\\ufffd';
  if (cp < 0x10000) return '\\u' + hex(cp, 4);
  return '\\U' + hex(cp, 8);
}

/** strconv.Quote: a double-quoted Go string literal. */
export function quote(s: string): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch.codePointAt(0) ?? 0, 0x22);
  return out + '"';
}

/** strconv.QuoteRune: a single-quoted Go character literal. */
export function quoteRune(cp: number): string {
  if (cp < 0 || cp > 0x10ffff) cp = 0xfffd;
  return "'" + escapeRune(cp, 0x27) + "'";
}

// ---------------------------------------------------------------------------
// %v

function isStringer(v: object): v is { toString(): string } {
  // An object with its own toString (a class method, not Object's) prints
  // through it, as a Go value implementing fmt.Stringer does.
  const f = (v as { toString?: unknown }).toString;
  return typeof f === 'function' && f !== Object.prototype.toString && !Array.isArray(v) && !(v instanceof Map);
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Entries of a Map or plain object, sorted by key as fmt and text/template sort map keys. */
export function sortedEntries(v: object): [unknown, unknown][] {
  const entries: [unknown, unknown][] =
    v instanceof Map ? [...(v as Map<unknown, unknown>).entries()] : Object.entries(v);
  return entries
    .filter(([, value]) => typeof value !== 'function')
    .sort((a, b) => compareKeys(a[0], b[0]));
}

/** fmt's %v of a value (fmt.Sprint of one operand). */
export function formatValue(v: unknown): string {
  return formatVerb(v, 'v', NO_FLAGS);
}

// ---------------------------------------------------------------------------
// Printf

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number; // -1: none
  prec: number; // -1: none
}

const NO_FLAGS: Flags = { plus: false, minus: false, sharp: false, space: false, zero: false, width: -1, prec: -1 };

function pad(s: string, f: Flags, zeroOk: boolean): string {
  if (f.width < 0) return s;
  let n = 0;
  for (const _ of s) n++;
  if (n >= f.width) return s;
  const fill = f.width - n;
  if (f.minus) return s + ' '.repeat(fill);
  if (f.zero && zeroOk) {
    const sign = s[0] === '-' || s[0] === '+' || s[0] === ' ' ? s[0] : '';
    return sign + '0'.repeat(fill) + s.slice(sign.length);
  }
  return ' '.repeat(fill) + s;
}

function badVerb(v: unknown, verb: string): string {
  if (v === null || v === undefined) return `%!${verb}(<nil>)`;
  return `%!${verb}(${goTypeName(v)}=${formatValue(v)})`;
}

function fmtInteger(n: number | bigint, verb: string, f: Flags): string {
  const big = typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
  const neg = big < 0n;
  const abs = neg ? -big : big;
  let digits: string;
  let prefix = '';
  switch (verb) {
    case 'b':
      digits = abs.toString(2);
      if (f.sharp) prefix = '0b';
      break;
    case 'o':
    case 'O':
      digits = abs.toString(8);
      if (verb === 'O') prefix = '0o';
      else if (f.sharp && digits !== '0') prefix = '0';
      break;
    case 'x':
      digits = abs.toString(16);
      if (f.sharp) prefix = '0x';
      break;
    case 'X':
      digits = abs.toString(16).toUpperCase();
      if (f.sharp) prefix = '0X';
      break;
    case 'c':
      return pad(String.fromCodePoint(Number(abs) <= 0x10ffff ? Number(big) : 0xfffd), f, false);
    case 'q':
      return pad(quoteRune(Number(big)), f, false);
    case 'U': {
      let s = 'U+' + abs.toString(16).toUpperCase().padStart(4, '0');
      if (f.sharp && isPrint(Number(abs))) s += " '" + String.fromCodePoint(Number(abs)) + "'";
      return pad(s, f, false);
    }
    default:
      digits = abs.toString(10);
  }
  if (f.prec >= 0) {
    if (f.prec === 0 && abs === 0n) digits = '';
    else digits = digits.padStart(f.prec, '0');
  }
  const sign = neg ? '-' : f.plus ? '+' : f.space ? ' ' : '';
  return pad(sign + prefix + digits, f, f.prec < 0);
}

function fmtFloatVerb(x: number, verb: string, f: Flags): string {
  let s: string;
  switch (verb) {
    case 'v':
    case 'g':
    case 'G':
      s = formatFloat(x, verb === 'G' ? 'G' : 'g', f.prec);
      break;
    case 'e':
    case 'E':
      s = formatFloat(x, verb, f.prec < 0 ? 6 : f.prec);
      break;
    default: // f, F
      s = formatFloat(x, 'f', f.prec < 0 ? 6 : f.prec);
  }
  if (f.plus && s[0] !== '-' && s[0] !== '+') s = '+' + s;
  else if (f.space && s[0] !== '-' && s[0] !== '+') s = ' ' + s;
  else if (s === '+Inf' && !f.plus) s = 'Inf';
  return pad(s, f, Number.isFinite(x));
}

function fmtString(s: string, verb: string, f: Flags): string {
  if (f.prec >= 0) s = Array.from(s).slice(0, f.prec).join('');
  switch (verb) {
    case 'q':
      return pad(quote(s), f, false);
    case 'x':
    case 'X': {
      const bytes = Buffer.from(s, 'utf8');
      const parts: string[] = [];
      for (const b of bytes) parts.push((f.sharp && (f.space || parts.length === 0) ? '0x' : '') + hex(b, 2));
      const out = parts.join(f.space ? ' ' : '');
      return pad(verb === 'X' ? out.toUpperCase() : out, f, false);
    }
    default:
      return pad(s, f, false);
  }
}

function formatVerb(v: unknown, verb: string, f: Flags): string {
  if (v === null || v === undefined) return verb === 'v' ? pad('<nil>', f, false) : badVerb(v, verb);
  switch (typeof v) {
    case 'boolean':
      return verb === 'v' || verb === 't' ? pad(String(v), f, false) : badVerb(v, verb);
    case 'bigint':
      return 'bdoOxXcqUv'.includes(verb) ? fmtInteger(v, verb === 'v' ? 'd' : verb, f) : badVerb(v, verb);
    case 'number':
      if (isGoInt(v)) {
        if ('bdoOxXcqUv'.includes(verb)) {
          if (verb === 'v' && f.prec < 0 && !f.plus && !f.space) return pad(String(v), f, true);
          return fmtInteger(v, verb === 'v' ? 'd' : verb, f);
        }
        // Lenient: an integral JS number may stand for a Go float64.
        return 'eEfFgG'.includes(verb) ? fmtFloatVerb(v, verb, f) : badVerb(v, verb);
      }
      return 'eEfFgGv'.includes(verb) ? fmtFloatVerb(v, verb, f) : badVerb(v, verb);
    case 'string':
      return 'vsqxX'.includes(verb) ? fmtString(v, verb, f) : badVerb(v, verb);
    case 'function':
      return verb === 'v' ? pad('func', f, false) : badVerb(v, verb);
    case 'symbol':
      return badVerb(String(v), verb);
  }
  const obj = v as object;
  if (Array.isArray(obj)) return '[' + obj.map((e) => formatVerb(e, verb, f)).join(' ') + ']';
  if (isStringer(obj) && 'vsqxX'.includes(verb)) return fmtString(obj.toString(), verb, f);
  const parts = sortedEntries(obj).map(([k, val]) => formatVerb(k, verb, f) + ':' + formatVerb(val, verb, f));
  return 'map[' + parts.join(' ') + ']';
}

function isStringValue(v: unknown): boolean {
  return typeof v === 'string';
}

/** fmt.Sprint: operands in %v, with spaces between operands when neither is a string. */
export function sprint(args: readonly unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && !isStringValue(a) && !isStringValue(args[i - 1])) out += ' ';
    out += formatValue(a);
  });
  return out;
}

/** fmt.Sprintln: operands in %v, always space-separated, with a newline. */
export function sprintln(args: readonly unknown[]): string {
  return args.map((a) => formatValue(a)).join(' ') + '\n';
}

function intArg(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** fmt.Sprintf for the verbs docker templates use (v s q d t x X o b c U e f g %). */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  const end = format.length;
  while (i < end) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const f: Flags = { ...NO_FLAGS };
    for (; i < end; i++) {
      const c = format[i];
      if (c === '+') f.plus = true;
      else if (c === '-') f.minus = true;
      else if (c === '#') f.sharp = true;
      else if (c === ' ') f.space = true;
      else if (c === '0') f.zero = !f.minus;
      else break;
    }
    if (format[i] === '*') {
      i++;
      const w = intArg(args[argi++]);
      if (w === undefined) out += '%!(BADWIDTH)';
      else if (w < 0) {
        f.minus = true;
        f.zero = false;
        f.width = -w;
      } else f.width = w;
    } else {
      const m = /^\d+/.exec(format.slice(i));
      if (m) {
        f.width = Number(m[0]);
        i += m[0].length;
      }
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = intArg(args[argi++]);
        if (p === undefined || p < 0) {
          if (p === undefined) out += '%!(BADPREC)';
          f.prec = -1;
        } else f.prec = p;
      } else {
        const m = /^\d+/.exec(format.slice(i));
        f.prec = m ? Number(m[0]) : 0;
        if (m) i += m[0].length;
      }
    }
    if (i >= end) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i) ?? 0);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argi++];
    if (verb === 'T') out += pad(goTypeName(arg), f, false);
    else out += formatVerb(arg, verb, f);
  }
  if (argi < args.length) {
    const extra = args.slice(argi).map((a) => (a === null || a === undefined ? '<nil>' : `${goTypeName(a)}=${formatValue(a)}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON (encoding/json with SetEscapeHTML(false), as docker's `json` function)

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A Go nil map: reads as an empty map, encodes as JSON null. */
export const NIL_MAP: ReadonlyMap<string, unknown> = new Map<string, unknown>();

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value === NIL_MAP) return null;
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of sortedEntries(value)) out[String(k)] = v;
    return out;
  }
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/**
 * Go's JSON encoding of a value as docker's `json` function prints it: compact,
 * no HTML escaping, U+2028/U+2029 escaped. Maps are written with sorted keys,
 * plain objects in their own key order (like Go structs) unless `sortKeys`
 * asks for the top-level object's keys sorted (docker's list rows are Go maps).
 * Unencodable values give '' (docker ignores the encoder's error).
 */
export function goJson(v: unknown, sortKeys = false): string {
  if (v === undefined || v === NIL_MAP) return 'null';
  if (sortKeys && isPlainObject(v)) {
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = v[k];
    v = sorted;
  }
  let s: string | undefined;
  try {
    s = JSON.stringify(v, jsonReplacer);
  } catch {
    return '';
  }
  if (s === undefined) return '';
  return s.replace(/[\u2028\u2029]/g, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}
