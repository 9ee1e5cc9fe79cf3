// Small ports of the Go standard library behaviour Docker's Dockerfile code relies on, so that
// the texts we produce (history `created_by`, error messages) and the values we accept
// (durations, whitespace) are the ones Docker produces and accepts: strconv.Quote, fmt's %v of a
// []string, time.Duration's String and ParseDuration, unicode.IsSpace, path.Clean, and the
// Levenshtein suggestion ("did you mean …?") BuildKit adds to unknown names.

/** Go's unicode.IsSpace. */
export function isGoSpace(ch: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]$/u.test(ch);
}

export function trimLeftGoSpace(s: string): string {
  let i = 0;
  const cps = [...s];
  while (i < cps.length && isGoSpace(cps[i]!)) i++;
  return cps.slice(i).join('');
}

export function trimGoSpace(s: string): string {
  const cps = [...s];
  let a = 0;
  let b = cps.length;
  while (a < b && isGoSpace(cps[a]!)) a++;
  while (b > a && isGoSpace(cps[b - 1]!)) b--;
  return cps.slice(a, b).join('');
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      out += '\\ufffd'; // a lone surrogate: Go would see invalid UTF-8
    } else if (PRINTABLE.test(ch)) {
      out += ch;
    } else if (c < 0x80) {
      out += `\\x${c.toString(16).padStart(2, '0')}`;
    } else if (c < 0x10000) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else {
      out += `\\U${c.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}

/** fmt.Sprintf("%q", []string{...}): `["a" "b"]`. */
export function goQuoteList(list: readonly string[] | null): string {
  return `[${(list ?? []).map(goQuote).join(' ')}]`;
}

/** fmt.Sprintf("%v", []string{...}): `[a b]`. */
export function goList(list: readonly string[] | null): string {
  return `[${(list ?? []).join(' ')}]`;
}

const NS = 1;
const US = 1000 * NS;
const MS = 1000 * US;
const SECOND = 1000 * MS;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function fraction(v: bigint, prec: number): string {
  // v has `prec` decimal digits of fraction; drop trailing zeros.
  let digits = '';
  let print = false;
  let w = v;
  for (let i = 0; i < prec; i++) {
    const d = w % 10n;
    print = print || d !== 0n;
    if (print) digits = `${d}${digits}`;
    w /= 10n;
  }
  return digits === '' ? String(w) : `${w}.${digits}`;
}

/** Go's time.Duration.String() for a duration in nanoseconds. */
export function formatGoDuration(nanoseconds: number): string {
  let u = BigInt(Math.trunc(nanoseconds));
  const neg = u < 0n;
  if (neg) u = -u;
  let out: string;
  if (u < BigInt(SECOND)) {
    if (u === 0n) return '0s';
    if (u < BigInt(US)) out = `${u}ns`;
    else if (u < BigInt(MS)) out = `${fraction(u, 3)}µs`;
    else out = `${fraction(u, 6)}ms`;
  } else {
    const secs = u / BigInt(SECOND);
    const frac = u % BigInt(SECOND);
    const s = secs % 60n;
    const mins = secs / 60n;
    let secText = String(s);
    if (frac !== 0n) {
      let f = frac.toString().padStart(9, '0');
      f = f.replace(/0+$/, '');
      secText += `.${f}`;
    }
    out = `${secText}s`;
    if (mins > 0n) {
      const m = mins % 60n;
      const h = mins / 60n;
      out = `${m}m${out}`;
      if (h > 0n) out = `${h}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

const UNITS: Record<string, number> = { ns: NS, us: US, 'µs': US, 'μs': US, ms: MS, s: SECOND, m: MINUTE, h: HOUR };

/** Go's time.ParseDuration, in nanoseconds. Throws Go's error text. */
export function parseGoDuration(text: string): number {
  const orig = text;
  const quoted = goQuote(orig);
  let s = text;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration ${quoted}`);
  let total = 0;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2];
    if (whole === '' && (frac === undefined || frac === '')) throw new Error(`time: invalid duration ${quoted}`);
    s = s.slice(m![0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === '') throw new Error(`time: missing unit in duration ${quoted}`);
    const unit = UNITS[u];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(u)} in duration ${quoted}`);
    s = s.slice(u.length);
    let v = (whole === '' ? 0 : Number(whole)) * unit;
    if (frac !== undefined && frac !== '') v += Number(`0.${frac}`) * unit;
    total += v;
    if (total > 9223372036854775807) throw new Error(`time: invalid duration ${quoted}`);
  }
  total = Math.trunc(total);
  return neg ? -total : total;
}

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

function levenshtein(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[y.length]!;
}

/** BuildKit's suggest.WrapError: ` (did you mean X?)` when an option is within distance 2. */
export function suggestion(value: string, options: readonly string[], caseSensitive: boolean): string {
  const val = caseSensitive ? value : value.toLowerCase();
  let match = '';
  let best = 3;
  for (const option of options) {
    const opt = caseSensitive ? option : option.toLowerCase();
    if (val === opt) return '';
    const d = levenshtein(val, opt);
    if (d < best) {
      best = d;
      match = caseSensitive ? opt : value === value.toLowerCase() ? opt.toLowerCase() : value === value.toUpperCase() ? opt.toUpperCase() : opt;
    }
  }
  return match === '' ? '' : ` (did you mean ${match}?)`;
}
