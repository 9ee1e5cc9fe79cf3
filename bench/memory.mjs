// Figure 4: memory. Daemon RSS idle (fresh, then after an import and a run), with 100 running
// `sleep 1000` containers, and after removing them; per-container monitor memory (berth's and
// podman's conmon, docker's containerd-shim-runc-v2) from /proc/<pid>/smaps_rollup: Rss, Pss
// (shared pages split between sharers) and USS (private pages).
//
//   node bench/memory.mjs [--engines berth,dockerd,podman] [--containers 100] [--settle-ms 3000]
import {
  tick, Berthd, Dockerd, Podman, benchRoot, busyboxTar, comm, f1, log, machineInfo, main, memKiB, mib, options, pidsMentioning, sleep,
  stats, table, versions,
} from './lib.mjs';

const o = options({ engines: 'berth,dockerd,podman', containers: 100, settleMs: 3000 });

await main(async () => {
  const want = o.engines.split(',').filter(Boolean);
  const root = benchRoot('mem');
  const tar = busyboxTar(root);
  const daemonRows = [];
  const monitorRows = [];
  const notes = [];

  const sample = async (procs) => {
    await sleep(o.settleMs);
    return procs.map(([, pid]) => memKiB(pid));
  };
  const fmt = (m) => (m ? `${mib(m.rss)} (Pss ${mib(m.pss)})` : '–');

  const monitors = (label, cli, needle, commName) => {
    const pids = pidsMentioning(needle, commName);
    const ms = pids.map(memKiB).filter(Boolean);
    if (pids.length !== o.containers) notes.push(`${label}: ${pids.length} ${commName} processes for ${o.containers} containers`);
    const s = (k) => stats(ms.map((m) => m[k]));
    monitorRows.push([
      `${label}: ${commName}`, String(ms.length), mib(s('rss').median), mib(s('pss').median), mib(s('uss').median),
      f1(ms.reduce((a, m) => a + m.pss, 0) / 1024),
    ]);
  };

  const runMany = async (cli) => {
    log(`${cli.name}: starting ${o.containers} containers`);
    for (let i = 0; i < o.containers; i++) {
      await tick();
      cli.sh(cli.runArgs(['-d', 'busybox', 'sleep', '1000']), { timeout: 60_000 });
    }
  };
  const rmMany = (cli) => {
    const ids = cli.ids();
    for (let i = 0; i < ids.length; i += 50) cli.rm(ids.slice(i, i + 50));
  };

  const measureDaemon = async (label, procs, cli, monitorNeedle, monitorComm) => {
    const fresh = await sample(procs);
    cli.importBusybox(tar);
    cli.sh(cli.runArgs(['--rm', 'busybox', 'true']), { timeout: 60_000 });
    const used = await sample(procs);
    await runMany(cli);
    const loaded = await sample(procs);
    if (monitorComm) monitors(label, cli, monitorNeedle, monitorComm);
    rmMany(cli);
    const after = await sample(procs);
    procs.forEach(([name], i) => daemonRows.push([`${label}: ${name}`, fmt(fresh[i]), fmt(used[i]), fmt(loaded[i]), fmt(after[i])]));
  };

  if (want.includes('berth')) {
    log('starting berthd');
    const d = await Berthd.start(root);
    await measureDaemon('berth', [['berthd', d.pid]], d.cli, d.root, 'conmon');
    await d.stop();
  }
  if (want.includes('dockerd')) {
    if (!Dockerd.available()) log('dockerd not installed: skipped');
    else {
      log('starting dockerd');
      const d = await Dockerd.start(root);
      const containerd = pidsMentioning(d.exec, 'containerd')[0];
      await measureDaemon('docker', [['dockerd', d.pid], ['containerd', containerd]], d.cli, d.exec, 'containerd-shim');
      await d.stop();
    }
  }
  if (want.includes('podman')) {
    if (!Podman.available()) log('podman not installed: skipped');
    else {
      const p = Podman.setup(root);
      p.cli.importBusybox(tar);
      await runMany(p.cli);
      await sleep(o.settleMs);
      monitors('podman', p.cli, p.root, 'conmon');
      rmMany(p.cli);
    }
  }

  const out = [
    '## memory (MiB)',
    '',
    '```',
    machineInfo(),
    '```',
    '',
    `Daemons, RSS (Pss) MiB; "with ${o.containers}": ${o.containers} running \`sleep 1000\` containers.`,
    '',
    table(['process', 'fresh idle', 'idle after import + 1 run', `with ${o.containers} containers`, 'after removing them'], daemonRows),
    `Per-container monitor process, with ${o.containers} running containers (median over the processes).`,
    '',
    table(['monitor', 'count', 'Rss MiB', 'Pss MiB', 'USS MiB', `Σ Pss MiB (all ${o.containers})`], monitorRows),
    ...(notes.length ? ['notes:', ...notes.map((x) => `- ${x}`)] : []),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
});
