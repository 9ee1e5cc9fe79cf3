import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isEngineError } from '../../core/errors.ts';
import { countSteps, DockerfileError, parseDockerfile, parseTrigger, type Dockerfile, type Instruction } from './index.ts';

function only(df: Dockerfile): readonly Instruction[] {
  return df.stages[0]!.instructions;
}

function parseError(text: string, options: Parameters<typeof parseDockerfile>[1] = {}): DockerfileError {
  try {
    parseDockerfile(text, options);
  } catch (e) {
    assert.ok(e instanceof DockerfileError, `not a DockerfileError: ${String(e)}`);
    assert.ok(isEngineError(e, 'invalid-parameter'));
    return e;
  }
  assert.fail('expected an error');
}

test('comments, blank lines and case-insensitive instruction names, with 1-based lines', () => {
  const df = parseDockerfile('# a comment\n\nfrom alpine\n  # indented comment\nRun echo hi\ncmd ["sh"]\n');
  const [run, cmd] = only(df);
  assert.equal(df.stages[0]!.location.startLine, 3);
  assert.equal(run?.keyword, 'RUN');
  assert.equal(run?.name, 'Run');
  assert.deepEqual(run?.location, { file: 'Dockerfile', startLine: 5, endLine: 5 });
  assert.equal(cmd?.keyword, 'CMD');
  assert.equal(cmd?.location.startLine, 6);
});

test('line continuations keep the spacing and drop comment and empty lines inside', () => {
  const df = parseDockerfile('FROM a\nRUN apt-get update \\\n  # why\n\n    && apt-get install -y curl \\\n    && rm -rf /var/lib/apt/lists\nUSER x\n');
  const run = only(df)[0];
  assert.ok(run?.keyword === 'RUN' && run.command.form === 'shell');
  assert.equal(run.command.text, 'apt-get update     && apt-get install -y curl     && rm -rf /var/lib/apt/lists');
  assert.equal(run.original, 'RUN apt-get update     && apt-get install -y curl     && rm -rf /var/lib/apt/lists');
  assert.deepEqual([run.location.startLine, run.location.endLine], [2, 6]);
  assert.equal(only(df)[1]?.location.startLine, 7);
  assert.equal(df.warnings.length, 1, 'an empty continuation line is warned about');
  assert.match(df.warnings[0]!, /^Empty continuation line found in: RUN apt-get update/);
});

test('an escaped escape token at the end of a line does not continue it; a continuation at the end of the file ends it', () => {
  const df = parseDockerfile('FROM a\nRUN echo \\\\\nRUN echo b \\');
  const [one, two] = only(df);
  assert.ok(one?.keyword === 'RUN' && one.command.form === 'shell' && two?.keyword === 'RUN' && two.command.form === 'shell');
  assert.equal(one.command.text, 'echo \\\\');
  assert.equal(two.command.text, 'echo b');
});

test('# escape=` makes the backtick the escape and line-continuation character', () => {
  const df = parseDockerfile('# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  && echo done\n');
  assert.equal(df.escapeToken, '`');
  const [copy, run] = only(df);
  assert.ok(copy?.keyword === 'COPY');
  assert.equal(copy.dest, 'c:\\');
  assert.ok(run?.keyword === 'RUN' && run.command.form === 'shell');
  assert.equal(run.command.text, 'dir c:\\   && echo done');
});

test('parser directives count only before anything else; # syntax is recorded and ignored', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1.4\n# escape=`\nFROM a\n');
  assert.equal(df.syntax, 'docker/dockerfile:1.4');
  assert.equal(df.escapeToken, '`');
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM a\n').escapeToken, '\\', 'after a comment it is a comment');
  assert.equal(parseDockerfile('\n# escape=`\nFROM a\n').escapeToken, '\\', 'after an empty line it is a comment');
  assert.equal(parseDockerfile('FROM a\n# escape=`\nRUN x\n').escapeToken, '\\');
  assert.equal(parseError('# escape=\\\n# escape=`\nFROM a').message, 'dockerfile parse error on line 2: only one escape parser directive can be used');
  assert.equal(parseError('# escape=x\nFROM a').message, "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\");
});

test('a byte order mark and CRLF line endings are accepted', () => {
  const df = parseDockerfile('\uFEFFFROM alpine\r\nRUN echo a \\\r\n  b\r\nCMD ["sh"]\r\n');
  const [run, cmd] = only(df);
  assert.equal(df.stages[0]!.baseName, 'alpine');
  assert.ok(run?.keyword === 'RUN' && run.command.form === 'shell');
  assert.equal(run.command.text, 'echo a   b');
  assert.ok(cmd?.keyword === 'CMD');
  assert.deepEqual(cmd.command, { form: 'exec', args: ['sh'] });
});

test('exec form is a JSON array of strings; anything else is shell form', () => {
  const df = parseDockerfile('FROM a\nRUN ["echo", "a b"]\nRUN [ "echo", \'x\' ]\nENTRYPOINT ["a"] b\nCMD []\n');
  const [a, b, c, d] = only(df);
  assert.ok(a?.keyword === 'RUN' && b?.keyword === 'RUN' && c?.keyword === 'ENTRYPOINT' && d?.keyword === 'CMD');
  assert.deepEqual(a.command, { form: 'exec', args: ['echo', 'a b'] });
  assert.deepEqual(b.command, { form: 'shell', text: `[ "echo", 'x' ]` }, 'single quotes are not JSON');
  assert.deepEqual(c.command, { form: 'shell', text: '["a"] b' });
  assert.deepEqual(d.command, { form: 'exec', args: [] });
  assert.equal(
    parseError('FROM a\n\nCMD ["a", 1]\n').message,
    'dockerfile parse error on line 3: when using JSON array syntax, arrays must be comprised of strings only',
  );
});

test('RUN heredocs: content, line range, <<- and quoted terminators', () => {
  const text = 'FROM a\nRUN <<EOF\necho $HOME\n  EOF\nEOF\nRUN <<-"END" bash\n\techo one\n\tEND\nUSER x\n';
  const df = parseDockerfile(text);
  const [one, two, user] = only(df);
  assert.ok(one?.keyword === 'RUN' && two?.keyword === 'RUN');
  assert.deepEqual(one.command, { form: 'shell', text: '<<EOF' });
  assert.deepEqual(one.heredocs, [{ name: 'EOF', content: 'echo $HOME\n  EOF\n', expand: true, chomp: false, fileDescriptor: 0 }]);
  assert.deepEqual([one.location.startLine, one.location.endLine], [2, 5]);
  assert.deepEqual(two.heredocs, [{ name: 'END', content: '\techo one\n', expand: false, chomp: true, fileDescriptor: 0 }]);
  assert.equal(user?.location.startLine, 9);
});

test('COPY heredocs become inline sources; several per instruction; file descriptors', () => {
  const df = parseDockerfile('FROM a\nCOPY <<A <<B /etc/\na\nA\nb\nB\nRUN 3<<X cat <&3\nx\nX\n');
  const [copy, run] = only(df);
  assert.ok(copy?.keyword === 'COPY' && run?.keyword === 'RUN');
  assert.deepEqual(copy.sources, []);
  assert.deepEqual(
    copy.inline.map((h) => [h.name, h.content]),
    [
      ['A', 'a\n'],
      ['B', 'b\n'],
    ],
  );
  assert.equal(copy.dest, '/etc/');
  assert.equal(run.heredocs[0]?.fileDescriptor, 3);
});

test('heredocs only in RUN, COPY and ADD, and not in exec form', () => {
  const df = parseDockerfile('FROM a\nRUN ["cat", "<<EOF"]\nCMD <<EOF\n');
  const [run, cmd] = only(df);
  assert.ok(run?.keyword === 'RUN' && cmd?.keyword === 'CMD');
  assert.deepEqual(run.heredocs, []);
  assert.deepEqual(cmd.command, { form: 'shell', text: '<<EOF' });
  const e = parseError('FROM a\nRUN <<EOF\necho\n');
  assert.equal(e.message, 'dockerfile parse error on line 2: unterminated heredoc');
  assert.deepEqual(e.location, { file: 'Dockerfile', startLine: 2, endLine: 3 });
  assert.equal(parseError('FROM a\nCOPY a <<EOF\nx\nEOF\n').message, 'dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination');
});

test('unknown instructions are errors with their line, and a suggestion when close', () => {
  const e = parseError('FROM alpine\nRUN true\nBOGUS bar\n', { file: 'build/Dockerfile.dev' });
  assert.equal(e.message, 'dockerfile parse error on line 3: unknown instruction: BOGUS');
  assert.deepEqual(e.location, { file: 'build/Dockerfile.dev', startLine: 3, endLine: 3 });
  assert.equal(parseError('FROM a\nFOO bar\n').message, 'dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)');
  assert.equal(parseError('FORM alpine\n').message, 'dockerfile parse error on line 1: unknown instruction: FORM (did you mean FROM?)');
  assert.equal(parseError('FROM a\ncopyy a b\n').message, 'dockerfile parse error on line 2: unknown instruction: copyy (did you mean copy?)');
});

test('argument count errors read like Docker', () => {
  const cases: [string, string][] = [
    ['FROM a b\n', 'dockerfile parse error on line 1: FROM requires either one or three arguments'],
    ['FROM\n', 'dockerfile parse error on line 1: FROM requires either one or three arguments'],
    ['FROM a AS 1st\n', `dockerfile parse error on line 1: invalid name for build stage: "1st", name can't start with a number or contain symbols`],
    ['FROM a\nWORKDIR\n', 'dockerfile parse error on line 2: WORKDIR requires exactly one argument'],
    ['FROM a\nCOPY onlyone\n', 'dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['FROM a\nENV A\n', 'dockerfile parse error on line 2: ENV must have two arguments'],
    ['FROM a\nENV A=1 B\n', `dockerfile parse error on line 2: Syntax error - can't find = in "B". Must be of the form: name=value`],
    ['FROM a\nEXPOSE\n', 'dockerfile parse error on line 2: EXPOSE requires at least one argument'],
    ['FROM a\nSHELL /bin/bash -c\n', 'dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form'],
    ['FROM a\nONBUILD ONBUILD RUN x\n', 'dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed'],
    ['FROM a\nONBUILD FROM b\n', "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"],
    ['FROM a\nHEALTHCHECK NONE x\n', 'dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments'],
    ['FROM a\nHEALTHCHECK CMD\n', 'dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD'],
    ['FROM a\nHEALTHCHECK --interval=1x CMD true\n', 'dockerfile parse error on line 2: time: unknown unit "x" in duration "1x"'],
    ['FROM a\nHEALTHCHECK --retries=-1 CMD true\n', 'dockerfile parse error on line 2: --retries cannot be negative (-1)'],
    ['FROM a\nCOPY --frm=x a b\n', 'dockerfile parse error on line 2: unknown flag: --frm (did you mean from?)'],
    ['FROM a\nCOPY --chown a b\n', 'dockerfile parse error on line 2: missing a value on flag: --chown'],
    ['FROM a\nRUN --foo echo\n', 'dockerfile parse error on line 2: unknown flag: --foo'],
    ['RUN echo\nFROM a\n', 'dockerfile parse error on line 1: no build stage in current context'],
  ];
  for (const [text, message] of cases) assert.equal(parseError(text).message, message, text);
  assert.equal(parseError('').message, 'the Dockerfile (Dockerfile) cannot be empty');
  assert.equal(parseError('# only\n# comments\n').message, 'dockerfile parse error on line 2: file with no instructions');
});

test('ENV and LABEL take key=value pairs (quotes kept until substitution) and the legacy one-pair form', () => {
  const df = parseDockerfile('FROM a\nENV A=1 B="x y" C=\nENV LEGACY some value here\nLABEL "com.example.v"="1.0" b=2\n');
  const [env1, env2, label] = only(df);
  assert.ok(env1?.keyword === 'ENV' && env2?.keyword === 'ENV' && label?.keyword === 'LABEL');
  assert.deepEqual(env1.pairs, [
    { key: 'A', value: '1' },
    { key: 'B', value: '"x y"' },
    { key: 'C', value: '' },
  ]);
  assert.deepEqual(env2.pairs, [{ key: 'LEGACY', value: 'some value here' }]);
  assert.deepEqual(label.pairs, [
    { key: '"com.example.v"', value: '"1.0"' },
    { key: 'b', value: '2' },
  ]);
});

test('HEALTHCHECK options become durations in nanoseconds', () => {
  const df = parseDockerfile('FROM a\nHEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --retries=3 CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK NONE\n');
  const [h, none] = only(df);
  assert.ok(h?.keyword === 'HEALTHCHECK' && none?.keyword === 'HEALTHCHECK');
  assert.deepEqual(h.health, {
    test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
    interval: 300e9,
    timeout: 3e9,
    startPeriod: 90e9,
    startInterval: 0,
    retries: 3,
  });
  assert.deepEqual(none.health.test, ['NONE']);
});

test('ONBUILD is kept as text, heredocs included; parseTrigger reads it back', () => {
  const df = parseDockerfile('FROM a\nONBUILD COPY --chown=1 . /app\nONBUILD RUN <<EOF\necho hi\nEOF\n');
  const [copy, run] = only(df);
  assert.ok(copy?.keyword === 'ONBUILD' && run?.keyword === 'ONBUILD');
  assert.equal(copy.expression, 'COPY --chown=1 . /app');
  assert.equal(copy.trigger, 'COPY');
  assert.equal(run.expression, 'RUN <<EOF\necho hi\nEOF');
  const trigger = parseTrigger(run.expression);
  assert.ok(trigger.keyword === 'RUN');
  assert.equal(trigger.heredocs[0]?.content, 'echo hi\n');
  assert.throws(() => parseTrigger('RUN a\nRUN b'), /onbuild trigger should be a single expression/);
});

test('FROM: names are lower-cased, --platform kept, scratch and earlier stages recognised', () => {
  const df = parseDockerfile('FROM --platform=linux/arm64 golang:1.22 AS Build\nFROM scratch\nFROM build AS final\nFROM BUILD\n');
  const [a, b, c, d] = df.stages;
  assert.equal(a?.name, 'build');
  assert.equal(a?.platform, 'linux/arm64');
  assert.deepEqual(a?.base, { kind: 'image', ref: 'golang:1.22' });
  assert.deepEqual(b?.base, { kind: 'scratch' });
  assert.deepEqual(c?.base, { kind: 'stage', index: 0 });
  assert.deepEqual(d?.base, { kind: 'stage', index: 0 }, 'stage names match case-insensitively');
  assert.deepEqual(c?.dependencies, [0]);
  assert.equal(a?.original, 'FROM --platform=linux/arm64 golang:1.22 AS Build');
});

test('global ARGs are usable in FROM, overridden by --build-arg; undeclared build args are not', () => {
  const text = 'ARG BASE=alpine\nARG TAG=3.19\nARG FULL=${BASE}:${TAG}\nFROM $FULL\nFROM busybox:${UNDECLARED:-latest}\nFROM alpine\n';
  const df = parseDockerfile(text, { buildArgs: { TAG: '3.20', UNDECLARED: 'x' } });
  assert.deepEqual(df.stages[0]?.base, { kind: 'image', ref: 'alpine:3.20' });
  assert.deepEqual(df.stages[1]?.base, { kind: 'image', ref: 'busybox:latest' });
  assert.equal(df.metaArgs.length, 3);
  assert.equal(df.globalArgs.get('FULL'), 'alpine:3.20');
  const proxy = parseDockerfile('FROM $HTTP_PROXY\n', { buildArgs: { HTTP_PROXY: 'proxyimage' } });
  assert.deepEqual(proxy.stages[0]?.base, { kind: 'image', ref: 'proxyimage' }, 'proxy args need no declaration');
  assert.equal(parseError('ARG X\nFROM $X\n').message, 'base name ($X) should not be blank');
  assert.deepEqual(parseError('ARG X\nFROM ${X\n').location, { file: 'Dockerfile', startLine: 2, endLine: 2 });
});

test('BuildKit platform ARGs can be supplied for FROM --platform', () => {
  const text = 'FROM --platform=$BUILDPLATFORM golang AS build\nFROM alpine\n';
  const df = parseDockerfile(text, { platformArgs: { BUILDPLATFORM: 'linux/amd64' } });
  assert.equal(df.stages[0]?.platform, 'linux/amd64');
  assert.equal(parseError(text).message, 'empty platform value from expression $BUILDPLATFORM');
});

test('--target chooses the stage; the stages it needs follow FROM and COPY --from', () => {
  const text = [
    'FROM alpine AS deps',
    'FROM alpine AS tools',
    'FROM deps AS build',
    'COPY --from=tools /bin/tool /bin/',
    'FROM alpine AS unrelated',
    'FROM scratch AS final',
    'COPY --from=2 /out /out',
    'COPY --from=nginx:latest /etc/nginx /etc/nginx',
    '',
  ].join('\n');
  const df = parseDockerfile(text);
  assert.equal(df.target, 4);
  assert.deepEqual(df.requiredStages, [0, 1, 2, 4]);
  const copies = df.stages[4]!.instructions;
  assert.ok(copies[0]?.keyword === 'COPY' && copies[1]?.keyword === 'COPY');
  assert.deepEqual(copies[0].source, { kind: 'stage', index: 2 });
  assert.deepEqual(copies[1].source, { kind: 'image', ref: 'nginx:latest' });
  const build = parseDockerfile(text, { target: 'BUILD' });
  assert.equal(build.target, 2);
  assert.deepEqual(build.requiredStages, [0, 1, 2]);
  assert.equal(countSteps(build, [0, 1, 2]), 4, 'Step N/4: three FROMs and a COPY');
  assert.equal(countSteps(df, [0, 1, 2, 3, 4]), 8);
  const e = parseError(text, { target: 'buidl' });
  assert.equal(e.message, 'target stage "buidl" could not be found (did you mean build?)');
});

test('COPY --from must name an earlier stage, an index before this one, or an image', () => {
  assert.equal(
    parseError('FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\n').message,
    'cannot copy from stage "two", it needs to be defined before current stage "one"',
  );
  assert.equal(parseError('FROM a\nFROM b\nCOPY --from=1 /x /x\n').message, 'invalid from flag value 1: refers to current build stage');
  assert.equal(parseError('FROM a\nCOPY --from=3 /x /x\n').message, 'invalid from flag value 3: index out of bounds');
  assert.equal(
    parseError('FROM a\nCOPY --from=$X /x /x\n').message,
    'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround',
  );
  assert.equal(parseError('FROM a AS x\nFROM b AS X\n').message, 'dockerfile parse error on line 2: x stage name already used');
});

test('--label values are added to the target stage as LABEL instructions, sorted', () => {
  const df = parseDockerfile('FROM a AS one\nRUN x\nFROM b\n', { target: 'one', labels: { z: '1', a: '$NOT_EXPANDED' } });
  const labels = df.stages[0]!.instructions.filter((i) => i.keyword === 'LABEL');
  assert.deepEqual(
    labels.map((l) => l.original),
    ['LABEL a=$NOT_EXPANDED', 'LABEL z=1'],
  );
  assert.equal(df.stages[1]!.instructions.length, 0);
});

test('a file with only global ARGs has no stage to build', () => {
  assert.equal(parseError('ARG A=1\n').message, 'dockerfile contains no stages to build');
});
