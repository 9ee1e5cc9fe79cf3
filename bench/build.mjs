// Build: the 6-step Dockerfile of the build issue, FROM busybox (imported locally in each engine):
//   RUN echo one > /one; COPY files/ /app/ (25 small files); ENV A=1; WORKDIR /app; RUN ls > /list; CMD ["sh"]
// cold (--no-cache) and fully cached (same context, same tag, cache warm), rounds interleaved, for
// berth's CLI, the docker CLI → berthd (DOCKER_BUILDKIT=0), the docker CLI → dockerd (classic
// builder, DOCKER_BUILDKIT=0), dockerd's built-in BuildKit driven by Debian's docker CLI 20.10
// (/usr/bin/docker, DOCKER_BUILDKIT=1: that CLI speaks BuildKit's session protocol itself, no
// buildx plugin needed; CLI 28 in /usr/local/bin cannot without buildx) and `podman build`
// (buildah inside podman) with the sandbox flags lib.mjs uses for `podman run`.
//
// BuildKit's RUN steps get `--network none`: with dockerd's --bridge=none its default network
// fails ("network bridge not found"); none is what the other builders' RUN steps get anyway (a
// namespace with only loopback).
//
//   node bench/build.mjs [--engines berth,docker-berthd,dockerd,dockerd-buildkit,podman] [--n 5]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  aborted, tick, benchRoot, busyboxTar, f0, f2, log, machineInfo, main, options, startEngines, stats, table, versions,
} from './lib.mjs';

const o = options({ engines: 'berth,docker-berthd,dockerd,dockerd-buildkit,podman', n: 5 });
const LABEL = {
  berth: 'berth build',
  'docker-berthd': 'docker build → berthd',
  dockerd: 'docker build → dockerd (classic)',
  'dockerd-buildkit': 'docker 20.10 build (BuildKit) → dockerd',
  podman: 'podman build',
};
const BUILDKIT_CLI = '/usr/bin/docker'; // Debian docker.io's CLI 20.10
const DOCKERFILE = `FROM busybox
RUN echo one > /one
COPY files/ /app/
ENV A=1
WORKDIR /app
RUN ls > /list
CMD ["sh"]
`;

await main(async () => {
  const want = o.engines.split(',').filter(Boolean);
  const root = benchRoot('build');
  const tar = busyboxTar(root);
  const ctx = join(root, 'ctx');
  mkdirSync(join(ctx, 'files'), { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
  for (let i = 0; i < 25; i++) writeFileSync(join(ctx, 'files', `f${String(i).padStart(2, '0')}.txt`), `file ${i}\n`.repeat(20));
  // the BuildKit builder needs dockerd, whether or not the classic one is measured
  const daemons = want.filter((n) => n !== 'dockerd-buildkit');
  if (want.includes('dockerd-buildkit') && !daemons.includes('dockerd')) daemons.push('dockerd');
  const eng = await startEngines(root, tar, daemons);
  if (want.includes('dockerd-buildkit') && !want.includes('dockerd')) delete eng.dockerd;
  if (want.includes('dockerd-buildkit') && eng.dockerdDaemon) {
    if (existsSync(BUILDKIT_CLI)) eng['dockerd-buildkit'] = eng.dockerdDaemon.otherCli('dockerd-buildkit', BUILDKIT_CLI, { DOCKER_BUILDKIT: '1' });
    else log(`${BUILDKIT_CLI} (docker CLI 20.10, Debian docker.io) missing: BuildKit skipped`);
  }
  const names = want.filter((n) => eng[n]);
  const env = { ...process.env, DOCKER_BUILDKIT: '0' };
  const buildArgs = (n, extra) => {
    const a = ['build', '-q', ...extra];
    if (n === 'podman') {
      const lim = eng.podman.runFlags; // --network none --cgroup-parent … --ulimit …
      // --cgroup-parent is left out: buildah's runc writes devices.deny in it and fails on this cgroup v1 host
      a.push(...lim.filter((x, i) => x !== '--cgroup-parent' && lim[i - 1] !== '--cgroup-parent'), '--pull=never', '--layers');
    }
    if (n === 'dockerd-buildkit') a.push('--network', 'none');
    return [...a, '-t', `bench-build-${n}:latest`, ctx];
  };
  const ownEnv = new Set(['berth', 'podman', 'dockerd-buildkit']); // the others get DOCKER_BUILDKIT=0
  const build = (n, extra) => eng[n].timed(buildArgs(n, extra), { env: ownEnv.has(n) ? eng[n].env : { ...eng[n].env, ...env }, timeout: 180_000 });

  // one untimed build each: proves it works, fills the cache for the cached rounds
  const failed = {};
  for (const n of names) {
    try {
      build(n, []);
      const out = eng[n].sh(['run', ...eng[n].runFlags, '--rm', `bench-build-${n}:latest`, 'sh', '-c', 'cat /one; echo $A; pwd; wc -l < /list'], { timeout: 60_000 }).stdout.trim().split('\n');
      log(`${n}: built; check: ${out.join(' | ')}`);
    } catch (e) {
      if (aborted()) throw e;
      failed[n] = e.message.slice(-500);
      log(`${n}: FAILED: ${failed[n]}`);
    }
  }
  const ok = names.filter((n) => !failed[n]);
  const res = { cold: {}, cached: {} };
  for (let r = 0; r < o.n; r++) {
    for (let i = 0; i < ok.length; i++) {
      const n = ok[(i + r) % ok.length];
      for (const [kind, extra] of [['cold', ['--no-cache']], ['cached', []]]) {
        await tick();
        try {
          (res[kind][n] ??= []).push(build(n, extra).ms);
        } catch (e) {
          if (aborted()) throw e;
          log(`${kind} ${n}: ${e.message.slice(0, 300)}`);
        }
      }
    }
    log(`round ${r + 1}/${o.n} done`);
  }
  const base = { cold: stats(res.cold.dockerd ?? []).median, cached: stats(res.cached.dockerd ?? []).median };
  const rows = names.map((n) => {
    if (failed[n]) return [LABEL[n], 'failed', '', '', '', ''];
    const c = stats(res.cold[n] ?? []);
    const w = stats(res.cached[n] ?? []);
    return [LABEL[n], `${f0(c.median)} (${f0(c.min)}–${f0(c.max)})`, `${f2(c.median / base.cold)}×`, `${f0(w.median)} (${f0(w.min)}–${f0(w.max)})`, `${f2(w.median / base.cached)}×`, `${c.n}/${w.n}`];
  });
  const bk = eng['dockerd-buildkit'] ? `\nBuildKit builder: ${eng['dockerd-buildkit'].sh(['version', '--format', 'client {{.Client.Version}} ({{.Client.Os}}), server {{.Server.Version}}'], { allowFail: true }).stdout?.trim()} (${BUILDKIT_CLI})` : '';
  process.stdout.write(`${machineInfo()}\n${versions(eng)}${bk}\n\n`);
  process.stdout.write(table(['builder', 'cold ms median (min–max)', 'cold vs dockerd', 'cached ms median (min–max)', 'cached vs dockerd', 'n cold/cached'], rows));
  for (const [n, m] of Object.entries(failed)) process.stdout.write(`\n${n} failed: ${m}\n`);
}, { deadlineMin: 20 });
