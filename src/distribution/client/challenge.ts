// `WWW-Authenticate` challenges (RFC 7235 §4.1): `Bearer realm="…",service="…",scope="…"` and
// `Basic realm="…"`, possibly several in one header or in several headers.

export interface Challenge {
  /** Lower-case: `bearer`, `basic`, … */
  readonly scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** Every challenge in the given header value(s); malformed parts are skipped, never thrown. */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const out: Challenge[] = [];
  for (const value of values) out.push(...parseOne(value));
  return out;
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const skipSeparators = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < s.length) {
    skipSeparators();
    const m = TOKEN.exec(s.slice(i));
    if (!m) {
      i++;
      continue;
    }
    const word = m[0];
    const after = i + word.length;
    // A parameter is `name = value`; anything else starting a token is a new scheme.
    let j = after;
    while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
    if (current !== undefined && s[j] === '=' && s[j + 1] !== '=') {
      i = j + 1;
      skipSpace();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const v = TOKEN.exec(s.slice(i)) ?? /^[^,\s]*/.exec(s.slice(i));
        value = v?.[0] ?? '';
        i += value.length;
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    // token68 (e.g. `Negotiate abc==`) after a scheme: skip it
    if (current !== undefined && Object.keys(current.params).length === 0 && s[j] === '=') {
      i = j;
      while (i < s.length && s[i] !== ',') i++;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    i = after;
  }
  return out;
}

/** The first challenge of a scheme we can answer: Bearer before Basic. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params.realm !== undefined) ?? challenges.find((c) => c.scheme === 'basic');
}
