// Shared helpers for berth's benchmarks (bench/*.mjs). Benchmarks are not tests: they measure,
// side by side in one run, and print markdown tables. Everything runs on private roots under
// /tmp/berth-bench-*, and everything started here is torn down at the end (also on failure or
// Ctrl-C): containers, daemons, conmon/shim processes, mounts, cgroups, directories.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync, symlinkSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync,
} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BERTH_CLI = join(REPO, 'dist/berth.mjs');
export const BERTHD = join(REPO, 'dist/berthd.mjs');
export const DOCKER_CLI = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
export const RUNC = existsSync('/usr/sbin/runc') ? '/usr/sbin/runc' : 'runc';

// ------------------------------------------------------------------------------------ logging

export function log(...a) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


// ------------------------------------------------------------------------------------ options

/** --name value / --flag options; defaults give the types. */
export function options(defaults) {
  const o = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(`options (defaults): ${JSON.stringify(defaults)}\n`);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k0, inline] = a.slice(2).split('=', 2);
    const k = k0.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(k in defaults)) throw new Error(`unknown option --${k0}`);
    if (typeof defaults[k] === 'boolean') o[k] = inline === undefined ? true : inline !== 'false';
    else {
      const v = inline ?? argv[++i];
      o[k] = typeof defaults[k] === 'number' ? Number(v) : v;
    }
  }
  return o;
}

// ------------------------------------------------------------------------------------ cleanup

const cleanups = [];
let cleaning;
let abortWhy; // set by a signal or the deadline: the next command of the benchmark body throws
let inCleanup = false;

/** Register a teardown step; steps run in reverse order of registration. */
export function onCleanup(what, fn) {
  cleanups.push({ what, fn });
}

export function cleanupAll() {
  cleaning ??= (async () => {
    inCleanup = true;
    while (cleanups.length > 0) {
      const { what, fn } = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        log(`cleanup (${what}) failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  })();
  return cleaning;
}

/**
 * Run a benchmark body; whatever happens (success, failure, Ctrl-C, SIGTERM, the deadline) the
 * registered cleanups run before the process exits. The body runs commands synchronously, so a
 * signal is noticed between two commands: the next one throws and the body unwinds.
 */
export async function main(body, { deadlineMin = 45 } = {}) {
  const abort = (why) => {
    if (abortWhy) {
      log(`${why} again: cleaning up now`);
      cleanupAll().finally(() => process.exit(130));
      return;
    }
    abortWhy = why;
    log(`${why}: stopping after the current command`);
    // should the body not unwind (stuck in an await), clean up anyway
    setTimeout(() => cleanupAll().finally(() => process.exit(130)), 60_000).unref();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => abort(`got ${sig}`));
  setTimeout(() => abort(`deadline of ${deadlineMin} min passed`), deadlineMin * 60_000).unref();
  let code = 0;
  try {
    await body();
  } catch (e) {
    log(`FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    code = abortWhy ? 130 : 1;
  } finally {
    await cleanupAll();
  }
  process.exit(code);
}

export function checkAbort() {
  if (abortWhy && !inCleanup) throw new Error(`aborted (${abortWhy})`);
}

export const aborted = () => abortWhy !== undefined;

/**
 * Let the event loop turn (signals are delivered there; commands run synchronously), then throw
 * if the run was aborted. Call it between samples.
 */
export async function tick() {
  await new Promise((r) => setImmediate(r));
  checkAbort();
}

// ------------------------------------------------------------------------------------ processes

/** spawnSync with a timeout; throws on a non-zero exit unless allowFail. */
export function sh(file, args, o = {}) {
  checkAbort();
  const r = spawnSync(file, args, {
    encoding: 'utf8',
    timeout: o.timeout ?? 120_000,
    killSignal: 'SIGKILL',
    env: o.env ?? process.env,
    input: o.input,
    stdio: o.stdio ?? ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 << 20,
  });
  if (r.error && !o.allowFail) throw new Error(`${file} ${args.join(' ')}: ${r.error.message}`);
  if (!o.allowFail && r.status !== 0) {
    throw new Error(`${basename(file)} ${args.join(' ')}: exit ${r.status}${r.signal ? ` (${r.signal})` : ''}: ${(r.stderr ?? '').trim().slice(-1500)}`);
  }
  return r;
}

/** Wall time of one command in ms (spawn to exit, as a shell user sees it). */
export function timed(file, args, o = {}) {
  const t0 = process.hrtime.bigint();
  const r = sh(file, args, o);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, r };
}

export function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).status === 0;
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!pidAlive(pid)) return true;
    // a zombie child of ours counts as gone
    try {
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return true;
    } catch {
      return true;
    }
    await sleep(50);
  }
  return !pidAlive(pid);
}

/** SIGTERM, wait, SIGKILL. */
export async function stopPid(pid, graceMs = 10_000) {
  if (!pid || !pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGone(pid, graceMs)) return;
  log(`pid ${pid} ignored SIGTERM for ${graceMs} ms: SIGKILL`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
  await waitGone(pid, 5000);
}

export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

export function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export function allPids() {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** Pids whose command line mentions `needle` (a private root path), not this process. */
export function pidsMentioning(needle, commName) {
  return allPids().filter((p) => p !== process.pid && (!commName || comm(p) === commName) && cmdline(p).some((a) => a.includes(needle)));
}

// ------------------------------------------------------------------------------------ memory

/** Rss / Pss / private (USS) of a process in KiB, from /proc/<pid>/smaps_rollup. */
export function memKiB(pid) {
  let txt;
  try {
    txt = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const f = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(txt)?.[1] ?? 0);
  return { rss: f('Rss'), pss: f('Pss'), uss: f('Private_Clean') + f('Private_Dirty') };
}

export const mib = (kib) => (kib / 1024).toFixed(1);

// ------------------------------------------------------------------------------------ statistics

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, min: NaN, median: NaN, p90: NaN, max: NaN, mean: NaN };
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const p90 = s[Math.min(n - 1, Math.ceil(0.9 * n) - 1)]; // nearest rank
  return { n, min: s[0], median, p90, max: s[n - 1], mean: s.reduce((a, b) => a + b, 0) / n };
}

export const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '–');
export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');

export function table(headers, rows) {
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

export function machineInfo() {
  const v = (file, args) => {
    const r = spawnSync(file, args, { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? (r.stdout || r.stderr).split('\n')[0].trim() : 'n/a';
  };
  return [
    `date: ${new Date().toISOString()}`,
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, kernel ${os.release()}, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `node ${process.version}; ${v(RUNC, ['--version'])}; ${v('conmon', ['--version'])}`,
    `berth: dist/berthd.mjs built ${distBuiltAt ?? (existsSync(BERTHD) ? statSync(BERTHD).mtime.toISOString() : 'missing')}`,
  ].join('\n');
}

// ------------------------------------------------------------------------------------ API over a unix socket

export function api(sock, method, path, body, { timeout = 60_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({
      socketPath: sock, method, path, agent: false, timeout,
      headers: { Host: 'localhost', ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

export async function waitPing(sock, ms, what) {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    checkAbort();
    try {
      const r = await api(sock, 'GET', '/_ping', undefined, { timeout: 2000 });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${what} did not answer /_ping on ${sock} within ${ms} ms (${last})`);
}

// ------------------------------------------------------------------------------------ roots, mounts, cgroups

/** A fresh private root /tmp/berth-bench-<tag>-XXXXXX, scrubbed at the end. */
export function benchRoot(tag) {
  const root = mkdtempSync(`/tmp/berth-bench-${tag}-`);
  onCleanup(`scrub ${root}`, () => scrubRoot(root));
  return root;
}

function unescapeMount(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

export function mountsUnder(root) {
  const out = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeMount(mp);
    if (p === root || p.startsWith(`${root}/`)) out.push(p);
  }
  return out;
}

/** Kill whatever still mentions root, unmount everything under it, remove it. */
export async function scrubRoot(root) {
  if (!root.startsWith('/tmp/berth-bench-')) throw new Error(`refusing to scrub ${root}`);
  const left = pidsMentioning(root);
  if (left.length > 0) {
    log(`killing ${left.length} leftover process(es) under ${root}: ${left.map((p) => `${p}:${comm(p)}`).join(' ')}`);
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch { /* gone */ }
    }
    for (const p of left) await waitGone(p, 3000);
  }
  for (let round = 0; round < 3; round++) {
    const ms = mountsUnder(root).sort((a, b) => b.length - a.length);
    if (ms.length === 0) break;
    for (const m of ms) spawnSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
  }
  const still = mountsUnder(root);
  if (still.length > 0) throw new Error(`still mounted under ${root}: ${still.join(' ')}`);
  for (let i = 0; i < 5; i++) {
    try {
      rmSync(root, { recursive: true, force: true });
      return;
    } catch (e) {
      if (i === 4) throw e;
      await sleep(200);
    }
  }
}

function cgroupHierarchies() {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [base]; // pure v2
  const hs = [];
  for (const d of readdirSync(base)) {
    const p = join(base, d);
    if (existsSync(join(p, 'cgroup.procs'))) hs.push(p);
  }
  return hs;
}

/** Kill every process in the cgroup subtree `rel` (e.g. /berth-bench-x) and remove the subtree. */
export async function removeCgroupTree(rel) {
  for (const h of cgroupHierarchies()) {
    const top = join(h, rel);
    if (!existsSync(top)) continue;
    const dirs = [];
    const walk = (d) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    try {
      walk(top);
    } catch {
      continue;
    }
    for (const d of dirs) {
      try {
        for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
      } catch { /* gone */ }
    }
    for (const d of dirs.reverse()) {
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (e) {
          if (e.code === 'ENOENT') break;
          await sleep(100);
        }
      }
    }
  }
}

/** A path that this run creates must be removed at the end; one that existed before is left alone. */
export function removeIfNew(path) {
  if (existsSync(path)) return;
  onCleanup(`remove ${path} if created`, () => {
    if (existsSync(path)) rmSync(path, { recursive: true, force: true });
  });
}

// ------------------------------------------------------------------------------------ the busybox image

export function busyboxTar(root) {
  const tar = join(root, 'busybox.tar');
  sh('bash', [join(REPO, 'scripts/busybox-rootfs.sh'), tar]);
  return tar;
}

// ------------------------------------------------------------------------------------ engines
// An engine is a CLI (file + leading args + env) that speaks docker's command language, with
// the flags its `run` needs to be comparable: every container gets a private network namespace
// with only loopback and no port mapping.

class Cli {
  constructor(name, file, lead, env, runFlags = [], rmFlags = ['-f']) {
    Object.assign(this, { name, file, lead, env, runFlags, rmFlags });
  }
  sh(args, o = {}) {
    return sh(this.file, [...this.lead, ...args], { env: this.env, ...o });
  }
  timed(args, o = {}) {
    return timed(this.file, [...this.lead, ...args], { env: this.env, ...o });
  }
  /** `run` with this engine's comparability flags inserted after the subcommand. */
  runArgs(rest) {
    return ['run', ...this.runFlags, ...rest];
  }
  ids() {
    return this.sh(['ps', '-aq', '--no-trunc'], { allowFail: true }).stdout?.split('\n').filter(Boolean) ?? [];
  }
  rmAll() {
    const ids = this.ids();
    for (let i = 0; i < ids.length; i += 50) this.sh(['rm', ...this.rmFlags, ...ids.slice(i, i + 50)], { allowFail: true, timeout: 300_000 });
    return ids.length;
  }
  /** Force-remove (SIGKILL, no grace period: podman's `rm -f` would wait 10 s for `sleep` otherwise). */
  rm(ids, o = {}) {
    return this.sh(['rm', ...this.rmFlags, ...ids], { timeout: 300_000, ...o });
  }
  importBusybox(tar) {
    this.sh(['import', '--change', 'CMD ["sh"]', tar, 'busybox:latest'], { timeout: 300_000 });
  }
}

let distBuiltAt;
const snapshots = new Map();

/**
 * A private copy of dist/ under root (node_modules linked), so that a rebuild of the work tree
 * while a benchmark runs cannot mix two builds of the CLI and the daemon.
 */
export function snapshotDist(root) {
  let snap = snapshots.get(root);
  if (snap) return snap;
  const dir = join(root, 'dist');
  if (!existsSync(BERTHD) || !existsSync(BERTH_CLI)) throw new Error(`no build in ${join(REPO, 'dist')}: run npm run build`);
  distBuiltAt = statSync(BERTHD).mtime.toISOString();
  cpSync(join(REPO, 'dist'), dir, { recursive: true, filter: (src) => !src.endsWith('.map') });
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  snap = { cli: join(dir, 'berth.mjs'), daemon: join(dir, 'berthd.mjs') };
  snapshots.set(root, snap);
  return snap;
}

/** berthd on private roots; `cli` is berth's own CLI, `dockerCli()` the docker CLI against it. */
export class Berthd {
  static async start(root) {
    const d = new Berthd();
    d.root = join(root, 'berth');
    d.data = join(d.root, 'data');
    d.run = join(d.root, 'run');
    mkdirSync(d.run, { recursive: true });
    mkdirSync(d.data, { recursive: true });
    d.sock = join(d.run, 'berth.sock');
    d.logFile = join(root, 'berthd.log');
    const fd = openSync(d.logFile, 'a');
    const dist = snapshotDist(root);
    d.cliPath = dist.cli;
    d.proc = spawn(process.execPath, [dist.daemon, '--data-root', d.data, '--run-root', d.run], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    d.pid = d.proc.pid;
    onCleanup('stop berthd', () => d.stop());
    await waitPing(d.sock, 30_000, 'berthd');
    d.cli = new Cli('berth', process.execPath, [dist.cli], { ...process.env, BERTH_HOST: `unix://${d.sock}` });
    return d;
  }
  dockerCli() {
    return new Cli('docker → berthd', DOCKER_CLI, ['-H', `unix://${this.sock}`], process.env);
  }
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    if (pidAlive(this.pid)) {
      const n = this.cli?.rmAll() ?? 0;
      if (n > 0) log(`berthd: removed ${n} container(s)`);
    }
    await stopPid(this.pid, 10_000);
    // containers outlive berthd by design: make sure none of ours is left
    const runcRoot = join(this.run, 'runc');
    if (existsSync(runcRoot)) {
      for (const id of sh(RUNC, ['--root', runcRoot, 'list', '-q'], { allowFail: true }).stdout?.split('\n').filter(Boolean) ?? []) {
        log(`berthd: leftover runc container ${id}: delete -f`);
        sh(RUNC, ['--root', runcRoot, 'delete', '-f', id], { allowFail: true });
      }
    }
  }
}

/** Debian's dockerd (with its own containerd) on private roots, no bridge, no iptables. */
export class Dockerd {
  static available() {
    return have('dockerd') && have('containerd');
  }
  static async start(root) {
    const d = new Dockerd();
    d.root = join(root, 'dk');
    d.data = join(d.root, 'data');
    d.exec = join(d.root, 'x');
    d.sock = join(d.root, 'docker.sock');
    d.pidFile = join(d.root, 'docker.pid');
    d.cgroupParent = `/${basename(root)}-docker`;
    mkdirSync(d.root, { recursive: true });
    removeIfNew('/etc/docker/key.json'); // dockerd 20.10 writes a trust key there
    d.logFile = join(root, 'dockerd.log');
    const fd = openSync(d.logFile, 'a');
    d.proc = spawn('dockerd', [
      '--data-root', d.data, '--exec-root', d.exec, '-H', `unix://${d.sock}`, '--pidfile', d.pidFile,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--userland-proxy=false',
      `--cgroup-parent=${d.cgroupParent}`, '--exec-opt', 'native.cgroupdriver=cgroupfs', '--log-level=warn',
    ], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    d.pid = d.proc.pid;
    onCleanup('stop dockerd', () => d.stop());
    await waitPing(d.sock, 60_000, 'dockerd');
    // with --bridge=none the default network is a private namespace with only loopback, as berth's
    d.cli = new Cli('dockerd', DOCKER_CLI, ['-H', `unix://${d.sock}`], process.env);
    return d;
  }
  /** Another docker CLI binary (e.g. Debian's /usr/bin/docker 20.10) against this dockerd, with extra env. */
  otherCli(name, file, env = {}) {
    return new Cli(name, file, ['-H', `unix://${this.sock}`], { ...process.env, ...env });
  }
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    if (pidAlive(this.pid)) {
      const n = this.cli?.rmAll() ?? 0;
      if (n > 0) log(`dockerd: removed ${n} container(s)`);
    }
    await stopPid(this.pid, 20_000);
    const runcRoot = join(this.exec, 'runtime-runc/moby');
    if (existsSync(runcRoot)) {
      for (const id of sh(RUNC, ['--root', runcRoot, 'list', '-q'], { allowFail: true }).stdout?.split('\n').filter(Boolean) ?? []) {
        sh(RUNC, ['--root', runcRoot, 'delete', '-f', id], { allowFail: true });
      }
    }
    for (const p of pidsMentioning(this.root)) {
      try {
        process.kill(p, 'SIGKILL'); // containerd-shim-runc-v2 and containerd, should any be left
      } catch { /* gone */ }
    }
    await removeCgroupTree(this.cgroupParent);
  }
}

/** podman (no daemon) on private --root/--runroot/--tmpdir, cgroupfs, no network. */
export class Podman {
  static available() {
    return have('podman');
  }
  static setup(root) {
    const p = new Podman();
    p.root = join(root, 'pm');
    p.cgroupParent = `/${basename(root)}-podman`;
    for (const d of ['root', 'runroot', 'tmp']) mkdirSync(join(p.root, d), { recursive: true });
    // paths podman writes outside its roots
    removeIfNew('/var/lib/containers');
    removeIfNew('/var/lib/containers/cache'); // podman's blob-info cache, whatever its --root
    removeIfNew('/run/containers');
    for (const h of cgroupHierarchies()) removeIfNew(join(h, 'libpod_parent')); // where conmon goes with cgroupfs
    onCleanup('remove podman containers', () => p.stop());
    // podman as root asks runc for RLIMIT_NOFILE/NPROC of 1048576, which this sandbox (no
    // CAP_SYS_RESOURCE) refuses: ask for what the process already has.
    const lim = readFileSync('/proc/self/limits', 'utf8');
    const hard = (k) => lim.split('\n').find((l) => l.startsWith(k))?.split(/\s{2,}/)[2];
    const nofile = hard('Max open files') ?? '1024';
    p.cli = new Cli('podman', 'podman', [
      '--root', join(p.root, 'root'), '--runroot', join(p.root, 'runroot'), '--tmpdir', join(p.root, 'tmp'),
      '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--storage-driver', 'overlay', '--log-level', 'error',
    ], process.env, ['--network', 'none', '--cgroup-parent', p.cgroupParent, '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=32768:32768'], ['-f', '-t', '0']);
    return p;
  }
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    const n = this.cli.rmAll();
    if (n > 0) log(`podman: removed ${n} container(s)`);
    // conmon runs `podman container cleanup` as each container exits; let those finish, or they
    // write /var/lib/containers/cache again after it was removed
    const end = Date.now() + 20_000;
    while (Date.now() < end && pidsMentioning(this.root).length > 0) await sleep(200);
    // podman's runc state lives in runc's default root, /run/runc: delete only our ids
    const mine = join(this.root, 'root', 'overlay-containers');
    if (existsSync(mine)) {
      for (const id of readdirSync(mine)) {
        if (existsSync(join('/run/runc', id))) sh(RUNC, ['--root', '/run/runc', 'delete', '-f', id], { allowFail: true });
      }
    }
    await removeCgroupTree(this.cgroupParent);
  }
}

/** Make the runc bundle (runc spec + args true, writable root, no terminal). */
export function makeRuncBundle(root, tar) {
  const bundle = join(root, 'runc-bundle');
  const state = join(root, 'runc-root');
  mkdirSync(join(bundle, 'rootfs'), { recursive: true });
  mkdirSync(state, { recursive: true });
  sh('tar', ['-xf', tar, '-C', join(bundle, 'rootfs')]);
  const r = spawnSync(RUNC, ['spec'], { cwd: bundle, encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`runc spec: ${r.stderr}`);
  const specPath = join(bundle, 'config.json');
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  spec.process.args = ['true'];
  spec.process.terminal = false;
  spec.root.readonly = false;
  writeFileSync(specPath, JSON.stringify(spec, null, 2));
  onCleanup('runc containers', () => {
    for (const id of sh(RUNC, ['--root', state, 'list', '-q'], { allowFail: true }).stdout?.split('\n').filter(Boolean) ?? []) {
      sh(RUNC, ['--root', state, 'delete', '-f', id], { allowFail: true });
    }
  });
  let n = 0;
  return {
    name: 'runc run',
    /** one `runc run` of `true`, a fresh id each time */
    timed: () => timed(RUNC, ['--root', state, 'run', '-b', bundle, `bench-${process.pid}-${n++}`], { timeout: 60_000 }),
  };
}

/** Start the engines asked for (names: berth, docker-berthd, dockerd, podman); import busybox in each. */
export async function startEngines(root, tar, names) {
  const out = {};
  const want = new Set(names);
  if (want.has('berth') || want.has('docker-berthd')) {
    log('starting berthd');
    const d = await Berthd.start(root);
    d.cli.importBusybox(tar);
    out.berthd = d;
    if (want.has('berth')) out.berth = d.cli;
    if (want.has('docker-berthd')) out['docker-berthd'] = d.dockerCli();
  }
  if (want.has('dockerd')) {
    if (Dockerd.available()) {
      log('starting dockerd');
      const d = await Dockerd.start(root);
      d.cli.importBusybox(tar);
      out.dockerdDaemon = d;
      out.dockerd = d.cli;
    } else log('dockerd not installed (apt-get install -y docker.io): skipped');
  }
  if (want.has('podman')) {
    if (Podman.available()) {
      log('setting up podman');
      const p = Podman.setup(root);
      p.cli.importBusybox(tar);
      out.podmanSetup = p;
      out.podman = p.cli;
    } else log('podman not installed (apt-get install -y podman): skipped');
  }
  // one untimed run each: warms caches, proves the setup works
  for (const n of names) if (out[n]) out[n].sh(out[n].runArgs(['--rm', 'busybox', 'true']), { timeout: 60_000 });
  return out;
}

export function versions(engines) {
  const lines = [];
  if (engines.dockerd) lines.push(`dockerd: ${engines.dockerd.sh(['version', '--format', 'server {{.Server.Version}}, client {{.Client.Version}}'], { allowFail: true }).stdout?.trim()}`);
  if (engines.podman) lines.push(`podman: ${engines.podman.sh(['--version'], { allowFail: true }).stdout?.trim()}`);
  return lines.join('\n');
}
