import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envLookupOf, processWord, processWords } from './lex.ts';

const env = envLookupOf(['HOME=/root', 'NAME=world', 'EMPTY=', 'PATHS=/a/b/c.tar.gz', 'SPACED=a  b']);
const word = (w: string, escapeToken?: string): string => processWord(w, env, { escapeToken });

test('plain, braced and unset variables', () => {
  assert.equal(word('hello $NAME'), 'hello world');
  assert.equal(word('${NAME}s'), 'worlds');
  assert.equal(word('$NAMEs'), '');
  assert.equal(word('x${UNSET}y'), 'xy');
  assert.equal(word('$'), '$');
  assert.equal(word('a$.b'), 'a$.b');
  assert.equal(word('$1x'), 'x', 'a positional parameter is unset');
});

test('default and alternative values', () => {
  assert.equal(word('${UNSET:-def}'), 'def');
  assert.equal(word('${EMPTY:-def}'), 'def');
  assert.equal(word('${EMPTY-def}'), '', 'without the colon an empty value counts as set');
  assert.equal(word('${NAME:-def}'), 'world');
  assert.equal(word('${NAME:+alt}'), 'alt');
  assert.equal(word('${UNSET:+alt}'), '');
  assert.equal(word('${EMPTY:+alt}'), '');
  assert.equal(word('${EMPTY+alt}'), 'alt');
  assert.equal(word('${UNSET:-${NAME:-x}}'), 'world', 'nested');
  assert.equal(word('${UNSET:-$HOME/x}'), '/root/x');
});

test('required values fail with the message given', () => {
  assert.throws(() => word('${UNSET:?must be set}'), /failed to process "\$\{UNSET:\?must be set\}": UNSET: must be set/);
  assert.throws(() => word('${EMPTY:?}'), /EMPTY: is not allowed to be empty/);
  assert.throws(() => word('${UNSET?}'), /UNSET: is not allowed to be unset/);
  assert.equal(word('${EMPTY?}'), '');
});

test('prefix, suffix and replacement patterns', () => {
  assert.equal(word('${PATHS#*/}'), 'a/b/c.tar.gz');
  assert.equal(word('${PATHS##*/}'), 'c.tar.gz');
  assert.equal(word('${PATHS%.*}'), '/a/b/c.tar');
  assert.equal(word('${PATHS%%.*}'), '/a/b/c');
  assert.equal(word('${PATHS/b/X}'), '/a/X/c.tar.gz');
  assert.equal(word('${NAME//o/0}'), 'w0rld');
  assert.equal(word('${NAME/?/W}'), 'World');
});

test('quotes are removed; single quotes keep $ and escapes', () => {
  assert.equal(word('"hello $NAME"'), 'hello world');
  assert.equal(word("'hello $NAME'"), 'hello $NAME');
  assert.equal(word(`"it's"`), "it's");
  assert.equal(word(`he'll'o`), 'hello');
  assert.equal(word(`'a\\b'`), 'a\\b');
  assert.equal(word('"a\\"b"'), 'a"b');
  assert.equal(word('"a\\tb"'), 'a\\tb', 'inside double quotes only " $ and the escape are escapable');
});

test('escapes: \\$ is a literal dollar, a lone escape is dropped', () => {
  assert.equal(word('\\$NAME'), '$NAME');
  assert.equal(word('\\${NAME}'), '${NAME}');
  assert.equal(word('a\\tb'), 'atb');
  assert.equal(word('end\\'), 'end');
  assert.equal(word('\\\\$NAME'), '\\world');
});

test('the backtick escape token', () => {
  assert.equal(word('`$NAME', '`'), '$NAME');
  assert.equal(word('C:\\path\\$NAME', '`'), 'C:\\path\\world');
});

test('syntax errors read like Docker', () => {
  assert.throws(() => word('${NAME'), /^Error: failed to process "\$\{NAME": syntax error: missing '\}'$/);
  assert.throws(() => word('${}'), /syntax error: bad substitution/);
  assert.throws(() => word('${:x}'), /bad substitution/);
  assert.throws(() => word('"unterminated'), /unexpected end of statement while looking for matching double-quote/);
  assert.throws(() => word("'unterminated"), /matching single-quote/);
  assert.throws(() => word('${NAME:=x}'), /unsupported modifier \(:=\) in substitution/);
});

test('word splitting happens after substitution, quotes keep words together', () => {
  assert.deepEqual(processWords('a $SPACED b', env), ['a', 'a', 'b', 'b']);
  assert.deepEqual(processWords('a "$SPACED" b', env), ['a', 'a  b', 'b']);
  assert.deepEqual(processWords('80 443/udp', env), ['80', '443/udp']);
  assert.deepEqual(processWords('x\\ y', env), ['x y']);
});

test('non-ASCII text is kept', () => {
  assert.equal(word('안녕 $NAME'), '안녕 world');
  assert.equal(processWord('${변수:-기본}', env), '기본', 'names may be letters of any script');
});
