import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFloat, formatValue, goJson, NIL_MAP, quote, sprint, sprintf, sprintln } from './gofmt.ts';

// Expected strings were produced by Go itself: the docker 28.2.2 client's
// `docker version --format '{{printf …}}'` runs Go's fmt and strconv.

describe('formatFloat (strconv.FormatFloat)', () => {
  it('formats shortest %v/%g with exponents from 1e+06 and below 1e-04', () => {
    assert.equal(formatFloat(1000000, 'g', -1), '1e+06');
    assert.equal(formatFloat(123456, 'g', -1), '123456');
    assert.equal(formatFloat(0.5, 'g', -1), '0.5');
    assert.equal(formatFloat(1234567.5, 'g', -1), '1.2345675e+06');
    assert.equal(formatFloat(0.00012345, 'g', -1), '0.00012345');
    assert.equal(formatFloat(2.5e-5, 'g', -1), '2.5e-05');
    assert.equal(formatFloat(0, 'g', -1), '0');
    assert.equal(formatFloat(1.5e300, 'g', -1), '1.5e+300');
  });

  it('rounds %.Ng to N significant digits, half to even on the exact binary value', () => {
    assert.equal(formatFloat(999.999, 'g', 3), '1e+03');
    assert.equal(formatFloat(4.1, 'g', 3), '4.1');
    assert.equal(formatFloat(1.125, 'g', 3), '1.12'); // exact tie: to even
    assert.equal(formatFloat(2.675, 'g', 3), '2.67'); // 2.67499999…
    assert.equal(formatFloat(0, 'g', 3), '0');
    assert.equal(formatFloat(100, 'g', 3), '100');
    assert.equal(formatFloat(1.0005, 'g', 4), '1');
    assert.equal(formatFloat(9.9995, 'g', 4), '9.999');
  });

  it('formats %e and %f with their precision', () => {
    assert.equal(formatFloat(1234.5678, 'e', 6), '1.234568e+03');
    assert.equal(formatFloat(1234.5678, 'e', 2), '1.23e+03');
    assert.equal(formatFloat(0, 'e', 6), '0.000000e+00');
    assert.equal(formatFloat(-3.14159, 'f', 3), '-3.142');
    assert.equal(formatFloat(0.125, 'f', 2), '0.12');
    assert.equal(formatFloat(2.5, 'f', 0), '2');
    assert.equal(formatFloat(5.5, 'e', 0), '6e+00');
    assert.equal(formatFloat(1e21, 'f', 0), '1000000000000000000000');
    assert.equal(
      formatFloat(1.5e300, 'f', 0),
      '1500000000000000078757140382806630373056702871662238732373781173267703686983362293679557062620671796065556665749325817265413784853040645863467188277180060474272580801389863705606745350692182135089053429852456199917621678558451461320111979114170213741868888183230085264257173504208294580298189100810240',
    );
  });
});

describe('quote (strconv.Quote)', () => {
  it('escapes quotes, backslashes and non-printable runes, keeps printable Unicode', () => {
    assert.equal(quote('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(quote('tab\there\x01\x7f'), '"tab\\there\\x01\\x7f"');
    assert.equal(quote('é日本\u00a0\u2028😀'), '"é日本\\u00a0\\u2028😀"');
    assert.equal(quote('\u200b\ufeff'), '"\\u200b\\ufeff"');
    assert.equal(quote("sh -c 'echo…"), `"sh -c 'echo…"`);
  });
});

describe('sprintf (fmt.Sprintf)', () => {
  it('formats the common verbs with flags, width and precision', () => {
    assert.equal(
      sprintf('%5.2f|%-4s|%q|%d|%s|%x|%05d|%t', [3.14159, 'ab', 'x\ny', 42, 42, 'hi', 42, true]),
      ' 3.14|ab  |"x\\ny"|42|%!s(int=42)|6869|00042|true',
    );
    assert.equal(
      sprintf('%5.1s|%-5s|%05d|%+d|% d|%x|%o|%b|%#o|%08.3f|%-8.2f|', ['abc', 'é', 42, 5, 5, -255, 8, 5, 8, -3.14159, 2.5]),
      '    a|é    |00042|+5| 5|-ff|10|101|010|-003.142|2.50    |',
    );
    assert.equal(
      sprintf('%x|%X|% x|%#x|% #x|%c|%U|%#U|%q', ['hé', 'hé', 'ab', 'ab', 'ab', 65, 128512, 128512, 65]),
      "68c3a9|68C3A9|61 62|0x6162|0x61 0x62|A|U+1F600|U+1F600 '😀'|'A'",
    );
    assert.equal(sprintf('%*d|%-*d|%.*f', [5, 1, 4, 2, 2, 3.14159]), '    1|2   |3.14');
    assert.equal(sprintf('100%%', []), '100%');
  });

  it('reports missing, extra and mismatched arguments like Go', () => {
    assert.equal(sprintf('%s %d', []), '%!s(MISSING) %!d(MISSING)');
    assert.equal(sprintf('%d', ['x', 3]), '%!d(string=x)%!(EXTRA int=3)');
    assert.equal(sprintf('%d %d', [1, 2, 3, 'x']), '1 2%!(EXTRA int=3, string=x)');
    assert.equal(sprintf('%z', [1]), '%!z(int=1)');
    assert.equal(sprintf('%', []), '%!(NOVERB)');
    assert.equal(sprintf('%t', [1]), '%!t(int=1)');
    assert.equal(sprintf('%d %s', [null, null]), '%!d(<nil>) %!s(<nil>)');
    assert.equal(sprintf('%v', [null]), '<nil>');
  });

  it('applies the verb to each element of a list', () => {
    assert.equal(sprintf('%s', [['a', 'b']]), '[a b]');
    assert.equal(sprintf('%q', [['a', 'b']]), '["a" "b"]');
    assert.equal(sprintf('%d', [['a']]), '[%!d(string=a)]');
    assert.equal(sprintf('%5s|', [['a', 'b']]), '[    a     b]|');
  });
});

describe('formatValue, sprint, sprintln (%v)', () => {
  it('prints maps with sorted keys, lists in brackets, nil as <nil>', () => {
    assert.equal(formatValue(new Map<string, unknown>([['b', 1], ['a', 'x']])), 'map[a:x b:1]');
    assert.equal(formatValue({ z: [1, 'two'], a: null }), 'map[a:<nil> z:[1 two]]');
    assert.equal(formatValue(NIL_MAP), 'map[]');
    assert.equal(formatValue(true), 'true');
    assert.equal(formatValue(-7), '-7');
  });

  it('adds spaces between operands only when neither is a string (Sprint)', () => {
    assert.equal(sprint(['a', 1, 2, 'b', true, false, null]), 'a1 2btrue false <nil>');
    assert.equal(sprintln([1, 'a']), '1 a\n');
    assert.equal(sprintln([]), '\n');
  });
});

describe('goJson (docker json function)', () => {
  it('does not escape HTML but escapes U+2028/U+2029 and control characters', () => {
    assert.equal(goJson('<a&b>\u2028\u2029\x01\x1f\t\n\r\b\f"\\é'), '"<a&b>\\u2028\\u2029\\u0001\\u001f\\t\\n\\r\\b\\f\\"\\\\é"');
  });

  it('encodes Maps with sorted keys, objects in their own order, nil as null', () => {
    assert.equal(goJson({ b: 1, a: new Map([['y', 1], ['x', 2]]) }), '{"b":1,"a":{"x":2,"y":1}}');
    assert.equal(goJson({ b: 1, a: 2 }, true), '{"a":2,"b":1}');
    assert.equal(goJson(undefined), 'null');
    assert.equal(goJson(null), 'null');
    assert.equal(goJson(NIL_MAP), 'null');
    assert.equal(goJson({ m: NIL_MAP }), '{"m":null}');
    assert.equal(goJson([1.5, 100, true]), '[1.5,100,true]');
  });

  it('gives an empty string for unencodable values, as docker ignores the error', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.equal(goJson(cyclic), '');
    assert.equal(goJson(() => 1), '');
  });
});
