// Registry push/pull over loopback, to an empty registry each time (a fresh server on a fresh
// directory per scenario and round), then pull after `rmi` of every local tag of the image:
//   images: busybox (the imported rootfs, 1 layer) and "big" (busybox rootfs + a 100 MiB random
//           file, imported as one layer from a tar, so it shares no layer with busybox)
//   clients → servers: berth → berth's registry, berth → docker-registry (Debian's reference
//           registry, private config and storage), the docker CLI → berthd → docker-registry
//           (berthd without the node CLI's start-up), docker CLI → dockerd → berth's registry
//           and → docker-registry, skopeo (docker-archive → registry, registry → dir) → both.
//   The skopeo rows are the server comparison (same client, same data); each server's VmRSS is
//   read from /proc/<pid>/status after its transfers (push and pull of both images).
//
//   node bench/registry.mjs [--n 3] [--big-mib 100]
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import {
  aborted, tick, benchRoot, busyboxTar, f0, f1, f2, log, machineInfo, main, onCleanup, options, sh, sleep, snapshotDist, startEngines, stats, stopPid, table, timed, versions,
} from './lib.mjs';

const o = options({ n: 3, bigMib: 100 });

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

function v2(port) {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000 }, (r) => {
      r.resume();
      res(r.statusCode);
    });
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
  });
}

const vmRssKiB = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

await main(async () => {
  const root = benchRoot('registry');
  const tar = busyboxTar(root);
  const dist = snapshotDist(root);
  const eng = await startEngines(root, tar, ['berth', 'docker-berthd', 'dockerd']);

  // ---- the big image: busybox rootfs + a random file, one layer
  const bigDir = join(root, 'bigfs');
  mkdirSync(bigDir);
  sh('tar', ['-xf', tar, '-C', bigDir]);
  sh('sh', ['-c', `head -c ${o.bigMib * 1048576} /dev/urandom > ${bigDir}/big`]);
  const bigTar = join(root, 'big.tar');
  sh('tar', ['-cf', bigTar, '-C', bigDir, '.']);
  rmSync(bigDir, { recursive: true, force: true });
  for (const c of [eng.berth, eng.dockerd]) c.sh(['import', '--change', 'CMD ["sh"]', bigTar, 'big:latest'], { timeout: 300_000 });
  // docker-archive tarballs for skopeo (from dockerd's docker save)
  const archive = { busybox: join(root, 'busybox-archive.tar'), big: join(root, 'big-archive.tar') };
  eng.dockerd.sh(['save', '-o', archive.busybox, 'busybox:latest'], { timeout: 300_000 });
  eng.dockerd.sh(['save', '-o', archive.big, 'big:latest'], { timeout: 300_000 });

  // ---- servers
  let serial = 0;
  const startServer = async (kind, port) => {
    const dir = join(root, `reg-${kind}-${serial++}`);
    mkdirSync(dir, { recursive: true });
    const logFd = openSync(join(root, `registry-${kind}.log`), 'a');
    let proc;
    if (kind === 'berth') {
      proc = spawn(process.execPath, [dist.cli, 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'data')], { detached: true, stdio: ['ignore', logFd, logFd] });
    } else {
      const cfg = join(dir, 'config.yml');
      writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
      proc = spawn('docker-registry', ['serve', cfg], { detached: true, stdio: ['ignore', logFd, logFd] });
    }
    closeSync(logFd);
    const srv = { kind, port, dir, pid: proc.pid, stop: async () => { await stopPid(proc.pid, 5000); rmSync(dir, { recursive: true, force: true }); } };
    onCleanup(`stop ${kind} registry`, srv.stop);
    const end = Date.now() + 20_000;
    while ((await v2(port)) !== 200) {
      if (Date.now() > end) throw new Error(`${kind} registry on ${port} did not answer /v2/ with 200`);
      await sleep(50);
    }
    return srv;
  };
  const ports = { berth: await freePort(), dreg: await freePort() };
  const SERVER = { berth: "berth's registry", dreg: 'docker-registry' };

  // current local name of each image in each engine
  // (berth's CLI and the docker CLI → berthd share berthd's image store)
  const cur = { berth: { busybox: 'busybox:latest', big: 'big:latest' }, dockerd: { busybox: 'busybox:latest', big: 'big:latest' } };
  const storeOf = { berth: 'berth', 'docker-berthd': 'berth', dockerd: 'dockerd' };
  const engineXfer = (e, img, port) => {
    const cli = eng[e];
    const names = cur[storeOf[e]];
    const target = `localhost:${port}/bench/${img}:latest`;
    if (names[img] !== target) cli.sh(['tag', names[img], target]);
    const push = cli.timed(['push', target], { timeout: 300_000 }).ms;
    for (const t of new Set([names[img], target])) cli.sh(['rmi', t]);
    const pull = cli.timed(['pull', target], { timeout: 300_000 }).ms;
    names[img] = target;
    return { push, pull };
  };
  const skopeoXfer = (img, port) => {
    const ref = `docker://localhost:${port}/bench/${img}:latest`;
    const push = timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `docker-archive:${archive[img]}`, ref], { timeout: 300_000 }).ms;
    const out = join(root, `skopeo-out-${img}`);
    rmSync(out, { recursive: true, force: true });
    const pull = timed('skopeo', ['copy', '-q', '--src-tls-verify=false', ref, `dir:${out}`], { timeout: 300_000 }).ms;
    rmSync(out, { recursive: true, force: true });
    return { push, pull };
  };
  const scenarios = [
    { id: 'berth→berth', client: 'berth', server: 'berth', run: (img, p) => engineXfer('berth', img, p) },
    { id: 'berth→dreg', client: 'berth', server: 'dreg', run: (img, p) => engineXfer('berth', img, p) },
    { id: 'dberthd→dreg', client: 'docker → berthd', server: 'dreg', run: (img, p) => engineXfer('docker-berthd', img, p) },
    { id: 'dockerd→berth', client: 'docker → dockerd', server: 'berth', run: (img, p) => engineXfer('dockerd', img, p) },
    { id: 'dockerd→dreg', client: 'docker → dockerd', server: 'dreg', run: (img, p) => engineXfer('dockerd', img, p) },
    { id: 'skopeo→berth', client: 'skopeo', server: 'berth', run: (img, p) => skopeoXfer(img, p) },
    { id: 'skopeo→dreg', client: 'skopeo', server: 'dreg', run: (img, p) => skopeoXfer(img, p) },
  ];
  const res = {}; // scenario -> key -> samples
  const fails = {};
  const add = (s, k, v) => ((res[s] ??= {})[k] ??= []).push(v);
  for (let r = 0; r < o.n; r++) {
    for (let i = 0; i < scenarios.length; i++) {
      const sc = scenarios[(i + r) % scenarios.length];
      await tick();
      let srv;
      try {
        srv = await startServer(sc.server, ports[sc.server]);
        for (const img of ['busybox', 'big']) {
          const t = sc.run(img, srv.port);
          add(sc.id, `${img} push`, t.push);
          add(sc.id, `${img} pull`, t.pull);
        }
        add(sc.id, 'rss', vmRssKiB(srv.pid));
      } catch (e) {
        if (aborted()) throw e;
        log(`${sc.id}: FAILED: ${e.message.slice(-500)}`);
        (fails[sc.id] ??= []).push(e.message.slice(-300));
      } finally {
        await srv?.stop();
      }
    }
    log(`round ${r + 1}/${o.n} done`);
  }

  const med = (s, k) => stats(res[s]?.[k] ?? []).median;
  process.stdout.write(`${machineInfo()}\n${versions(eng)}\nskopeo: ${sh('skopeo', ['--version']).stdout.trim()}\n\n`);
  const keys = ['busybox push', 'busybox pull', 'big push', 'big pull'];
  process.stdout.write(table(['client → server', ...keys.map((k) => `${k.replace('big', `${o.bigMib} MiB`)} ms`), 'server VmRSS MiB after', 'n'],
    scenarios.map((sc) => [`${sc.client} → ${SERVER[sc.server]}`, ...keys.map((k) => f0(med(sc.id, k))), f1(med(sc.id, 'rss') / 1024), `${res[sc.id]?.rss?.length ?? 0}${fails[sc.id] ? ` (${fails[sc.id].length} failed)` : ''}`])));
  process.stdout.write('\nRatios, same client, berth\'s registry / docker-registry (medians):\n\n');
  const pairs = [['berth', 'berth→berth', 'berth→dreg'], ['docker → dockerd', 'dockerd→berth', 'dockerd→dreg'], ['skopeo', 'skopeo→berth', 'skopeo→dreg']];
  process.stdout.write(table(['client', ...keys, 'VmRSS'], pairs.map(([c, a, b]) => [c, ...[...keys, 'rss'].map((k) => `${f2(med(a, k) / med(b, k))}×`)])));
  process.stdout.write('\nRatios, berth client / docker → dockerd, same server (medians):\n\n');
  process.stdout.write(table(['server', ...keys], [['berth', 'berth→berth', 'dockerd→berth'], ['dreg', 'berth→dreg', 'dockerd→dreg']].map(([s, a, b]) => [SERVER[s], ...keys.map((k) => `${f2(med(a, k) / med(b, k))}×`)])));
  process.stdout.write('\nRatio, the docker CLI → berthd / the docker CLI → dockerd, to docker-registry (same client, engines compared; medians):\n\n');
  process.stdout.write(table(['', ...keys], [['docker → berthd / docker → dockerd', ...keys.map((k) => `${f2(med('dberthd→dreg', k) / med('dockerd→dreg', k))}×`)]]));
  for (const [s, m] of Object.entries(fails)) process.stdout.write(`\n${s} failures: ${m.join(' / ')}\n`);
}, { deadlineMin: 20 });
