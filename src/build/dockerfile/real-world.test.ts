// Dockerfiles as people write them (official images, common multi-stage patterns), parsed and
// evaluated stage by stage as a builder would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  beginStage,
  evaluateInstruction,
  parseDockerfile,
  parseTrigger,
  type Dockerfile,
  type EvaluatedStep,
  type ParseOptions,
  type RunConfig,
} from './index.ts';

const IMAGES: Record<string, RunConfig> = {
  'node:20-alpine': { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_VERSION=20.11.0'], Entrypoint: ['docker-entrypoint.sh'], Cmd: ['node'] },
  'debian:bookworm-slim': { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
};

interface Built {
  readonly df: Dockerfile;
  /** Final config of each built stage. */
  readonly configs: Map<number, RunConfig>;
  /** Steps of each built stage. */
  readonly steps: Map<number, EvaluatedStep[]>;
}

/** Build the required stages in order, as a builder would (without running anything). */
function evaluate(text: string, options: ParseOptions = {}): Built {
  const df = parseDockerfile(text, options);
  const configs = new Map<number, RunConfig>();
  const steps = new Map<number, EvaluatedStep[]>();
  for (const index of df.requiredStages) {
    const stage = df.stages[index]!;
    const base = stage.base.kind === 'stage' ? configs.get(stage.base.index) : stage.base.kind === 'image' ? (IMAGES[stage.base.ref] ?? { Cmd: ['sh'] }) : undefined;
    const begun = beginStage(df, index, base);
    let state = begun.state;
    const list: EvaluatedStep[] = [];
    const instructions = [...begun.triggers.map((t) => parseTrigger(t)), ...stage.instructions];
    for (const instruction of instructions) {
      const step = evaluateInstruction(state, instruction);
      list.push(step);
      state = step.state;
    }
    configs.set(index, state.config);
    steps.set(index, list);
  }
  return { df, configs, steps };
}

function history(steps: EvaluatedStep[] | undefined): string[] {
  return (steps ?? []).map((s) => (s.kind === 'copy' ? `COPY ${s.copy.dest}` : s.createdBy));
}

test('node application, two stages', () => {
  const { df, configs, steps } = evaluate(`# syntax=docker/dockerfile:1
ARG NODE_VERSION=20
FROM node:\${NODE_VERSION}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:\${NODE_VERSION}-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER node
EXPOSE 3000
CMD ["node", "server.js"]
`);
  assert.deepEqual(df.requiredStages, [0, 1]);
  assert.deepEqual(df.stages[1]!.base, { kind: 'image', ref: 'node:20-alpine' });
  const c = configs.get(1)!;
  assert.deepEqual(c.Entrypoint, ['docker-entrypoint.sh']);
  assert.deepEqual(c.Cmd, ['node', 'server.js']);
  assert.equal(c.User, 'node');
  assert.deepEqual(c.ExposedPorts, { '3000/tcp': {} });
  assert.deepEqual(c.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_VERSION=20.11.0', 'NODE_ENV=production']);
  const copyFrom = steps.get(1)![2];
  assert.ok(copyFrom?.kind === 'copy');
  assert.deepEqual(copyFrom.copy.from, { kind: 'stage', index: 0 });
  assert.equal(copyFrom.copy.dest, '/app/node_modules');
  assert.equal(history(steps.get(0))[2], '/bin/sh -c npm ci --omit=dev');
});

test('go, cross-compiled with BuildKit platform args, into scratch', () => {
  const text = `FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
`;
  const { df, configs, steps } = evaluate(text, { platformArgs: { BUILDPLATFORM: 'linux/amd64', TARGETOS: 'linux', TARGETARCH: 'arm64' } });
  assert.equal(df.stages[0]!.platform, 'linux/amd64');
  assert.deepEqual(df.stages[1]!.base, { kind: 'scratch' });
  const build = steps.get(0)!;
  const goBuild = build[6];
  assert.ok(goBuild?.kind === 'run');
  assert.equal(goBuild.createdBy, '|2 TARGETARCH=arm64 TARGETOS=linux /bin/sh -c CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app');
  assert.ok(goBuild.run.env.includes('TARGETARCH=arm64'));
  assert.deepEqual(configs.get(1), { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Entrypoint: ['/app'], Cmd: null });
});

test('python with apt-get continuation lines and legacy ENV', () => {
  const { configs, steps } = evaluate(`FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE 1
ENV PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=off

RUN apt-get update \\
    && apt-get install -y --no-install-recommends \\
        build-essential \\
        libpq-dev \\
    # clean up
    && rm -rf /var/lib/apt/lists/*

WORKDIR /code
COPY requirements.txt /code/
RUN pip install -r requirements.txt
COPY . /code/
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "project.wsgi"]
`);
  const c = configs.get(0)!;
  assert.ok(c.Env?.includes('PYTHONDONTWRITEBYTECODE=1'));
  assert.ok(c.Env?.includes('PIP_NO_CACHE_DIR=off'));
  assert.equal(
    history(steps.get(0))[2],
    '/bin/sh -c apt-get update     && apt-get install -y --no-install-recommends         build-essential         libpq-dev     && rm -rf /var/lib/apt/lists/*',
  );
});

test('nginx-style: long RUN with set -x, STOPSIGNAL, exec-form CMD', () => {
  const { configs, steps } = evaluate(`FROM debian:bookworm-slim
LABEL maintainer="NGINX Docker Maintainers <docker-maint@nginx.com>"
ENV NGINX_VERSION   1.25.4
ENV NJS_VERSION     0.8.3
RUN set -x \\
    && groupadd --system --gid 101 nginx \\
    && echo "installing nginx=\${NGINX_VERSION}"
COPY docker-entrypoint.sh /
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
`);
  const c = configs.get(0)!;
  assert.deepEqual(c.Labels, { maintainer: 'NGINX Docker Maintainers <docker-maint@nginx.com>' });
  assert.ok(c.Env?.includes('NGINX_VERSION=1.25.4'), 'legacy ENV: the rest of the line, spaces trimmed');
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.deepEqual(c.Cmd, ['nginx', '-g', 'daemon off;']);
  assert.deepEqual(c.Entrypoint, ['/docker-entrypoint.sh']);
  assert.equal(history(steps.get(0)).at(-1), '/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]');
  assert.match(history(steps.get(0))[3]!, /echo "installing nginx=\$\{NGINX_VERSION\}"$/, 'RUN text is left for the shell');
});

test('OCI labels over several lines, HEALTHCHECK, non-root user', () => {
  const { configs } = evaluate(`FROM alpine:3.19
ARG VERSION=dev
ARG REVISION
LABEL org.opencontainers.image.title="my app" \\
      org.opencontainers.image.version=$VERSION \\
      org.opencontainers.image.revision="\${REVISION:-unknown}"
RUN addgroup -S app && adduser -S app -G app
USER app:app
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \\
  CMD wget -qO- http://localhost:8080/health || exit 1
`, { buildArgs: { VERSION: '1.2.3' } });
  const c = configs.get(0)!;
  assert.deepEqual(c.Labels, {
    'org.opencontainers.image.title': 'my app',
    'org.opencontainers.image.version': '1.2.3',
    'org.opencontainers.image.revision': 'unknown',
  });
  assert.equal(c.User, 'app:app');
  assert.deepEqual(c.Healthcheck, {
    Test: ['CMD-SHELL', 'wget -qO- http://localhost:8080/health || exit 1'],
    Interval: 30e9,
    Timeout: 5e9,
    StartPeriod: 10e9,
    Retries: 3,
  });
});

test('windows servercore with the backtick escape and a PowerShell SHELL', () => {
  const { df, configs, steps } = evaluate(`# escape=\`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
ENV APP_HOME=C:\\app
WORKDIR C:\\app
RUN New-Item -ItemType Directory -Path $env:APP_HOME\\logs; \`
    Write-Host done
COPY app\\ C:\\app\\
CMD ["powershell", "./start.ps1"]
`);
  assert.equal(df.escapeToken, '`');
  const run = steps.get(0)![3];
  assert.ok(run?.kind === 'run');
  assert.deepEqual(run.run.argv, ['powershell', '-Command', "$ErrorActionPreference = 'Stop';", 'New-Item -ItemType Directory -Path $env:APP_HOME\\logs;     Write-Host done']);
  assert.ok(configs.get(0)!.Env?.includes('APP_HOME=C:\\app'), 'a backslash is an ordinary character with the backtick escape');
});

test('BuildKit heredocs: a setup script and a config file', () => {
  const { steps } = evaluate(`# syntax=docker/dockerfile:1
FROM nginx:alpine
ARG SERVER_NAME=example.com
RUN <<EOF
set -e
apk add --no-cache curl
mkdir -p /var/www
EOF
COPY <<EOF /etc/nginx/conf.d/default.conf
server {
    listen 80;
    server_name \${SERVER_NAME};
    location / { root /var/www; }
}
EOF
`);
  const list = steps.get(0)!;
  const run = list[1];
  assert.ok(run?.kind === 'run');
  assert.deepEqual(run.run.argv, ['/bin/sh', '-c', 'set -e\napk add --no-cache curl\nmkdir -p /var/www\n']);
  assert.equal(run.createdBy, '|1 SERVER_NAME=example.com /bin/sh -c set -e\napk add --no-cache curl\nmkdir -p /var/www\n');
  const copy = list[2];
  assert.ok(copy?.kind === 'copy');
  assert.equal(copy.copy.inline[0]?.content, 'server {\n    listen 80;\n    server_name example.com;\n    location / { root /var/www; }\n}\n');
  assert.equal(copy.copy.dest, '/etc/nginx/conf.d/default.conf');
});

test('rust with a cache mount and a slim runtime stage', () => {
  const { df, steps, configs } = evaluate(`FROM rust:1.77 AS builder
WORKDIR /usr/src/app
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \\
    --mount=type=cache,target=/usr/src/app/target \\
    cargo build --release && cp target/release/app /usr/local/bin/app

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=builder /usr/local/bin/app /usr/local/bin/app
CMD ["app"]
`);
  assert.deepEqual(df.requiredStages, [0, 1]);
  const run = steps.get(0)![2];
  assert.ok(run?.kind === 'run');
  assert.deepEqual(run.run.mounts, ['type=cache,target=/usr/local/cargo/registry', 'type=cache,target=/usr/src/app/target']);
  assert.deepEqual(run.run.argv, ['/bin/sh', '-c', 'cargo build --release && cp target/release/app /usr/local/bin/app']);
  assert.deepEqual(configs.get(1)!.Cmd, ['app']);
});

test('java: maven build stage, wildcard jar copied into a JRE image', () => {
  const { df, configs, steps } = evaluate(`FROM maven:3.9-eclipse-temurin-21 AS build
WORKDIR /workspace
COPY pom.xml .
RUN mvn -B dependency:go-offline
COPY src ./src
RUN mvn -B package -DskipTests

FROM eclipse-temurin:21-jre
ARG JAR_FILE=/workspace/target/*.jar
COPY --from=build \${JAR_FILE} /app.jar
ENTRYPOINT ["java", "-jar", "/app.jar"]
`);
  const copy = steps.get(1)![1];
  assert.ok(copy?.kind === 'copy');
  assert.deepEqual(copy.copy.sources, [{ kind: 'path', path: '/workspace/target/*.jar' }]);
  assert.equal(copy.copy.dest, '/app.jar');
  assert.deepEqual(configs.get(1)!.Entrypoint, ['java', '-jar', '/app.jar']);
  assert.equal(configs.get(1)!.Cmd, null);
  assert.equal(df.stages[0]!.instructions[1]?.keyword, 'COPY');
});

test('an ONBUILD image and an image built from it', () => {
  const parent = evaluate(`FROM python:3.12
RUN mkdir -p /usr/src/app
WORKDIR /usr/src/app
ONBUILD COPY requirements.txt /usr/src/app/
ONBUILD RUN pip install --no-cache-dir -r requirements.txt
ONBUILD COPY . /usr/src/app
`);
  const parentConfig = parent.configs.get(0)!;
  assert.deepEqual(parentConfig.OnBuild, ['COPY requirements.txt /usr/src/app/', 'RUN pip install --no-cache-dir -r requirements.txt', 'COPY . /usr/src/app']);
  IMAGES['my/python-onbuild'] = parentConfig;
  const child = evaluate('FROM my/python-onbuild\nCMD ["python", "app.py"]\n');
  const steps = child.steps.get(0)!;
  assert.deepEqual(
    steps.map((s) => s.instruction.keyword),
    ['COPY', 'RUN', 'COPY', 'CMD'],
    'the triggers run first',
  );
  assert.equal(child.configs.get(0)!.OnBuild, undefined, 'triggers are not inherited further');
  assert.equal(child.configs.get(0)!.WorkingDir, '/usr/src/app');
});

test('ruby: global ARG redeclared in the stage, VOLUME, and --target', () => {
  const text = `ARG RUBY_VERSION=3.3.0
FROM ruby:$RUBY_VERSION-slim AS base
ARG RUBY_VERSION
ENV BUNDLE_PATH=/usr/local/bundle \\
    RAILS_ENV=production
RUN echo "ruby $RUBY_VERSION"

FROM base AS build
RUN bundle install

FROM base AS test
RUN bundle exec rspec

FROM base
COPY --from=build $BUNDLE_PATH $BUNDLE_PATH
VOLUME ["/rails/storage", "/rails/log"]
CMD ["./bin/rails", "server"]
`;
  const all = evaluate(text, { buildArgs: { RUBY_VERSION: '3.2.2' } });
  assert.deepEqual(all.df.stages[0]!.base, { kind: 'image', ref: 'ruby:3.2.2-slim' });
  assert.deepEqual(all.df.requiredStages, [0, 1, 3], 'the test stage is not needed');
  assert.equal(history(all.steps.get(0))[2], '|1 RUBY_VERSION=3.2.2 /bin/sh -c echo "ruby $RUBY_VERSION"');
  const final = all.steps.get(3)!;
  assert.ok(final[0]?.kind === 'copy');
  assert.deepEqual(final[0].copy.sources, [{ kind: 'path', path: '/usr/local/bundle' }], 'ENV from the base stage is used');
  assert.deepEqual(all.configs.get(3)!.Volumes, { '/rails/storage': {}, '/rails/log': {} });
  const onlyTest = evaluate(text, { target: 'test' });
  assert.equal(onlyTest.df.target, 2);
  assert.deepEqual(onlyTest.df.requiredStages, [0, 2]);
});

test('postgres-style: legacy ENV with substitution, ENTRYPOINT plus CMD, STOPSIGNAL', () => {
  const { configs, steps } = evaluate(`FROM debian:bookworm-slim
ENV LANG en_US.utf8
ENV PG_MAJOR 16
ENV PATH $PATH:/usr/lib/postgresql/$PG_MAJOR/bin
ENV PGDATA /var/lib/postgresql/data
RUN mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" && chmod 1777 "$PGDATA"
VOLUME /var/lib/postgresql/data
COPY docker-entrypoint.sh docker-ensure-initdb.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
`);
  const c = configs.get(0)!;
  assert.deepEqual(c.Env, [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/16/bin',
    'LANG=en_US.utf8',
    'PG_MAJOR=16',
    'PGDATA=/var/lib/postgresql/data',
  ]);
  assert.deepEqual(c.Volumes, { '/var/lib/postgresql/data': {} });
  assert.deepEqual(c.Entrypoint, ['docker-entrypoint.sh']);
  assert.deepEqual(c.Cmd, ['postgres']);
  assert.equal(history(steps.get(0))[2], '/bin/sh -c #(nop)  ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/16/bin');
});
