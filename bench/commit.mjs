// Commit: throughput of `commit` of a container whose writable layer holds ≈ 1 GiB of new data,
// in two shapes: many small files (100 000 files in 100 directories) and one big file.
//
// The data is generated once on the host (random bytes, so no engine can dedupe or compress it)
// and, for every sample, copied with `cp -a` into the upper directory of a container that was
// just created (never started) from busybox, found with `inspect -f {{.GraphDriver.Data.UpperDir}}`;
// then `sync`. That is what the container's own writes would have left there, identical for
// every engine, and it costs no engine a minute of busybox shell loops. The `cp -a` is timed too,
// as a reference: it creates the same files a commit unpacks again. Each sample then times:
//   - the baseline: `tar -c -C <that upper dir> . | sha256sum` on the host (read + archive + hash
//     of the same bytes, the least any commit has to do);
//   - `commit <ctr> <img>` of one engine: berth's CLI → berthd, the docker CLI → berthd, the docker
//     CLI → dockerd 20.10, podman (the last two where installed);
// after which the container and the image are removed (and the engine's garbage collected), so
// that each sample starts from the same disk. Rounds are interleaved: each round runs every
// engine once per case, in an order rotated every round.
//
//   node bench/commit.mjs [--engines berth,docker-berthd,dockerd,podman] [--cases small,big]
//                         [--n 3] [--files 100000] [--mib 1024]
import { mkdirSync, openSync, closeSync, writeSync, statfsSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import {
  aborted, tick, benchRoot, busyboxTar, f0, f1, f2, log, machineInfo, main, options, sh, startEngines, stats, table, timed, versions,
} from './lib.mjs';

const o = options({ engines: 'berth,docker-berthd,dockerd,podman', cases: 'small,big', n: 3, files: 100_000, mib: 1024 });
const LABEL = {
  berth: '`berth commit` → berthd',
  'docker-berthd': '`docker commit` → berthd',
  dockerd: '`docker commit` → dockerd',
  podman: '`podman commit`',
};
const CASE_LABEL = { small: `${o.files} small files`, big: 'one big file' };
const MiB = 2 ** 20;

function freeBytes(path) {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/** A pool of random bytes the data is cut from (incompressible; no two files alike at the same offset). */
function randomPool(size) {
  const pool = Buffer.allocUnsafe(size);
  randomFillSync(pool);
  return pool;
}

/**
 * `files` files in 10 × 10 directories, sizes spread around total/files (pairs avg−k, avg+k, so
 * the sum is exactly files × avg). Returns the number of bytes of file data.
 */
function makeSmall(dir, files, total) {
  const avg = Math.floor(total / files);
  const pool = randomPool(64 * MiB);
  const perDir = Math.ceil(files / 100);
  let bytes = 0;
  let off = 0;
  for (let i = 0; i < files; i++) {
    const k = (Math.floor(i / 2) * 7919) % avg;
    const size = i === files - 1 && i % 2 === 0 ? avg : i % 2 === 0 ? avg - k : avg + k;
    const d = Math.floor(i / perDir);
    const sub = join(dir, `d${String(Math.floor(d / 10)).padStart(2, '0')}`, `e${String(d % 10).padStart(2, '0')}`);
    if (i % perDir === 0) mkdirSync(sub, { recursive: true });
    if (off + size > pool.length) off = (off * 31 + 4099) % (pool.length - size);
    writeFileSync(join(sub, `f${String(i % perDir).padStart(4, '0')}`), pool.subarray(off, off + size));
    off += size;
    bytes += size;
  }
  return bytes;
}

function makeBig(dir, total) {
  mkdirSync(dir, { recursive: true });
  const chunk = 16 * MiB;
  const pool = Buffer.allocUnsafe(chunk);
  const fd = openSync(join(dir, 'big.bin'), 'w', 0o644);
  try {
    for (let left = total; left > 0; left -= chunk) {
      randomFillSync(pool);
      const n = Math.min(chunk, left);
      for (let w = 0; w < n; ) w += writeSync(fd, pool, w, n - w);
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

await main(async () => {
  const want = o.engines.split(',').filter(Boolean);
  const cases = o.cases.split(',').filter(Boolean);
  for (const c of cases) if (!CASE_LABEL[c]) throw new Error(`unknown case ${c} (small, big)`);
  const total = o.mib * MiB;

  // Disk: the source data of each case, one container's copy, and one committed image (berth and
  // podman keep the layer tar beside the unpacked layer: 2×) at a time, plus slack.
  const need = cases.length * total + 4 * total + 2 * 2 ** 30;
  const free = freeBytes('/tmp');
  log(`free on /tmp: ${(free / 2 ** 30).toFixed(1)} GiB, need about ${(need / 2 ** 30).toFixed(1)} GiB`);
  if (free < need) throw new Error(`not enough space on /tmp: ${(free / 2 ** 30).toFixed(1)} GiB free, need ${(need / 2 ** 30).toFixed(1)} GiB`);

  const root = benchRoot('commit');
  const tar = busyboxTar(root);
  const src = {};
  const bytes = {};
  for (const c of cases) {
    src[c] = join(root, `src-${c}`);
    log(`generating ${CASE_LABEL[c]} (${o.mib} MiB) in ${src[c]}`);
    bytes[c] = c === 'small' ? makeSmall(src[c], o.files, total) : makeBig(src[c], total);
  }
  sh('sync', []);

  const eng = await startEngines(root, tar, want);
  const names = want.filter((n) => eng[n]);
  // dockerd's overlay2 has a native diff (tar of the upper dir) only without redirect_dir/metacopy;
  // otherwise it mounts the container and compares it with its parent (the "naive" diff).
  const notes = [];
  if (eng.dockerd) {
    const st = eng.dockerd.sh(['info', '--format', '{{json .DriverStatus}}'], { allowFail: true }).stdout?.trim();
    notes.push(`dockerd storage driver status: ${st}`);
  }
  if (eng.podman) {
    const st = eng.podman.sh(['info', '--format', '{{json .Store.GraphStatus}}'], { allowFail: true }).stdout?.trim();
    notes.push(`podman graph status: ${st}`);
  }

  const res = {}; // res[case][engine] = { cp, base, commit: [ms], ratio: [commit / base], size: [bytes] }
  let seq = 0;
  const sample = (c, n) => {
    const e = eng[n];
    const createArgs = ['create', ...e.runFlags, 'busybox', 'true'];
    const id = e.sh(createArgs, { timeout: 60_000 }).stdout.trim().split('\n').pop();
    const img = `bench-commit-${n}:${seq++}`;
    try {
      const upper = (n === 'berth' ? eng.berthd.dockerCli() : e).sh(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', id]).stdout.trim();
      if (!upper.startsWith(root)) throw new Error(`${n}: upper dir ${upper} is not under ${root}`);
      const cp = timed('cp', ['-a', src[c], join(upper, 'data')], { timeout: 900_000 }).ms;
      sh('sync', [], { timeout: 300_000 });
      const base = timed('sh', ['-c', 'tar -c -C "$1" . | sha256sum', 'sh', upper], { timeout: 600_000 }).ms;
      const commit = e.timed(['commit', id, img], { timeout: 900_000 }).ms;
      const size = Number((n === 'berth' ? eng.berthd.dockerCli() : e).sh(['image', 'inspect', '-f', '{{.Size}}', img]).stdout.trim());
      const r = ((res[c] ??= {})[n] ??= { cp: [], base: [], commit: [], ratio: [], size: [] });
      r.cp.push(cp);
      r.base.push(base);
      r.commit.push(commit);
      r.ratio.push(commit / base);
      r.size.push(size);
      log(`${c} ${n}: cp -a ${f0(cp)} ms, tar|sha256sum ${f0(base)} ms, commit ${f0(commit)} ms (${f2(commit / base)}×), image size ${f1(size / MiB)} MiB`);
    } finally {
      e.sh(['rm', ...e.rmFlags, id], { allowFail: true, timeout: 300_000 });
      e.sh(['rmi', '-f', img], { allowFail: true, timeout: 300_000 });
      if (n === 'podman') e.sh(['image', 'prune', '-f'], { allowFail: true, timeout: 300_000 });
      sh('sync', [], { timeout: 300_000 });
    }
  };

  const failed = {};
  for (let r = 0; r < o.n; r++) {
    for (const c of cases) {
      for (let i = 0; i < names.length; i++) {
        const n = names[(i + r) % names.length];
        if (failed[n]) continue;
        await tick();
        try {
          sample(c, n);
        } catch (e) {
          if (aborted()) throw e;
          failed[n] = e.message.slice(-500);
          log(`${c} ${n}: FAILED: ${failed[n]}`);
        }
      }
    }
    log(`round ${r + 1}/${o.n} done; free on /tmp: ${(freeBytes('/tmp') / 2 ** 30).toFixed(1)} GiB`);
  }

  process.stdout.write(`${machineInfo()}\n${versions(eng)}\n${notes.join('\n')}\n\n`);
  for (const c of cases) {
    const allBase = Object.values(res[c] ?? {}).flatMap((r) => r.base);
    const b = stats(allBase);
    const mibs = (ms) => bytes[c] / MiB / (ms / 1000);
    process.stdout.write(`${CASE_LABEL[c]}, ${f1(bytes[c] / MiB)} MiB of file data\n\n`);
    const cpAll = stats(Object.values(res[c] ?? {}).flatMap((r) => r.cp));
    const rows = [[
      '`cp -a` of the data into the upper dir (set-up, for reference: creates the same files)', `${f0(cpAll.median)} (${f0(cpAll.min)}–${f0(cpAll.max)})`, f0(mibs(cpAll.median)), `${f2(cpAll.median / b.median)}×`, '', `${cpAll.n}`,
    ], [
      '`tar -c -C upper . \\| sha256sum` (baseline, before each commit)', `${f0(b.median)} (${f0(b.min)}–${f0(b.max)})`, f0(mibs(b.median)), '1.00×', '', `${b.n}`,
    ]];
    for (const n of names) {
      const r = res[c]?.[n];
      if (!r) {
        rows.push([LABEL[n], failed[n] ? 'failed' : '–', '', '', '', '0']);
        continue;
      }
      const s = stats(r.commit);
      rows.push([
        LABEL[n], `${f0(s.median)} (${f0(s.min)}–${f0(s.max)})`, f0(mibs(s.median)), `${f2(s.median / b.median)}×`,
        `${f2(stats(r.ratio).median)}×`, `${s.n}`,
      ]);
    }
    process.stdout.write(table(['command', 'ms median (min–max)', 'MiB/s', 'vs baseline (medians)', 'vs its own baseline (median of ratios)', 'n'], rows));
    process.stdout.write('\n');
  }
  for (const [n, m] of Object.entries(failed)) process.stdout.write(`${n} failed: ${m}\n`);
}, { deadlineMin: 90 });
