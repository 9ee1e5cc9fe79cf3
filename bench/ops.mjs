// Figure 3: latency of everyday commands, interleaved round by round across engines:
//   run -d      `run -d busybox sleep 1000` (removed, untimed, after each sample)
//   exec        `exec <running container> true`
//   stop        `stop <c>` of a container whose shell traps TERM and exits at once
//   logs 100k   `logs <c> > /dev/null` of an exited container that printed 100000 lines
//   ps (0/100)  `ps` with no running container, then with 100 detached `sleep 1000` containers
//
//   node bench/ops.mjs [--engines berth,docker-berthd,dockerd,podman] [--n 20] [--ps-containers 100]
import {
  aborted, tick, benchRoot, busyboxTar, f0, f2, log, machineInfo, main, options, sleep, startEngines, stats, table, versions,
} from './lib.mjs';

const o = options({ engines: 'berth,docker-berthd,dockerd,podman', n: 20, nStop: 10, nLogs: 5, nPs: 10, psContainers: 100, logLines: 100000 });

const LABEL = { berth: 'berth', 'docker-berthd': 'docker → berthd', dockerd: 'docker → dockerd', podman: 'podman' };
const STOPPABLE = ['sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'];

await main(async () => {
  const want = o.engines.split(',').filter(Boolean);
  const root = benchRoot('ops');
  const tar = busyboxTar(root);
  const eng = await startEngines(root, tar, want);
  const names = want.filter((n) => eng[n]);
  const res = {}; // op -> engine -> samples
  const add = (op, n, ms) => ((res[op] ??= {})[n] ??= []).push(ms);
  const notes = [];

  /** Interleave: each round runs `fn(engine)` once per engine, order rotated per round. */
  const rounds = async (op, n, fn) => {
    log(`${op}: ${n} rounds`);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + r) % names.length];
        await tick();
        try {
          const ms = await fn(eng[name], name);
          if (ms !== undefined) add(op, name, ms);
        } catch (e) {
          if (aborted()) throw e;
          log(`${op} ${name}: ${e.message.slice(0, 300)}`);
          ((res[`${op} failures`] ??= {})[name] ??= []).push(1);
        }
      }
    }
  };

  // ---- run -d
  await rounds('run -d', o.n, async (cli) => {
    const { ms, r } = cli.timed(cli.runArgs(['-d', 'busybox', 'sleep', '1000']), { timeout: 60_000 });
    cli.rm([r.stdout.trim()]);
    return ms;
  });

  // ---- exec (one long-running target per engine; berth and docker → berthd share a daemon, so name per client)
  const target = {};
  for (const n of names) {
    target[n] = `bench-exec-${n}`;
    eng[n].sh(eng[n].runArgs(['-d', '--name', target[n], 'busybox', 'sleep', '1000']), { timeout: 60_000 });
  }
  await rounds('exec', o.n, async (cli, n) => cli.timed(['exec', target[n], 'true'], { timeout: 60_000 }).ms);
  for (const n of names) eng[n].rm([target[n]]);

  // ---- stop (TERM trapped by the shell: the container exits at once)
  await rounds('stop', o.nStop, async (cli, n) => {
    const id = cli.sh(cli.runArgs(['-d', 'busybox', ...STOPPABLE]), { timeout: 60_000 }).stdout.trim();
    await sleep(300); // let the shell install its trap
    const { ms } = cli.timed(['stop', id], { timeout: 60_000 });
    const code = cli.sh(['inspect', '--format', '{{.State.ExitCode}}', id], { allowFail: true }).stdout?.trim();
    cli.rm([id]);
    if (code !== '0') notes.push(`stop ${n}: exit code ${code} (TERM not honoured?)`);
    return ms;
  });

  // ---- logs of 100k lines
  const logsC = {};
  for (const n of names) {
    const cli = eng[n];
    logsC[n] = `bench-logs-${n}`;
    cli.sh(cli.runArgs(['-d', '--name', logsC[n], 'busybox', 'seq', '1', String(o.logLines)]), { timeout: 60_000 });
    cli.sh(['wait', logsC[n]], { timeout: 120_000 });
    const lines = cli.sh(['logs', logsC[n]], { timeout: 120_000 }).stdout.split('\n').filter(Boolean).length;
    if (lines !== o.logLines) notes.push(`logs ${n}: ${lines} lines instead of ${o.logLines}`);
  }
  await rounds(`logs ${o.logLines / 1000}k lines`, o.nLogs, async (cli, n) => cli.timed(['logs', logsC[n]], { timeout: 120_000, stdio: ['ignore', 'ignore', 'pipe'] }).ms);
  for (const n of names) eng[n].rm([logsC[n]]);

  // ---- ps, empty then with 100 running containers (per daemon; berth and docker → berthd share one)
  await rounds('ps (0 containers)', o.nPs, async (cli) => cli.timed(['ps'], { timeout: 60_000 }).ms);
  const daemons = [];
  if (names.includes('berth') || names.includes('docker-berthd')) daemons.push(names.find((n) => n === 'berth' || n === 'docker-berthd'));
  for (const n of ['dockerd', 'podman']) if (names.includes(n)) daemons.push(n);
  const createMs = {};
  for (const n of daemons) {
    const cli = eng[n];
    log(`${n}: starting ${o.psContainers} containers`);
    const t0 = Date.now();
    for (let i = 0; i < o.psContainers; i++) {
      await tick();
      cli.sh(cli.runArgs(['-d', 'busybox', 'sleep', '1000']), { timeout: 60_000 });
    }
    createMs[n] = Date.now() - t0;
  }
  await rounds(`ps (${o.psContainers} containers)`, o.nPs, async (cli, n) => {
    const { ms, r } = cli.timed(['ps'], { timeout: 60_000 });
    const rows = r.stdout.split('\n').filter(Boolean).length - 1;
    if (rows !== o.psContainers) notes.push(`ps ${n}: ${rows} rows`);
    return ms;
  });
  const rmMs = {};
  for (const n of daemons) {
    const t0 = Date.now();
    const ids = eng[n].ids();
    for (let i = 0; i < ids.length; i += 50) eng[n].rm(ids.slice(i, i + 50));
    rmMs[n] = Date.now() - t0;
  }

  // ---- report
  const cell = (op, n) => {
    const st = stats(res[op]?.[n] ?? []);
    return st.n ? `${f0(st.median)} (${f0(st.p90)})` : '–';
  };
  const ratio = (op, a, b) => {
    const x = stats(res[op]?.[a] ?? []).median;
    const y = stats(res[op]?.[b] ?? []).median;
    return Number.isFinite(x) && Number.isFinite(y) ? `${f2(x / y)}×` : '';
  };
  const ops = Object.keys(res).filter((k) => !k.endsWith('failures'));
  const rows = ops.map((op) => [op, ...names.map((n) => cell(op, n)), ratio(op, 'berth', 'dockerd'), ratio(op, 'docker-berthd', 'dockerd')]);
  const fails = Object.entries(res).filter(([k]) => k.endsWith('failures')).map(([k, v]) => `${k}: ${JSON.stringify(Object.fromEntries(Object.entries(v).map(([a, b]) => [a, b.length])))}`);
  const out = [
    '## command latency: median (p90) ms',
    '',
    '```',
    machineInfo(),
    versions(eng),
    '```',
    '',
    table(['operation', ...names.map((n) => LABEL[n]), 'berth / dockerd', 'docker→berthd / dockerd'], rows),
    `${o.psContainers} × \`run -d\` one after another: ${daemons.map((n) => `${LABEL[n]} ${(createMs[n] / 1000).toFixed(1)} s`).join(', ')}; ` +
      `\`rm -f\` of them (50 per call): ${daemons.map((n) => `${LABEL[n]} ${(rmMs[n] / 1000).toFixed(1)} s`).join(', ')}`,
    ...(fails.length ? ['', `failures: ${fails.join('; ')}`] : []),
    ...(notes.length ? ['', 'notes:', ...[...new Set(notes)].map((x) => `- ${x}`)] : []),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
});
