// Where the time of `run --rm busybox true` (and of `exec c true`) goes, daemon side: the Engine API calls the docker
// CLI makes, timed from this process (no CLI start-up), against berthd and dockerd, rounds
// interleaved. Sequence per run, as `docker run` does it (AutoRemove off so removal is timed
// on its own):
//   create → attach (hijack, to the 101) → wait?condition=next-exit (sent) → start (to the 204)
//   → wait answers (container exited, seen by the daemon) → DELETE
//
//   node bench/api-breakdown.mjs [--n 30] [--engines berth,dockerd]
import net from 'node:net';
import {
  tick, Berthd, Dockerd, api, benchRoot, busyboxTar, f0, log, machineInfo, main, makeRuncBundle, options, stats, table,
} from './lib.mjs';

const o = options({ n: 30, warmup: 3, engines: 'berth,dockerd' });
const V = '/v1.41';

/** A hijacked POST (attach, exec start): resolves when the 101 (or 200) head arrives, with a promise for the stream's end. */
function hijack(sock, path, body) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const data = body === undefined ? '' : JSON.stringify(body);
    let head = '';
    let done = false;
    const ended = new Promise((r) => {
      s.on('close', r);
    });
    s.on('error', (e) => {
      if (!done) reject(e);
    });
    s.on('connect', () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
        `${data ? 'Content-Type: application/json\r\n' : ''}Content-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`);
    });
    s.on('data', (c) => {
      if (done) return;
      head += c.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        done = true;
        if (!/^HTTP\/1\.1 (101|200)/.test(head)) reject(new Error(`${path}: ${head.split('\r\n')[0]}`));
        else resolve({ ended, socket: s });
      }
    });
  });
}

/** `docker exec c true` at API level: create, start (hijacked) until the stream closes, inspect. */
async function oneExec(sock, container) {
  const t0 = performance.now();
  const c = await api(sock, 'POST', `${V}/containers/${container}/exec`, { Cmd: ['true'], AttachStdout: true, AttachStderr: true });
  if (c.status !== 201) throw new Error(`exec create: ${c.status} ${c.text}`);
  const id = JSON.parse(c.text).Id;
  const t1 = performance.now();
  const h = await hijack(sock, `${V}/exec/${id}/start`, { Detach: false, Tty: false });
  await Promise.race([h.ended, new Promise((r) => setTimeout(r, 10_000))]);
  h.socket.destroy();
  const t2 = performance.now();
  const i = await api(sock, 'GET', `${V}/exec/${id}/json`);
  if (i.status !== 200 || JSON.parse(i.text).ExitCode !== 0) throw new Error(`exec inspect: ${i.status} ${i.text}`);
  const t3 = performance.now();
  return { 'exec create': t1 - t0, 'exec start → stream closed': t2 - t1, 'exec inspect': t3 - t2, 'exec total': t3 - t0 };
}

async function oneRun(sock) {
  const t = [performance.now()];
  const mark = () => t.push(performance.now());
  const c = await api(sock, 'POST', `${V}/containers/create`, {
    Image: 'busybox', Cmd: ['true'], AttachStdout: true, AttachStderr: true, HostConfig: { AutoRemove: false },
  });
  if (c.status !== 201) throw new Error(`create: ${c.status} ${c.text}`);
  const id = JSON.parse(c.text).Id;
  mark(); // 1 created
  const a = await hijack(sock, `${V}/containers/${id}/attach?stream=1&stdout=1&stderr=1`);
  mark(); // 2 attached
  const waited = api(sock, 'POST', `${V}/containers/${id}/wait?condition=next-exit`);
  const st = await api(sock, 'POST', `${V}/containers/${id}/start`);
  if (st.status !== 204) throw new Error(`start: ${st.status} ${st.text}`);
  mark(); // 3 started
  const w = await waited;
  if (w.status !== 200 || JSON.parse(w.text).StatusCode !== 0) throw new Error(`wait: ${w.status} ${w.text}`);
  mark(); // 4 wait answered
  await Promise.race([a.ended, new Promise((r) => setTimeout(r, 5000))]);
  a.socket.destroy();
  const d = await api(sock, 'DELETE', `${V}/containers/${id}`);
  if (d.status !== 204) throw new Error(`delete: ${d.status} ${d.text}`);
  mark(); // 5 removed
  return { create: t[1] - t[0], attach: t[2] - t[1], start: t[3] - t[2], 'exit → wait answer': t[4] - t[3], remove: t[5] - t[4], total: t[5] - t[0] };
}

await main(async () => {
  const want = o.engines.split(',').filter(Boolean);
  const root = benchRoot('api');
  const tar = busyboxTar(root);
  const runc = makeRuncBundle(root, tar);
  const socks = {};
  const clis = {};
  if (want.includes('berth')) {
    log('starting berthd');
    const d = await Berthd.start(root);
    d.cli.importBusybox(tar);
    socks.berthd = d.sock;
    clis.berthd = d.cli;
  }
  if (want.includes('dockerd') && Dockerd.available()) {
    log('starting dockerd');
    const d = await Dockerd.start(root);
    d.cli.importBusybox(tar);
    socks.dockerd = d.sock;
    clis.dockerd = d.cli;
  }
  const names = Object.keys(socks);
  for (const n of names) clis[n].sh(['run', '-d', '--name', 'bench-exec', 'busybox', 'sleep', '1000'], { timeout: 60_000 });
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const runcMs = [];
  log(`${o.warmup} warm-up + ${o.n} rounds over ${[...names, 'runc'].join(', ')}`);
  for (let r = 0; r < o.warmup + o.n; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length];
      await tick();
      const res = { ...(await oneRun(socks[n])), ...(await oneExec(socks[n], 'bench-exec')) };
      if (r >= o.warmup) samples[n].push(res);
    }
    const ms = runc.timed().ms;
    if (r >= o.warmup) runcMs.push(ms);
  }
  const phases = ['create', 'attach', 'start', 'exit → wait answer', 'remove', 'total', 'exec create', 'exec start → stream closed', 'exec inspect', 'exec total'];
  const rows = phases.map((p) => [p, ...names.flatMap((n) => {
    const s = stats(samples[n].map((x) => x[p]));
    return [`${f0(s.median)} (${f0(s.p90)})`];
  })]);
  rows.splice(6, 0, ['(reference) `runc run` of `true`, whole', ...names.map(() => `${f0(stats(runcMs).median)} (${f0(stats(runcMs).p90)})`)]);
  process.stdout.write([
    '## Engine API phases of one `run` (median (p90) ms, measured in-process, no CLI)',
    '',
    '```',
    machineInfo(),
    '```',
    '',
    table(['phase', ...names], rows),
  ].join('\n'));
});
