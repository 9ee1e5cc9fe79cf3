// Figures 1 and 2: `run --rm busybox true`, wall time as a shell user sees it, interleaved
// round by round across raw `runc run`, berth's CLI, the docker CLI against berthd, the docker
// CLI against dockerd, and podman. Reports median / p90 per engine and the difference and
// ratio to runc.
//
//   node bench/run-rm.mjs [--n 30] [--warmup 3] [--engines runc,berth,docker-berthd,dockerd,podman]
import {
  aborted, tick, benchRoot, busyboxTar, f0, f2, log, machineInfo, main, makeRuncBundle, options, startEngines, stats, table, timed, versions,
  snapshotDist,
} from './lib.mjs';

const o = options({ n: 30, warmup: 3, engines: 'runc,berth,docker-berthd,dockerd,podman' });

await main(async () => {
  const names = o.engines.split(',').filter(Boolean);
  const root = benchRoot('runrm');
  const tar = busyboxTar(root);
  const runc = makeRuncBundle(root, tar);
  const engines = await startEngines(root, tar, names.filter((n) => n !== 'runc'));
  const subjects = [];
  if (names.includes('runc')) subjects.push({ key: 'runc', label: 'runc run (bundle, `true`)', once: () => runc.timed().ms });
  const labels = {
    berth: '`berth run --rm busybox true`',
    'docker-berthd': '`docker run --rm busybox true` → berthd',
    dockerd: '`docker run --rm busybox true` → dockerd',
    podman: '`podman run --rm --network none busybox true`',
  };
  for (const n of names) {
    const cli = engines[n];
    if (!cli) continue;
    subjects.push({ key: n, label: labels[n], once: () => cli.timed(cli.runArgs(['--rm', 'busybox', 'true']), { timeout: 60_000 }).ms });
  }
  // client start-up alone, to tell the CLI's share from the daemon's
  const clientOnly = [
    { key: 'node', label: '`node -e 0` (bare node start-up)', once: () => timed(process.execPath, ['-e', '0']).ms },
    { key: 'berth-version', label: '`berth --version` (CLI start-up, no daemon call)', once: () => timed(process.execPath, [snapshotDist(root).cli, '--version']).ms },
  ];
  const all = [...subjects, ...clientOnly];
  const samples = Object.fromEntries(all.map((s) => [s.key, []]));
  const failures = Object.fromEntries(all.map((s) => [s.key, 0]));
  log(`${o.warmup} warm-up + ${o.n} measured rounds over: ${all.map((s) => s.key).join(', ')}`);
  for (let round = 0; round < o.warmup + o.n; round++) {
    // rotate the order every round so no engine always runs right after the same neighbour
    const order = all.map((_, i) => all[(i + round) % all.length]);
    for (const s of order) {
      await tick();
      try {
        const ms = s.once();
        if (round >= o.warmup) samples[s.key].push(ms);
      } catch (e) {
        if (aborted()) throw e;
        failures[s.key]++;
        log(`${s.key}: ${e.message.slice(0, 300)}`);
      }
    }
    if ((round + 1) % 10 === 0) log(`round ${round + 1}/${o.warmup + o.n}`);
  }
  const base = stats(samples.runc ?? []);
  const rows = all.map((s) => {
    const st = stats(samples[s.key]);
    const isClient = clientOnly.includes(s);
    return [
      s.label, String(st.n), f0(st.median), f0(st.p90), f0(st.min),
      isClient || s.key === 'runc' || !Number.isFinite(base.median) ? '' : `+${f0(st.median - base.median)}`,
      isClient || !Number.isFinite(base.median) ? '' : `${f2(st.median / base.median)}×`,
      String(failures[s.key]),
    ];
  });
  const out = [
    '## run --rm busybox true',
    '',
    '```',
    machineInfo(),
    versions(engines),
    '```',
    '',
    table(['command', 'n', 'median ms', 'p90 ms', 'min ms', 'Δ median vs runc ms', 'ratio to runc', 'failed'], rows),
  ];
  if (samples.berth && samples.runc) {
    const d = stats(samples.berth).median - base.median;
    out.push(`berth − runc (median): ${f0(d)} ms; goal ≤ 70 ms: ${d <= 70 ? 'met' : 'NOT met'}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
});
