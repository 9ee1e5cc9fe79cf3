// Figure 4: memory. Daemon RSS idle (fresh, then after an import and a run), with 100 running
// `sleep 1000` containers, after removing them, and after 200 more `run --rm` (API level: does
// it keep growing?); per-container monitor memory (berth's and
// podman's conmon, docker's containerd-shim-runc-v2) from /proc/<pid>/smaps_rollup: Rss, Pss
// (shared pages split between sharers) and USS (private pages).
//
//   node bench/memory.mjs [--engines berth,dockerd,podman] [--containers 100] [--settle-ms 3000] [--churn 200]
import {
  api, tick, Berthd, Dockerd, Podman, benchRoot, busyboxTar, f1, log, machineInfo, main, memKiB, mib, options, pidsMentioning, sleep,
  stats, table,
} from './lib.mjs';

const o = options({ engines: 'berth,dockerd,podman', containers: 100, settleMs: 3000, churn: 200 });

/** One `run --rm busybox true` at API level (create, wait for removal, start), no CLI. */
async function apiRunRm(sock) {
  const c = await api(sock, 'POST', '/v1.41/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { AutoRemove: true } });
  if (c.status !== 201) throw new Error(`create: ${c.status} ${c.text}`);
  const id = JSON.parse(c.text).Id;
  const waited = api(sock, 'POST', `/v1.41/containers/${id}/wait?condition=removed`);
  const s = await api(sock, 'POST', `/v1.41/containers/${id}/start`);
  if (s.status !== 204) throw new Error(`start: ${s.status} ${s.text}`);
  const w = await waited;
  if (w.status !== 200) throw new Error(`wait: ${w.status} ${w.text}`);
}

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

  const measureDaemon = async (label, procs, cli, monitorNeedle, monitorComm, sock) => {
    const fresh = await sample(procs);
    cli.importBusybox(tar);
    cli.sh(cli.runArgs(['--rm', 'busybox', 'true']), { timeout: 60_000 });
    const used = await sample(procs);
    await runMany(cli);
    const loaded = await sample(procs);
    if (monitorComm) monitors(label, cli, monitorNeedle, monitorComm);
    rmMany(cli);
    const after = await sample(procs);
    log(`${label}: ${o.churn} × run --rm (API)`);
    for (let i = 0; i < o.churn; i++) {
      await tick();
      await apiRunRm(sock);
    }
    const churned = await sample(procs);
    procs.forEach(([name], i) => daemonRows.push([`${label}: ${name}`, fmt(fresh[i]), fmt(used[i]), fmt(loaded[i]), fmt(after[i]), fmt(churned[i])]));
  };

  if (want.includes('berth')) {
    log('starting berthd');
    const d = await Berthd.start(root);
    await measureDaemon('berth', [['berthd', d.pid]], d.cli, d.root, 'conmon', d.sock);
    await d.stop();
  }
  if (want.includes('dockerd')) {
    if (!Dockerd.available()) log('dockerd not installed: skipped');
    else {
      log('starting dockerd');
      const d = await Dockerd.start(root);
      const containerd = pidsMentioning(d.exec, 'containerd')[0];
      await measureDaemon('docker', [['dockerd', d.pid], ['containerd', containerd]], d.cli, d.exec, 'containerd-shim', d.sock);
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
    table(['process', 'fresh idle', 'idle after import + 1 run', `with ${o.containers} containers`, 'after removing them', `then after ${o.churn} × run --rm`], daemonRows),
    `Per-container monitor process, with ${o.containers} running containers (median over the processes).`,
    '',
    table(['monitor', 'count', 'Rss MiB', 'Pss MiB', 'USS MiB', `Σ Pss MiB (all ${o.containers})`], monitorRows),
    ...(notes.length ? ['notes:', ...notes.map((x) => `- ${x}`)] : []),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
});
