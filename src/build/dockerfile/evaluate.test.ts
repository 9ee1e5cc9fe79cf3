import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  beginStage,
  copyStepKeys,
  DockerfileError,
  evaluateInstruction,
  parseDockerfile,
  parseTrigger,
  type EvaluatedStep,
  type ParseOptions,
  type RunConfig,
  type StageState,
} from './index.ts';

/** Evaluate every instruction of one stage; the steps and the final state. */
function build(text: string, options: ParseOptions & { stage?: number; base?: RunConfig } = {}): { steps: EvaluatedStep[]; state: StageState } {
  const df = parseDockerfile(text, options);
  const index = options.stage ?? df.target;
  let { state } = beginStage(df, index, options.base ?? { Env: ['PATH=/usr/bin:/bin'] });
  const steps: EvaluatedStep[] = [];
  for (const instruction of df.stages[index]!.instructions) {
    const step = evaluateInstruction(state, instruction);
    steps.push(step);
    state = step.state;
  }
  return { steps, state };
}

function createdBy(step: EvaluatedStep | undefined): string {
  assert.ok(step !== undefined && step.kind !== 'copy');
  return step.createdBy;
}

function run(step: EvaluatedStep | undefined) {
  assert.ok(step?.kind === 'run');
  return step;
}

function copy(step: EvaluatedStep | undefined) {
  assert.ok(step?.kind === 'copy');
  return step;
}

test('variables are substituted in ENV, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL, EXPOSE, COPY; not in RUN, CMD, ENTRYPOINT, HEALTHCHECK, ONBUILD', () => {
  const { steps, state } = build(
    [
      'FROM a',
      'ENV NAME=app PORT=8080 SIG=SIGINT',
      'LABEL name=$NAME',
      'USER ${NAME}',
      'WORKDIR /srv/$NAME',
      'VOLUME /data/$NAME',
      'STOPSIGNAL $SIG',
      'EXPOSE $PORT',
      'COPY $NAME.conf /etc/$NAME/',
      'RUN echo $NAME',
      'CMD echo $NAME',
      'ENTRYPOINT ["echo", "$NAME"]',
      'HEALTHCHECK CMD curl localhost:$PORT',
      'ONBUILD RUN echo $NAME',
      '',
    ].join('\n'),
  );
  const c = state.config;
  assert.deepEqual(c.Labels, { name: 'app' });
  assert.equal(c.User, 'app');
  assert.equal(c.WorkingDir, '/srv/app');
  assert.deepEqual(c.Volumes, { '/data/app': {} });
  assert.equal(c.StopSignal, 'SIGINT');
  assert.deepEqual(c.ExposedPorts, { '8080/tcp': {} });
  assert.deepEqual(copy(steps[7]).copy.sources, [{ kind: 'path', path: 'app.conf' }]);
  assert.equal(copy(steps[7]).copy.dest, '/etc/app/');
  assert.deepEqual(run(steps[8]).run.argv, ['/bin/sh', '-c', 'echo $NAME']);
  assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'echo $NAME'], 'kept by the ENTRYPOINT after it: the CMD was set in this stage');
  assert.deepEqual(c.Entrypoint, ['echo', '$NAME']);
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'curl localhost:$PORT'] });
  assert.deepEqual(c.OnBuild, ['RUN echo $NAME']);
});

test('an ENTRYPOINT clears the inherited CMD, but not a CMD given in this stage; shell forms use SHELL', () => {
  const base: RunConfig = { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] };
  assert.equal(build('FROM a\nENTRYPOINT ["/app"]\n', { base }).state.config.Cmd, null);
  const kept = build('FROM a\nCMD ["--help"]\nENTRYPOINT ["/app"]\n', { base }).state.config;
  assert.deepEqual(kept.Cmd, ['--help']);
  assert.deepEqual(kept.Entrypoint, ['/app']);
  const shell = build('FROM a\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nCMD echo hi\nENTRYPOINT exec app\n', { base }).state.config;
  assert.deepEqual(shell.Cmd, ['/bin/bash', '-o', 'pipefail', '-c', 'echo hi']);
  assert.deepEqual(shell.Entrypoint, ['/bin/bash', '-o', 'pipefail', '-c', 'exec app']);
  const last = build('FROM a\nCMD ["a"]\nCMD ["b"]\nENTRYPOINT []\n', { base: { Entrypoint: ['/x'] } }).state.config;
  assert.deepEqual(last.Cmd, ['b'], 'the last CMD wins');
  assert.equal(last.Entrypoint, null, 'ENTRYPOINT [] clears it');
});

test('history texts are the classic builder\'s', () => {
  const { steps } = build(
    [
      'FROM a',
      'ENV A=1 B="x y"',
      'LABEL version="1.0" maintainer=me',
      'ARG V=2',
      'ARG W',
      'CMD ["sh"]',
      'CMD echo hi',
      'ENTRYPOINT ["/docker-entrypoint.sh"]',
      'EXPOSE 80/tcp 443',
      'VOLUME ["/data", "/logs"]',
      'USER nobody',
      'WORKDIR /app',
      'STOPSIGNAL SIGQUIT',
      'HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1',
      'SHELL ["/bin/bash", "-c"]',
      'ONBUILD ADD . /app/src',
      'MAINTAINER someone',
      '',
    ].join('\n'),
  );
  assert.deepEqual(steps.map(createdBy), [
    '/bin/sh -c #(nop)  ENV A=1 B=x y',
    '/bin/sh -c #(nop)  LABEL version=1.0 maintainer=me',
    '/bin/sh -c #(nop)  ARG V=2',
    '/bin/sh -c #(nop)  ARG W',
    '/bin/sh -c #(nop)  CMD ["sh"]',
    '/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]',
    '/bin/sh -c #(nop)  ENTRYPOINT ["/docker-entrypoint.sh"]',
    '/bin/sh -c #(nop)  EXPOSE 443 80/tcp',
    '/bin/sh -c #(nop)  VOLUME [/data /logs]',
    '/bin/sh -c #(nop)  USER nobody',
    '/bin/sh -c #(nop) WORKDIR /app',
    '/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT',
    '/bin/sh -c #(nop)  HEALTHCHECK &{Test:[CMD-SHELL curl -f http://localhost/ || exit 1] Interval:5m0s Timeout:3s StartPeriod:0s StartInterval:0s Retries:0}',
    '/bin/bash -c #(nop)  SHELL [/bin/bash -c]',
    '/bin/bash -c #(nop)  ONBUILD ADD . /app/src',
    '/bin/bash -c #(nop)  MAINTAINER someone',
  ]);
  assert.equal(steps[10]?.kind, 'workdir');
  assert.equal(steps[15]?.state.author, 'someone');
});

test('RUN: argv, env and the |N build-args prefix of the history and cache key', () => {
  const text = 'ARG GLOBAL=g\nFROM a\nARG GLOBAL\nARG LOCAL=l\nENV E=1\nRUN echo $LOCAL\nRUN ["echo", "x"]\n';
  const { steps } = build(text);
  const shellRun = run(steps[3]);
  assert.deepEqual(shellRun.run.argv, ['/bin/sh', '-c', 'echo $LOCAL']);
  assert.deepEqual(shellRun.run.env, ['PATH=/usr/bin:/bin', 'E=1', 'GLOBAL=g', 'LOCAL=l']);
  assert.equal(shellRun.createdBy, '|2 GLOBAL=g LOCAL=l /bin/sh -c echo $LOCAL');
  assert.equal(shellRun.cacheKey, shellRun.createdBy);
  assert.equal(run(steps[4]).createdBy, '|2 GLOBAL=g LOCAL=l echo x');
  const plain = build('FROM a\nRUN echo hi\n');
  assert.equal(run(plain.steps[0]).createdBy, '/bin/sh -c echo hi');
  const overridden = build(text, { buildArgs: { LOCAL: 'cli' } });
  assert.equal(run(overridden.steps[3]).createdBy, '|2 GLOBAL=g LOCAL=cli /bin/sh -c echo $LOCAL');
  assert.notEqual(run(overridden.steps[3]).cacheKey, shellRun.cacheKey, 'a changed build arg changes the cache key');
});

test('ARG scope: a global ARG needs redeclaring; build args need declaring; ENV shadows ARG', () => {
  const text = 'ARG G=global\nFROM a\nRUN echo 1\nARG G\nARG S=stage\nENV S=env\nRUN echo 2\nUSER $G:$S:$UNDECLARED\n';
  const { steps, state } = build(text, { buildArgs: { UNDECLARED: 'x' } });
  assert.equal(run(steps[0]).createdBy, '/bin/sh -c echo 1', 'no ARG in scope yet');
  assert.deepEqual(run(steps[0]).run.env, ['PATH=/usr/bin:/bin']);
  assert.equal(run(steps[4]).createdBy, '|1 G=global /bin/sh -c echo 2', 'S is shadowed by ENV S');
  assert.deepEqual(run(steps[4]).run.env, ['PATH=/usr/bin:/bin', 'S=env', 'G=global']);
  assert.equal(state.config.User, 'global:env:');
  assert.equal(build('ARG G=global\nFROM a\nUSER x$G\n').state.config.User, 'x', 'not redeclared: not visible');
  assert.equal(build('FROM a\nARG NOVALUE\nRUN true\n').steps.map(createdBy)[1], '/bin/sh -c true', 'an ARG without any value is not in scope');
});

test('proxy build args reach RUN without declaration but stay out of history unless declared', () => {
  const undeclared = build('FROM a\nRUN apk add curl\n', { buildArgs: { HTTP_PROXY: 'http://proxy:3128' } });
  const r = run(undeclared.steps[0]);
  assert.deepEqual(r.run.env, ['PATH=/usr/bin:/bin', 'HTTP_PROXY=http://proxy:3128']);
  assert.equal(r.createdBy, '|0 /bin/sh -c apk add curl');
  const declared = build('FROM a\nARG HTTP_PROXY\nRUN apk add curl\n', { buildArgs: { HTTP_PROXY: 'http://proxy:3128' } });
  assert.equal(run(declared.steps[1]).createdBy, '|1 HTTP_PROXY=http://proxy:3128 /bin/sh -c apk add curl');
});

test('ENV in one instruction sees the values from before it; an existing variable is replaced in place', () => {
  const { state } = build('FROM a\nENV A=1\nENV A=2 B=$A\nENV PATH=/opt/bin:$PATH\n', { base: { Env: ['PATH=/bin', 'X=y'] } });
  assert.deepEqual(state.config.Env, ['PATH=/opt/bin:/bin', 'X=y', 'A=2', 'B=1']);
});

test('beginStage adds the default PATH and takes the base image\'s ONBUILD triggers out', () => {
  const df = parseDockerfile('FROM a\n');
  const { state, triggers } = beginStage(df, 0, { OnBuild: ['RUN echo triggered'], Cmd: ['sh'] });
  assert.deepEqual(state.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  assert.equal(state.config.OnBuild, undefined);
  assert.deepEqual(triggers, ['RUN echo triggered']);
  const step = evaluateInstruction(state, parseTrigger(triggers[0]!));
  assert.equal(run(step).createdBy, '/bin/sh -c echo triggered');
  assert.deepEqual(beginStage(df, 0, undefined).state.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
});

test('WORKDIR joins relative paths to the current one', () => {
  const { steps, state } = build('FROM a\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d/\n');
  assert.equal(state.config.WorkingDir, '/a/c/d');
  assert.ok(steps[1]?.kind === 'workdir');
  assert.equal(steps[1].path, '/a/b');
});

test('EXPOSE splits a substituted value into ports and checks them', () => {
  const { state, steps } = build('FROM a\nENV PORTS="80 443/udp"\nEXPOSE $PORTS 9000-9001\n');
  assert.deepEqual(Object.keys(state.config.ExposedPorts ?? {}), ['80/tcp', '443/udp', '9000/tcp', '9001/tcp']);
  assert.equal(createdBy(steps[1]), '/bin/sh -c #(nop)  EXPOSE 80 443/udp 9000-9001', 'sorted as written, then substituted');
  assert.throws(() => build('FROM a\nEXPOSE 80/foo\n'), (e: unknown) => e instanceof DockerfileError && e.message === 'invalid proto: foo' && e.location?.startLine === 2);
  assert.throws(() => build('FROM a\nEXPOSE abc\n'), /invalid containerPort: abc/);
});

test('STOPSIGNAL and VOLUME values are checked', () => {
  assert.throws(() => build('FROM a\nSTOPSIGNAL SIGFOO\n'), /^DockerfileError: Invalid signal: SIGFOO$/);
  assert.equal(build('FROM a\nSTOPSIGNAL 9\n').state.config.StopSignal, '9');
  assert.throws(() => build('FROM a\nENV E=\nVOLUME $E\n'), /VOLUME specified can not be an empty string/);
});

test('substitution errors carry Docker\'s message and the instruction\'s location', () => {
  assert.throws(
    () => build('FROM a\n\nENV A=${B\n', { file: 'Dockerfile.prod' }),
    (e: unknown) =>
      e instanceof DockerfileError &&
      e.message === `failed to process "\${B": syntax error: missing '}'` &&
      e.location?.file === 'Dockerfile.prod' &&
      e.location.startLine === 3,
  );
});

test('HEALTHCHECK sets the config in nanoseconds and notes an override', () => {
  const { steps, state } = build('FROM a\nHEALTHCHECK --interval=30s --retries=3 CMD ["curl", "-f", "localhost"]\n', {
    base: { Healthcheck: { Test: ['CMD-SHELL', 'old'] } },
  });
  assert.deepEqual(state.config.Healthcheck, { Test: ['CMD', 'curl', '-f', 'localhost'], Interval: 30e9, Retries: 3 });
  assert.deepEqual(steps[0]?.notes, ['Note: overriding previous HEALTHCHECK: [CMD-SHELL old]']);
});

test('COPY/ADD: destination relative to WORKDIR, flags, owners, and the history text with the source label', () => {
  const { steps } = build(
    [
      'FROM a',
      'WORKDIR /app',
      'ENV OWNER=1000:1000',
      'COPY --chown=$OWNER --chmod=755 package.json yarn.lock ./',
      'COPY src src',
      'ADD https://example.com/x.tar.gz /opt/',
      'ADD local.tar.gz /opt/',
      '',
    ].join('\n'),
  );
  const c = copy(steps[2]).copy;
  assert.equal(c.dest, '/app/');
  assert.ok(c.destIsDir);
  assert.equal(c.chown, '1000:1000');
  assert.equal(c.chmod, 0o755);
  assert.equal(c.preserveOwnership, false);
  assert.equal(copy(steps[3]).copy.dest, '/app/src');
  assert.equal(copy(steps[3]).copy.destIsDir, false);
  assert.deepEqual(copy(steps[4]).copy.sources, [{ kind: 'url', url: 'https://example.com/x.tar.gz' }]);
  assert.equal(copy(steps[5]).copy.unpack, true, 'ADD unpacks local archives');
  assert.equal(copy(steps[3]).copy.unpack, false);
  const keys = copyStepKeys(copy(steps[2]), 'multi:abc');
  assert.equal(keys.createdBy, '/bin/sh -c #(nop) COPY --chown=1000:1000 --chmod=0755 multi:abc in ./ ');
  assert.notEqual(keys.cacheKey, copyStepKeys(copy(steps[2]), 'multi:abd').cacheKey);
  assert.equal(copyStepKeys(copy(steps[3]), 'dir:123').createdBy, '/bin/sh -c #(nop) COPY dir:123 in src ');
});

test('COPY --from keeps owners unless --chown; several sources need a directory destination; COPY takes no URL', () => {
  const { steps } = build('FROM alpine AS build\nFROM scratch\nCOPY --from=build /bin/sh /bin/sh\nCOPY --from=0 --chown=1 /a /a\n', { stage: 1 });
  assert.deepEqual(copy(steps[0]).copy.from, { kind: 'stage', index: 0 });
  assert.equal(copy(steps[0]).copy.preserveOwnership, true);
  assert.equal(copy(steps[1]).copy.preserveOwnership, false);
  assert.throws(() => build('FROM a\nCOPY a b /dest\n'), /When using COPY with more than one source file, the destination must be a directory and end with a \//);
  assert.equal(copy(build('FROM a\nCOPY a b .\n').steps[0]).copy.dest, '/', '`.` is the working directory');
  assert.throws(() => build('FROM a\nCOPY https://example.com/f /f\n'), /source can't be a URL for COPY/);
  assert.throws(() => build('FROM a\nCOPY --chmod=999 a /a\n'), /invalid chmod parameter: '999'. it should be octal string and between 0 and 07777/);
});

test('COPY heredocs: variables substituted unless the terminator is quoted; <<- removes tabs', () => {
  const text = 'FROM a\nENV NAME=world\nCOPY <<EOF <<"RAW" /etc/\nhello $NAME \\$HOME\nEOF\nkeep $NAME\nRAW\nCOPY <<-TABS /t\n\tindented\n\tTABS\n';
  const { steps } = build(text);
  assert.deepEqual(copy(steps[1]).copy.inline, [
    { name: 'EOF', content: 'hello world $HOME\n' },
    { name: 'RAW', content: 'keep $NAME\n' },
  ]);
  assert.deepEqual(copy(steps[2]).copy.inline, [{ name: 'TABS', content: 'indented\n' }]);
});

test('RUN heredocs as BuildKit runs them: a script for the shell, a #! file, or the shell\'s own heredoc', () => {
  const text = [
    'FROM a',
    'RUN <<EOF',
    'apk add curl',
    'echo done',
    'EOF',
    'RUN <<EOF',
    '#!/usr/bin/env python3',
    'print("hi")',
    'EOF',
    'RUN python3 <<-EOF',
    '\tprint(1)',
    '\tEOF',
    '',
  ].join('\n');
  const { steps } = build(text);
  assert.deepEqual(run(steps[0]).run.argv, ['/bin/sh', '-c', 'apk add curl\necho done\n']);
  assert.equal(run(steps[0]).createdBy, '/bin/sh -c apk add curl\necho done\n');
  const script = run(steps[1]);
  assert.deepEqual(script.run.argv, ['/bin/sh', '-c', '/dev/pipes/EOF']);
  assert.deepEqual(script.run.files, [{ path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint("hi")\n', mode: 0o755 }]);
  assert.match(script.cacheKey, /print\(\\"hi\\"\)/, 'the script is part of the cache key');
  assert.deepEqual(run(steps[2]).run.argv, ['/bin/sh', '-c', 'python3 <<-EOF\n\tprint(1)\nEOF']);
});

test('RUN flags are parsed and passed on (the builder decides)', () => {
  const { steps } = build('FROM a\nRUN --mount=type=cache,target=/root/.cache --network=none pip install x\n');
  const r = run(steps[0]);
  assert.deepEqual(r.run.mounts, ['type=cache,target=/root/.cache']);
  assert.equal(r.run.network, 'none');
  assert.deepEqual(r.run.flagsUsed, ['mount', 'network']);
  assert.notEqual(r.cacheKey, r.createdBy);
});
