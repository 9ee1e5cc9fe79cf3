// /containers/... and /exec/...: each route maps to one engine call.
import type { Duplex } from 'node:stream';
import { open } from 'node:fs/promises';
import { conflict, invalid, EngineError } from '../../core/errors.ts';
import { familiarString } from '../../core/reference.ts';
import type { ContainerRecord } from '../../containers/types.ts';
import { LogParser, readLog, accept, parseTimestamp, type LogLine, type ReadLogOptions } from '../../containers/logs.ts';
import type { Engine } from '../../engine/engine.ts';
import type { AttachClient, WaitCondition } from '../../engine/container-service.ts';
import { type Ctx, type Router, boolParam, filtersParam, intParam, noContent, readJsonBody, sendJson } from '../server.ts';
import { toContainerInspect, toContainerSummary, toCreateOptions, toExecOptions } from '../types/container.ts';
import { DetachScanner, frame, parseDetachKeys } from '../stream/framing.ts';

type Json = Record<string, unknown>;

function imageNameOf(engine: Engine, rec: ContainerRecord): string {
  const img = engine.images.tryResolve(rec.config.imageId);
  if (!img) return rec.config.imageId;
  const tags = engine.images.tagsOf(img.id);
  // Docker shows the name the container was created with if it still points at the image
  const asGiven = engine.images.tryResolve(rec.config.image);
  if (asGiven && asGiven.id === img.id) return rec.config.image;
  return tags[0] ? familiarString(tags[0]) : img.id;
}

function parseTime(v: string | null, name: string): bigint | undefined {
  if (v === null || v === '' || v === '0') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, f = ''] = v.split('.');
    return BigInt(s ?? '0') * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9));
  }
  const t = parseTimestamp(v);
  if (t) return t.ns;
  const ms = Date.parse(v);
  if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n;
  throw invalid(`invalid value for "${name}": ${v}`);
}

function durationMs(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(s);
  if (!m) return undefined;
  const mult = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] as 'ns'];
  return Number(m[1]) * mult;
}

/** Docker's `until`/`since` filter values: timestamps or durations ("24h"). */
export function filterTimeMs(v: string): number {
  const d = durationMs(v);
  if (d !== undefined) return Date.now() - d;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw invalid(`invalid filter 'until=${v}'`);
  return ms;
}

function matchContainer(engine: Engine, rec: ContainerRecord, f: Map<string, string[]>): boolean {
  for (const [key, values] of f) {
    if (values.length === 0) continue;
    const any = (pred: (v: string) => boolean): boolean => values.some(pred);
    switch (key) {
      case 'status':
        if (!any((v) => v === rec.state.status)) return false;
        break;
      case 'name':
        if (!any((v) => new RegExp(v.replace(/^\//, '')).test(rec.name))) return false;
        break;
      case 'id':
        if (!any((v) => rec.id.startsWith(v))) return false;
        break;
      case 'label':
        if (!any((v) => {
          const eq = v.indexOf('=');
          return eq < 0 ? v in rec.config.labels : rec.config.labels[v.slice(0, eq)] === v.slice(eq + 1);
        })) return false;
        break;
      case 'ancestor':
        if (!any((v) => {
          const img = engine.images.tryResolve(v);
          return img !== undefined && img.id === rec.config.imageId;
        })) return false;
        break;
      case 'exited':
        if (rec.state.status !== 'exited' || !any((v) => Number(v) === rec.state.exitCode)) return false;
        break;
      case 'before':
      case 'since': {
        const other = engine.containers.store.resolve(values[0] ?? '');
        const cmp = Date.parse(rec.created) - Date.parse(other.created);
        if (key === 'before' ? cmp >= 0 : cmp <= 0) return false;
        break;
      }
      case 'until':
        if (!any((v) => Date.parse(rec.created) < filterTimeMs(v))) return false;
        break;
      case 'volume':
      case 'network':
      case 'publish':
      case 'expose':
      case 'health':
      case 'isolation':
      case 'is-task':
        return false;
      default:
        throw invalid(`invalid filter '${key}'`);
    }
  }
  return true;
}

/** Take over the connection for a bidirectional stream (101 with Upgrade, raw 200 otherwise). */
function hijack(ctx: Ctx, contentType: string): Duplex {
  // a client that goes away mid-stream (EPIPE, ECONNRESET) just ends the stream
  ctx.req.socket.on('error', () => ctx.req.socket.destroy());
  if (ctx.upgradeSocket) {
    const s = ctx.upgradeSocket;
    s.on('error', () => s.destroy());
    s.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    if (ctx.head && ctx.head.length) s.unshift(ctx.head);
    return s;
  }
  const res = ctx.res;
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.writeHead(200, { 'Content-Type': contentType, Connection: 'close' });
  res.flushHeaders();
  const sock = ctx.req.socket;
  // Present the response body writer and the request body reader as one duplex-like object.
  return {
    write: (b: Buffer) => res.write(b),
    end: () => res.end(),
    on: (ev: string, fn: (...a: unknown[]) => void) => {
      if (ev === 'data' || ev === 'end') ctx.req.on(ev, fn);
      else sock.on(ev, fn);
    },
    destroy: () => sock.destroy(),
    resume: () => ctx.req.resume(),
  } as unknown as Duplex;
}

export function containerRoutes(r: Router, engine: Engine): void {
  const cs = engine.containers;

  r.add('GET', '/containers/json', async (ctx) => {
    const all = boolParam(ctx.query, 'all');
    const limit = intParam(ctx.query, 'limit') ?? -1;
    const size = boolParam(ctx.query, 'size');
    const f = filtersParam(ctx.query);
    let list = cs.store.list().sort((a, b) => Date.parse(b.created) - Date.parse(a.created) || (a.id < b.id ? 1 : -1));
    if (!all && limit <= 0 && !f.has('status') && !f.has('exited')) list = list.filter((c) => c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting');
    list = list.filter((c) => matchContainer(engine, c, f));
    if (limit > 0) list = list.slice(0, limit);
    const out: Json[] = [];
    for (const c of list) out.push(toContainerSummary(c, imageNameOf(engine, c), size ? await cs.sizeRw(c.id) : undefined));
    sendJson(ctx.res, 200, out);
  });

  r.add('POST', '/containers/create', async (ctx) => {
    const body = (await readJsonBody<Json>(ctx.req)) ?? {};
    const opts = toCreateOptions(body, ctx.query.get('name') ?? undefined);
    const { id, warnings } = await cs.create(opts);
    sendJson(ctx.res, 201, { Id: id, Warnings: warnings });
  });

  r.add('POST', '/containers/prune', async (ctx) => {
    const f = filtersParam(ctx.query);
    const until = f.get('until')?.map(filterTimeMs);
    const labels = f.get('label') ?? [];
    const { deleted, space } = await cs.prune((c) => {
      if (until && !until.some((t) => Date.parse(c.created) < t)) return false;
      return labels.every((v) => {
        const eq = v.indexOf('=');
        return eq < 0 ? v in c.config.labels : c.config.labels[v.slice(0, eq)] === v.slice(eq + 1);
      });
    });
    sendJson(ctx.res, 200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: space });
  });

  r.add('GET', '/containers/{name:.*}/json', async (ctx) => {
    const rec = cs.store.resolve(ctx.params.name ?? '');
    const size = boolParam(ctx.query, 'size');
    const dir = cs.store.dirOf(rec.id);
    sendJson(ctx.res, 200, {
      ...toContainerInspect(rec, { dir, logPath: cs.logPath(rec.id), ...(size ? { sizeRw: await cs.sizeRw(rec.id) } : {}) }),
      ExecIDs: [...cs.execs.values()].filter((e) => e.containerId === rec.id && e.running).map((e) => e.id),
    });
  });

  r.add('GET', '/containers/{name:.*}/top', async (ctx) => {
    const t = await cs.top(ctx.params.name ?? '', ctx.query.get('ps_args') ?? '');
    sendJson(ctx.res, 200, { Titles: t.titles, Processes: t.processes });
  });

  r.add('POST', '/containers/{name:.*}/start', async (ctx) => {
    const res = await cs.start(ctx.params.name ?? '');
    noContent(ctx.res, res === 'already' ? 304 : 204);
  });

  r.add('POST', '/containers/{name:.*}/stop', async (ctx) => {
    const t = intParam(ctx.query, 't');
    const signal = ctx.query.get('signal') ?? undefined;
    const res = await cs.stop(ctx.params.name ?? '', { ...(t !== undefined ? { timeout: t } : {}), ...(signal ? { signal } : {}) });
    noContent(ctx.res, res === 'not-running' ? 304 : 204);
  });

  r.add('POST', '/containers/{name:.*}/restart', async (ctx) => {
    const t = intParam(ctx.query, 't');
    const signal = ctx.query.get('signal') ?? undefined;
    await cs.restart(ctx.params.name ?? '', { ...(t !== undefined ? { timeout: t } : {}), ...(signal ? { signal } : {}) });
    noContent(ctx.res);
  });

  r.add('POST', '/containers/{name:.*}/kill', async (ctx) => {
    await cs.kill(ctx.params.name ?? '', ctx.query.get('signal') || 'KILL');
    noContent(ctx.res);
  });

  r.add('POST', '/containers/{name:.*}/pause', async (ctx) => {
    await cs.pause(ctx.params.name ?? '');
    noContent(ctx.res);
  });

  r.add('POST', '/containers/{name:.*}/unpause', async (ctx) => {
    await cs.unpause(ctx.params.name ?? '');
    noContent(ctx.res);
  });

  r.add('POST', '/containers/{name:.*}/rename', async (ctx) => {
    const name = ctx.query.get('name');
    if (!name) throw invalid('name cannot be empty');
    await cs.rename(ctx.params.name ?? '', name);
    noContent(ctx.res);
  });

  r.add('POST', '/containers/{name:.*}/resize', async (ctx) => {
    const h = intParam(ctx.query, 'h') ?? 0;
    const w = intParam(ctx.query, 'w') ?? 0;
    await cs.resize(ctx.params.name ?? '', h, w);
    ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0' });
    ctx.res.end();
  });

  r.add('POST', '/containers/{name:.*}/wait', async (ctx) => {
    const cond = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalid(`invalid condition: "${cond}"`);
    cs.store.resolve(ctx.params.name ?? '');
    const ac = new AbortController();
    ctx.res.on('close', () => ac.abort());
    const waiting = cs.wait(ctx.params.name ?? '', cond, ac.signal);
    ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
    ctx.res.flushHeaders();
    const r2 = await waiting;
    if (ac.signal.aborted) return;
    ctx.res.end(JSON.stringify({ StatusCode: r2.code, Error: r2.error ? { Message: r2.error } : null }) + '\n');
  });

  r.add('DELETE', '/containers/{name:.*}', async (ctx) => {
    await cs.remove(ctx.params.name ?? '', { force: boolParam(ctx.query, 'force') });
    noContent(ctx.res);
  });

  r.add('POST', '/containers/{name:.*}/attach', async (ctx) => {
    const rec = cs.store.resolve(ctx.params.name ?? '');
    const q = ctx.query;
    const wantStdin = boolParam(q, 'stdin');
    const wantStdout = boolParam(q, 'stdout');
    const wantStderr = boolParam(q, 'stderr');
    const stream = boolParam(q, 'stream');
    const logs = boolParam(q, 'logs');
    let keys: Buffer;
    try {
      keys = parseDetachKeys(q.get('detachKeys') || undefined);
    } catch (e) {
      throw invalid((e as Error).message);
    }
    if (rec.state.status === 'removing' || rec.state.status === 'dead') throw conflict(`You cannot attach to a ${rec.state.status} container`);
    const tty = rec.config.tty;
    const sock = hijack(ctx, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    const send = (s: 1 | 2, data: Buffer): void => {
      if ((s === 1 && !wantStdout) || (s === 2 && !wantStderr)) return;
      sock.write(tty ? data : frame(s, data));
    };
    if (logs) {
      const { lines } = await readLog(cs.logPath(rec.id), { stdout: wantStdout, stderr: wantStderr });
      for (const l of lines) send(l.stream, l.data);
    }
    if (!stream) {
      sock.end();
      return;
    }
    let closed = false;
    const client: AttachClient = {
      wantsStdin: wantStdin,
      output: send,
      closed: () => {
        if (closed) return;
        closed = true;
        sock.end();
      },
    };
    let handle: Awaited<ReturnType<typeof cs.attach>>;
    try {
      handle = await cs.attach(rec.id, client);
    } catch (e) {
      sock.write(frame(3, Buffer.from(`${(e as Error).message}\n`)));
      sock.end();
      return;
    }
    const scanner = new DetachScanner(wantStdin ? keys : Buffer.alloc(0));
    sock.on('data', (b: Buffer) => {
      const { pass, detach } = scanner.push(b);
      if (pass.length) handle.stdin(pass);
      if (detach) {
        handle.detach();
        client.closed();
      }
    });
    sock.on('end', () => handle.stdinEnd());
    sock.on('close', () => handle.detach());
    sock.on('error', () => handle.detach());
    sock.resume(); // the server paused it until a reader was in place
  });

  r.add('GET', '/containers/{name:.*}/logs', async (ctx) => {
    const rec = cs.store.resolve(ctx.params.name ?? '');
    const q = ctx.query;
    const follow = boolParam(q, 'follow');
    const ts = boolParam(q, 'timestamps');
    const tailRaw = q.get('tail');
    const tail = tailRaw === null || tailRaw === '' || tailRaw === 'all' ? undefined : Number.parseInt(tailRaw, 10);
    const opts: ReadLogOptions = {
      stdout: boolParam(q, 'stdout'),
      stderr: boolParam(q, 'stderr'),
      ...(parseTime(q.get('since'), 'since') !== undefined ? { since: parseTime(q.get('since'), 'since') } : {}),
      ...(parseTime(q.get('until'), 'until') !== undefined ? { until: parseTime(q.get('until'), 'until') } : {}),
      ...(tail !== undefined && !Number.isNaN(tail) && tail >= 0 ? { tail } : {}),
    };
    if (!opts.stdout && !opts.stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const tty = rec.config.tty;
    ctx.res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    const write = (l: LogLine): boolean => {
      const data = ts ? Buffer.concat([Buffer.from(`${l.time} `), l.data]) : l.data;
      return ctx.res.write(tty ? data : frame(l.stream, data));
    };
    const path = cs.logPath(rec.id);
    const { lines, offset } = await readLog(path, opts);
    let batch: Buffer[] = [];
    for (const l of lines) {
      const data = ts ? Buffer.concat([Buffer.from(`${l.time} `), l.data]) : l.data;
      batch.push(tty ? data : frame(l.stream, data));
      if (batch.length >= 512) {
        if (!ctx.res.write(Buffer.concat(batch))) await new Promise((r2) => ctx.res.once('drain', r2));
        batch = [];
      }
    }
    if (batch.length) ctx.res.write(Buffer.concat(batch));
    const running = (): boolean => {
      const s = cs.store.get(rec.id)?.state.status;
      return s === 'running' || s === 'paused' || s === 'restarting';
    };
    if (!follow || !running()) {
      ctx.res.end();
      return;
    }
    // follow: read what is appended until the container stops and the log is drained
    let pos = offset;
    let stop = false;
    ctx.res.on('close', () => {
      stop = true;
    });
    const parser = new LogParser();
    const fh = await open(path, 'r').catch(() => undefined);
    const buf = Buffer.alloc(256 * 1024);
    try {
      for (;;) {
        if (stop) break;
        const wasRunning = running();
        let got = 0;
        if (fh) {
          for (;;) {
            const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
            if (bytesRead <= 0) break;
            got += bytesRead;
            pos += bytesRead;
            let ok = true;
            parser.push(buf.subarray(0, bytesRead), (l) => {
              if (accept(l, opts)) ok = write(l) && ok;
            });
            if (!ok) await new Promise((r2) => ctx.res.once('drain', r2));
          }
        }
        if (!wasRunning && got === 0) {
          parser.flush((l) => {
            if (accept(l, opts)) write(l);
          });
          break;
        }
        if (opts.until !== undefined && BigInt(Date.now()) * 1_000_000n > opts.until) break;
        await new Promise((r2) => setTimeout(r2, got > 0 ? 5 : 50));
      }
    } finally {
      await fh?.close();
    }
    ctx.res.end();
  });

  // ------------------------------------------------------------------ exec

  r.add('POST', '/containers/{name:.*}/exec', async (ctx) => {
    const body = (await readJsonBody<Json>(ctx.req)) ?? {};
    const id = cs.createExec(ctx.params.name ?? '', toExecOptions(body));
    sendJson(ctx.res, 201, { Id: id });
  });

  r.add('GET', '/exec/{id}/json', (ctx) => {
    const e = cs.getExec(ctx.params.id ?? '');
    sendJson(ctx.res, 200, {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { tty: e.options.tty, entrypoint: e.options.cmd[0], arguments: e.options.cmd.slice(1), privileged: e.options.privileged, user: e.options.user },
      OpenStdin: e.options.attachStdin,
      OpenStderr: e.options.attachStderr,
      OpenStdout: e.options.attachStdout,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.options.detachKeys ?? '',
      Pid: e.pid,
    });
  });

  r.add('POST', '/exec/{id}/resize', async (ctx) => {
    await cs.resizeExec(ctx.params.id ?? '', intParam(ctx.query, 'h') ?? 0, intParam(ctx.query, 'w') ?? 0);
    ctx.res.writeHead(200, { 'Content-Length': '0' });
    ctx.res.end();
  });

  r.add('POST', '/exec/{id}/start', async (ctx) => {
    const body = (await readJsonBody<Json>(ctx.req)) ?? {};
    const ex = cs.getExec(ctx.params.id ?? '');
    const detach = body.Detach === true;
    const cs2 = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? ([Number(body.ConsoleSize[0]), Number(body.ConsoleSize[1])] as const) : undefined;
    if (detach) {
      await cs.startExec(ex.id, undefined, { detach: true, ...(cs2 ? { consoleSize: cs2 } : {}) });
      sendJson(ctx.res, 200, {});
      return;
    }
    const tty = ex.options.tty;
    let sock: Duplex | undefined;
    const pendingOut: [1 | 2, Buffer][] = [];
    let ended = false;
    const client: AttachClient = {
      wantsStdin: ex.options.attachStdin,
      output: (s, d) => {
        if ((s === 1 && !ex.options.attachStdout) || (s === 2 && !ex.options.attachStderr)) return;
        if (sock) sock.write(tty ? d : frame(s, d));
        else pendingOut.push([s, d]);
      },
      closed: () => {
        ended = true;
      },
    };
    sock = hijack(ctx, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    let h: Awaited<ReturnType<typeof cs.startExec>>;
    try {
      h = await cs.startExec(ex.id, client, { detach: false, ...(cs2 ? { consoleSize: cs2 } : {}) });
    } catch (e) {
      // after the hijack, errors go into the stream (as moby does) and the exit code says the rest
      const msg = Buffer.from(`${e instanceof Error ? e.message : String(e)}\r\n`);
      sock.write(tty ? msg : frame(1, msg));
      sock.end();
      return;
    }
    for (const [s, d] of pendingOut) sock.write(tty ? d : frame(s, d));
    sock.on('data', (b: Buffer) => h.stdin(b));
    sock.on('end', () => h.stdinEnd());
    sock.resume(); // the server paused it until a reader was in place
    const finish = async (): Promise<void> => {
      await h.exited;
      // conmon closes the attach socket after the last output; give it a moment to arrive
      for (let i = 0; i < 100 && !ended; i++) await new Promise((r2) => setTimeout(r2, 10));
      sock?.end();
    };
    void finish();
  });
}

export { EngineError };
