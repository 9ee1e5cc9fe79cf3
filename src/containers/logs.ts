// Reading a container's k8s-file log (conmon's format):
//   <RFC3339Nano with offset> <stdout|stderr> <F|P> <bytes>\n
// P marks a partial chunk: P…F chunks join into one line.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { errnoOf } from '../core/errors.ts';

export interface LogLine {
  readonly stream: 1 | 2;
  /** nanoseconds since the epoch, as bigint for ordering/filtering */
  readonly timeNs: bigint;
  /** RFC3339Nano in UTC: 2026-11-27T05:25:07.196464199Z */
  readonly time: string;
  /** the line including its trailing newline (if it had one) */
  readonly data: Buffer;
}

export function parseTimestamp(ts: string): { ns: bigint; utc: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3] === 'Z' ? 'Z' : m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0');
  const ns = BigInt(ms) * 1_000_000n + BigInt(frac);
  const base = new Date(ms).toISOString().slice(0, 19);
  return { ns, utc: `${base}.${frac.replace(/0+$/, '') || '0'}Z`.replace('.0Z', 'Z') };
}

/** Incremental parser: feed chunks, get complete lines. */
export class LogParser {
  private rest = Buffer.alloc(0);
  /** pending partial chunks, per stream (stdout and stderr interleave) */
  private readonly partial = new Map<1 | 2, Buffer[]>();
  push(chunk: Buffer, emit: (l: LogLine) => void): void {
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let nl: number;
    while ((nl = buf.indexOf(10)) >= 0) {
      const line = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      this.parseLine(line, emit);
    }
    this.rest = Buffer.from(buf);
  }
  /** Emit a pending partial line as it is (no newline): the log ends mid-line. */
  flush(emit: (l: LogLine) => void): void {
    for (const [stream, parts] of this.partial) {
      if (this.lastTime) emit({ stream, timeNs: this.lastTime.ns, time: this.lastTime.utc, data: Buffer.concat(parts) });
    }
    this.partial.clear();
  }

  private lastTime: { ns: bigint; utc: string } | undefined;

  private parseLine(line: Buffer, emit: (l: LogLine) => void): void {
    const s1 = line.indexOf(32);
    const s2 = s1 < 0 ? -1 : line.indexOf(32, s1 + 1);
    const s3 = s2 < 0 ? -1 : line.indexOf(32, s2 + 1);
    if (s3 < 0 && s2 < 0) return;
    const ts = parseTimestamp(line.subarray(0, s1).toString('latin1'));
    if (!ts) return;
    this.lastTime = ts;
    const stream = line.subarray(s1 + 1, s2).toString('latin1') === 'stderr' ? 2 : 1;
    const flag = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString('latin1');
    const data = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
    if (flag === 'P') {
      const parts = this.partial.get(stream) ?? [];
      parts.push(Buffer.from(data));
      this.partial.set(stream, parts);
      return;
    }
    const parts = [...(this.partial.get(stream) ?? []), data];
    this.partial.delete(stream);
    emit({ stream, timeNs: ts.ns, time: ts.utc, data: Buffer.concat([...parts, Buffer.from('\n')]) });
  }
}

export interface ReadLogOptions {
  readonly since?: bigint; // ns
  readonly until?: bigint; // ns
  readonly tail?: number; // lines; undefined = all
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/** Read the whole log once; returns the lines that pass the filters and the byte offset read to. */
export async function readLog(path: string, o: ReadLogOptions): Promise<{ lines: LogLine[]; offset: number }> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return { lines: [], offset: 0 };
    throw e;
  }
  const parser = new LogParser();
  let lines: LogLine[] = [];
  if (size > 0) {
    const rs = createReadStream(path, { start: 0, end: size - 1, highWaterMark: 256 * 1024 });
    for await (const chunk of rs as AsyncIterable<Buffer>) {
      parser.push(chunk, (l) => {
        if (!accept(l, o)) return;
        lines.push(l);
        if (o.tail !== undefined && lines.length > o.tail * 2 + 1024) lines = lines.slice(-o.tail);
      });
    }
    parser.flush((l) => {
      if (accept(l, o)) lines.push(l);
    });
  }
  if (o.tail !== undefined) lines = o.tail === 0 ? [] : lines.slice(-o.tail);
  return { lines, offset: size };
}

export function accept(l: LogLine, o: ReadLogOptions): boolean {
  if (l.stream === 1 && !o.stdout) return false;
  if (l.stream === 2 && !o.stderr) return false;
  if (o.since !== undefined && l.timeNs < o.since) return false;
  if (o.until !== undefined && l.timeNs > o.until) return false;
  return true;
}
