import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileTemplate, goType, TemplateError, type ExecuteOptions } from './template.ts';

// Expected output and error messages were taken from the docker 28.2.2 client
// (Go text/template plus docker/cli's template functions), via
// `docker context inspect --format '…' default` whose data is the context
// below, and `docker version --format` for literal-only templates.

const CONTEXT = {
  Name: 'default',
  Metadata: { Description: '' },
  Endpoints: new Map([['docker', { Host: 'unix:///var/run/docker.sock', SkipTLSVerify: false }]]),
  TLSMaterial: new Map(),
  Storage: { MetadataPath: '<IN MEMORY>', TLSPath: '<IN MEMORY>' },
};
const TYPED: ExecuteOptions = { typeName: 'context.contextWithTLSListing' };

function run(src: string, data: unknown = CONTEXT, options: ExecuteOptions = TYPED): string {
  return compileTemplate(src)(data, options);
}

function fails(src: string, message: string, data: unknown = CONTEXT, options: ExecuteOptions = TYPED): void {
  assert.throws(() => run(src, data, options), (e: unknown) => {
    assert.ok(e instanceof TemplateError);
    assert.equal(e.message, message);
    return true;
  });
}

describe('compileTemplate: fields and values', () => {
  it('reads fields, nested fields and map keys', () => {
    assert.equal(run('{{.Name}}'), 'default');
    assert.equal(run('{{.Storage.TLSPath}}'), '<IN MEMORY>');
    assert.equal(run('{{.Endpoints.docker.Host}}'), 'unix:///var/run/docker.sock');
    assert.equal(run('{{(index .Endpoints "docker").Host}}'), 'unix:///var/run/docker.sock');
    assert.equal(run('{{$.Name}} {{$.Storage.TLSPath}}'), 'default <IN MEMORY>');
  });

  it('prints a missing map key as <no value>', () => {
    assert.equal(run('{{.Endpoints.nope}}'), '<no value>');
    assert.equal(run('{{if .Endpoints.nope}}x{{end}}'), '');
  });

  it('prints literals like Go', () => {
    assert.equal(run('{{"lit"}} {{`raw\\n`}} {{3}} {{3.5}} {{0x10}} {{\'a\'}} {{true}}'), 'lit raw\\n 3 3.5 16 97 true');
    assert.equal(run('{{ 0x1F }} {{ 1_000 }} {{ 017 }} {{ 1e3 }} {{ -2 }} {{ +3 }} {{ .5 }}'), '31 1000 15 1000 -2 3 0.5');
    assert.equal(run('{{"a\\tb"}}'), 'a\tb');
  });

  it('calls methods on the data with arguments, and zero-argument ones by name', () => {
    const labels: Record<string, string> = { 'com.example.a': 'x' };
    const row = { Labels: 'com.example.a=x', Label: (k: string) => labels[k] ?? '', Count: () => 2 };
    assert.equal(run('{{.Label "com.example.a"}}|{{.Label "nope"}}|{{.Count}}', row, {}), 'x||2');
    class Row {
      get ID(): string {
        return 'abc';
      }
    }
    assert.equal(run('{{.ID}}', new Row(), {}), 'abc');
  });

  it('passes the pipeline value as the last argument', () => {
    assert.equal(run('{{.Name | printf "%q"}}'), '"default"');
    assert.equal(run('{{"abc" | printf "%s-%s" "x"}}'), 'x-abc');
    assert.equal(run('{{ .Name | upper | lower }}'), 'default');
    assert.equal(run('{{.Name | len | printf "%d"}}'), '7');
  });
});

describe('compileTemplate: control structures', () => {
  it('handles if/else if/else and with/else with', () => {
    assert.equal(run('{{if eq .Name "x"}}1{{else if eq .Name "default"}}2{{else}}3{{end}}'), '2');
    assert.equal(run('{{with .Endpoints.docker}}{{.Host}}{{else}}none{{end}}'), 'unix:///var/run/docker.sock');
    assert.equal(run('{{with .Endpoints.nope}}yes{{else with .Name}}{{.}}!{{end}}'), 'default!');
    assert.equal(run('{{with $x := "hi"}}{{$x}}{{.}}{{end}}'), 'hihi');
  });

  it('ranges over lists, maps (sorted), integers, with else, break and continue', () => {
    assert.equal(run('{{range $k, $v := .Endpoints}}{{$k}}={{$v.Host}};{{end}}'), 'docker=unix:///var/run/docker.sock;');
    assert.equal(run('{{range $i, $e := split "a,b" ","}}{{$i}}:{{$e}} {{end}}'), '0:a 1:b ');
    assert.equal(run('{{range 3}}{{.}}{{end}}'), '012');
    assert.equal(run('{{range .TLSMaterial}}x{{else}}none{{end}}'), 'none');
    assert.equal(run('{{range split "" ","}}[{{.}}]{{else}}empty{{end}}'), '[]');
    assert.equal(run('{{range split "a,b,c" ","}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}'), 'ac');
    assert.equal(run('{{range $i, $e := split "a,b,c" ","}}{{if eq $i 1}}{{break}}{{end}}{{$e}}{{end}}'), 'a');
    const m = new Map([['b', 2], ['a', 1]]);
    assert.equal(run('{{range $k, $v := .}}{{$k}}{{$v}}{{end}}', m, {}), 'a1b2');
  });

  it('scopes and assigns variables like Go', () => {
    assert.equal(run('{{$x := .Name}}{{$x}} {{$x = "y"}}{{$x}}'), 'default y');
    assert.equal(run('{{$a := 1}}{{if true}}{{$a = 2}}{{$b := 3}}{{end}}{{$a}}'), '2');
    assert.equal(run('{{$x:=1}}{{$x}}'), '1');
  });

  it('trims whitespace around {{- and -}} and drops comments', () => {
    assert.equal(run('a  {{- "b" -}}   c {{- /* comment */ -}} d'), 'abcd');
    assert.equal(run('{{.Name}} {{- "\\n" -}} x'), 'default\nx');
    assert.equal(run('a {{- 3 }} {{- 4 -}} b'), 'a34b');
    assert.equal(run('{{-3}} {{- -3}}'), '-3-3');
    assert.equal(run('status: {{- pad "" 1 0}}|status: {{- pad "up" 1 0}}'), 'status:|status: up');
  });
});

describe('compileTemplate: functions', () => {
  it('has docker\'s json, split, join, title, lower, upper, pad and truncate', () => {
    assert.equal(
      run('{{title "hello wor-ld foo_bar"}}|{{upper "ß"}}|{{split "a,b,c" ","}}|{{join (split "a,b" ",") "+"}}|{{json (split "a,b" ",")}}'),
      'Hello Wor-Ld Foo_bar|ß|[a b c]|a+b|["a","b"]',
    );
    assert.equal(run('{{pad "x" 2 1}}|{{pad "" 2 1}}|{{truncate "abcdef" 3}}|{{truncate "ab" 3}}'), '  x ||abc|ab');
    assert.equal(run('{{lower "İI"}}|{{upper "ǆ"}}|{{title "ǆa"}}|{{title "élan vital"}}'), 'ii|Ǆ|ǅa|Élan Vital');
    assert.equal(run('{{split "abc" ""}} {{split "" ""}} {{len (split "" ",")}}'), '[a b c] [] 1');
  });

  it('encodes json compactly, maps with sorted keys', () => {
    assert.equal(
      run('{{json .}}'),
      '{"Name":"default","Metadata":{"Description":""},"Endpoints":{"docker":{"Host":"unix:///var/run/docker.sock","SkipTLSVerify":false}},"TLSMaterial":{},"Storage":{"MetadataPath":"<IN MEMORY>","TLSPath":"<IN MEMORY>"}}',
    );
    assert.equal(run('{{json .Endpoints}}'), '{"docker":{"Host":"unix:///var/run/docker.sock","SkipTLSVerify":false}}');
    assert.equal(run('{{json .Endpoints.nope}}'), 'null');
  });

  it('has Go\'s builtins', () => {
    assert.equal(run('{{len "héllo"}} {{index "abc" 1}} {{slice "abcdef" 1 3}} {{slice .Name 1}}'), '6 98 bc efault');
    assert.equal(run('{{lt 1 2}} {{and 1 0 2}} {{or 0 "" "x"}} {{not 0}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}} {{ne "a" "b"}}'), 'true 0 x true true true false true');
    assert.equal(run('{{eq nil nil}} {{eq .Endpoints.nope nil}} {{eq .Name "x" "default"}}'), 'true true true');
    assert.equal(run('{{print "a" 1 2 "b" true false nil}}|{{println 1 "a"}}|'), 'a1 2btrue false <nil>|1 a\n|');
    assert.equal(run('{{printf "%v" nil}}'), '<nil>');
    assert.equal(run('{{len .TLSMaterial}} {{len .Endpoints}}'), '0 1');
    assert.equal(run('{{html "<a href=\\"x\\">&\'</a>"}} {{urlquery "a b&c/é~"}}'), '&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; a+b%26c%2F%C3%A9~');
  });

  it('reads a missing label as "" through index (docker\'s labels are map[string]string)', () => {
    assert.equal(run('[{{index .Labels "nope"}}]', { Labels: { a: 'b' } }, {}), '[]');
    assert.equal(run('[{{index .Labels "nope"}}]', { Labels: { a: 'b' } }, { objects: 'map' }), '[<no value>]');
  });

  it('takes caller functions, and per-execution replacements', () => {
    const t = compileTemplate('{{shout .}}', { funcs: { shout: (s: string) => s.toUpperCase() + '!' } });
    assert.equal(t('hi'), 'HI!');
    assert.equal(t('hi', { funcs: { shout: (s: string) => s } }), 'hi');
  });
});

describe('compileTemplate: parse errors (Go wording)', () => {
  const cases: [string, string][] = [
    ['{{foo .}}', 'template: :1: function "foo" not defined'],
    ['{{InvalidFunction}}', 'template: :1: function "InvalidFunction" not defined'],
    ['{{.Name', 'template: :1: unclosed action'],
    ['{{', 'template: :1: unclosed action'],
    ['{{if .Name}}x', 'template: :1: unexpected EOF'],
    ['{{end}}', 'template: :1: unexpected {{end}}'],
    ['{{else}}', 'template: :1: unexpected {{else}}'],
    ['{{$y}}', 'template: :1: undefined variable "$y"'],
    ['{{with $x := .Name}}{{$x}}{{end}}{{$x}}', 'template: :1: undefined variable "$x"'],
    ['{{.Foo-bar}}', "template: :1: bad character U+002D '-'"],
    ['{{.Name | 3}}', 'template: :1: non executable command in pipeline stage 2'],
    ['{{"a".Foo}}', 'template: :1: unexpected . after term "\\"a\\""'],
    ['{{1.5.Foo}}', 'template: :1: unexpected . after term "1.5"'],
    ['{{printf "%d %s" 1}}{{break}}', 'template: :1: {{break}} outside {{range}}'],
    ['{{/* unclosed', 'template: :1: unclosed comment'],
    ['{{/* c */ x}}', 'template: :1: comment ends before closing delimiter'],
    ['{{.Name =}}', 'template: :1: unexpected "=" in operand'],
    ['{{"abc\\q"}}', 'template: :1: invalid syntax'],
    ['{{ %}}', 'template: :1: unexpected "%" in command'],
    ['{{ é}}', 'template: :1: function "é" not defined'],
    ['{{1x}}', 'template: :1: bad number syntax: "1x"'],
    ['{{)}}', 'template: :1: unexpected right paren'],
    ['{{"multi\nline"}}', 'template: :1: unterminated quoted string'],
    ['{{if}}{{end}}', 'template: :1: missing value for if'],
    ['{{range $i, $e, $f := .Name}}{{end}}', 'template: :1: too many declarations in range'],
  ];
  for (const [src, message] of cases) {
    it(src.replace(/\n/g, '\\n'), () => {
      assert.throws(() => compileTemplate(src), (e: unknown) => e instanceof TemplateError && e.phase === 'parse' && e.message === message);
    });
  }
  it('reports the line of the failing token', () => {
    assert.throws(() => compileTemplate('line1\n{{.Name\n}}{{nope}}'), { message: 'template: :3: function "nope" not defined' });
  });
});

describe('compileTemplate: execution errors (Go wording and positions)', () => {
  it('names the node and its line:column', () => {
    fails('{{.Foo}}', 'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type context.contextWithTLSListing');
    fails('{{if .Nope}}x{{end}}', 'template: :1:5: executing "" at <.Nope>: can\'t evaluate field Nope in type context.contextWithTLSListing');
    fails(
      '{{.Metadata}}|{{.Name}}|{{.Endpoints.docker.Host}}|{{json .Storage}}|{{.Storage.Foo}}',
      'template: :1:79: executing "" at <.Storage.Foo>: can\'t evaluate field Foo in type map[string]interface {}',
    );
    fails('{{.Name.Foo}}', 'template: :1:7: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type string');
    fails('{{nil}}', 'template: :1:2: executing "" at <nil>: nil is not a command');
    fails('x\n  {{.Foo}}', 'template: :2:4: executing "" at <.Foo>: can\'t evaluate field Foo in type context.contextWithTLSListing');
  });

  it('uses the type a nested object names under goType', () => {
    const data = { State: { [goType]: '*container.State', Status: 'running' } };
    fails('{{.State.Pid}}', 'template: :1:8: executing "" at <.State.Pid>: can\'t evaluate field Pid in type *container.State', data, {});
  });

  it('reports bad calls like Go', () => {
    fails('{{range .Name}}{{.}}{{end}}', 'template: :1:8: executing "" at <.Name>: range can\'t iterate over default');
    fails('{{len .Name}} {{len 3}}', 'template: :1:16: executing "" at <len 3>: error calling len: len of type int');
    fails('{{index .Name "x"}}', 'template: :1:2: executing "" at <index .Name "x">: error calling index: cannot index slice/array with type string');
    fails('{{index "abc" 5}}', 'template: :1:2: executing "" at <index "abc" 5>: error calling index: index out of range: 5');
    fails('{{.Name 1}}', 'template: :1:2: executing "" at <.Name>: Name has arguments but cannot be invoked as function');
    fails('{{upper 3}}', 'template: :1:8: executing "" at <3>: expected string; found 3');
    fails('{{join .Name ","}}', 'template: :1:7: executing "" at <.Name>: wrong type for value; expected []string; got string');
    fails('{{join "a"}}', 'template: :1:2: executing "" at <join>: wrong number of args for join: want 2 got 1');
    fails('{{and}}', 'template: :1:2: executing "" at <and>: wrong number of args for and: want at least 1 got 0');
    fails('{{not}}', 'template: :1:2: executing "" at <not>: wrong number of args for not: want 1 got 0');
    fails('{{eq .Name "default" "x"}} {{eq 1 "a"}}', 'template: :1:29: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison');
    fails('{{$x := 1}}{{$x 2}}', 'template: :1:13: executing "" at <$x>: can\'t give argument to non-function $x');
    fails('{{3 | printf}}', 'template: :1:6: executing "" at <printf>: wrong type for value; expected string; got int');
    fails('{{(1).Foo}}', 'template: :1:3: executing "" at <1>: can\'t evaluate field Foo in type int');
    fails('{{pad .Name "1" 2}}', 'template: :1:12: executing "" at <"1">: expected integer; found "1"');
  });

  it('errors on missing keys with missingKey "error" (docker inspect\'s raw pass)', () => {
    fails('{{.Foo}}', 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"', { Name: 'x' }, { objects: 'map', missingKey: 'error' });
    assert.equal(run('{{.Foo}}', { Name: 'x' }, { objects: 'map' }), '<no value>');
  });

  it('can return the output written before an error', () => {
    assert.equal(run('ab{{.Foo}}cd', CONTEXT, { ...TYPED, partialOnError: true }), 'ab');
  });

  it('compiles once and runs per row', () => {
    const t = compileTemplate('{{.A}}-{{.B}}');
    assert.deepEqual([t({ A: 1, B: 'x' }), t({ A: 2, B: 'y' })], ['1-x', '2-y']);
  });
});
