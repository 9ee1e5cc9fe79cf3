// HTTP plumbing shared by the handlers: the request context, replies, bounded body reads,
// sending a file's bytes, Range / Content-Range parsing and `n`/`last` pagination with a Link
// header.

import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { registryError } from './errors.ts';
import type { RegistryStorage } from './storage.ts';
import type { UploadSessions } from './uploads.ts';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly storage: RegistryStorage;
  readonly uploads: UploadSessions;
  /** Aborted when the client goes away before the reply is finished. */
  readonly signal: AbortSignal;
}

export type Handler = (ctx: RequestContext, params: readonly string[]) => Promise<void>;

export type HeaderMap = Readonly<Record<string, string | number>>;

/** A reply without a body (201/202/204 replies); Content-Length 0 unless given. */
export function sendEmpty(ctx: RequestContext, status: number, headers: HeaderMap = {}): void {
  // A 204 carries no Content-Length (RFC 9110 8.6).
  ctx.res.writeHead(status, status === 204 ? headers : { 'Content-Length': 0, ...headers });
  ctx.res.end();
}

export function sendJson(ctx: RequestContext, status: number, value: unknown, headers: HeaderMap = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  ctx.res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.byteLength,
    ...headers,
  });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

/** Bytes per read when sending a file. */
const SEND_CHUNK_BYTES = 128 * 1024;

/**
 * Send bytes `start`..`end` (inclusive) of an open file as the rest of the body of `res`
 * (headers set, not yet sent) and end it. Two buffers serve the whole file: one is read into
 * while the other is on its way out, and a buffer is refilled only after the socket has taken
 * it (its write callback), which is also the backpressure. A stream would allocate a buffer per
 * read that only a garbage collection frees, and a process streaming a large blob grows by
 * tens of MiB before one comes. Rejects when the client goes away (`signal`) or the file is
 * shorter than promised.
 */
export async function sendFileRange(res: ServerResponse, fh: FileHandle, start: number, end: number, signal: AbortSignal): Promise<void> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined);
  const chunk = Math.min(SEND_CHUNK_BYTES, end - start + 1);
  const buffers = [Buffer.allocUnsafeSlow(chunk), Buffer.allocUnsafeSlow(chunk)] as const;
  const written: [Promise<void> | undefined, Promise<void> | undefined] = [undefined, undefined];
  const write = (data: Buffer): Promise<void> => {
    const p = new Promise<void>((resolve, reject) => {
      res.write(data, (err) => (err ? reject(err) : resolve()));
    });
    p.catch(() => undefined); // awaited later, or abandoned when something else failed first
    return p;
  };
  let pos = start;
  for (let i = 0; pos <= end; i ^= 1) {
    const buf = buffers[i as 0 | 1];
    const pending = written[i as 0 | 1];
    if (pending !== undefined) await Promise.race([pending, aborted]);
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.byteLength, end - pos + 1), pos);
    if (bytesRead === 0) throw new Error(`file ended at byte ${pos} of ${end + 1}`);
    written[i as 0 | 1] = write(bytesRead === buf.byteLength ? buf : buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  await Promise.race([Promise.all(written), aborted]);
  res.end();
}

/** The whole request body, refused with `onTooLarge` once it passes `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number, onTooLarge: () => Error): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw onTooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw onTooLarge();
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Content-Length of the request, undefined when absent (chunked transfer). */
export function requestLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw registryError('size-invalid', `invalid Content-Length ${JSON.stringify(v)}`);
  return Number(v);
}

/** True when the request has (or may have) a body: a non-zero length or chunked transfer. */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

export interface ByteRange {
  /** Inclusive. */
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
}

/**
 * A single `Range: bytes=a-b | a- | -n` against a blob of `size` bytes (RFC 9110). Undefined
 * means "send it all" (no header, another unit, or several ranges, which a server may ignore);
 * 'unsatisfiable' means 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined; // syntactically invalid: ignore it
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** An upload chunk's `Content-Range: <start>-<end>` (inclusive; `bytes=`/`bytes ` tolerated). */
export function parseContentRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw registryError('range-invalid', `invalid Content-Range ${JSON.stringify(header)}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw registryError('range-invalid', `invalid Content-Range ${JSON.stringify(header)}`);
  return { start, end };
}

/** The `Range: 0-<last byte>` header of an upload session holding `size` bytes. */
export function uploadRange(size: number): string {
  return `0-${size > 0 ? size - 1 : 0}`;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Set when more items follow: the `last` of the next page. */
  readonly next?: T;
}

/**
 * Items after `last` (exclusive, in the order of `compare`), at most `n` of them. `n` absent:
 * all; `n` = 0: none and no next page (spec).
 */
export function paginate<T extends string>(sorted: readonly T[], query: URLSearchParams, compare: (a: string, b: string) => number): Page<T> {
  const nRaw = query.get('n');
  const last = query.get('last');
  let n: number | undefined;
  if (nRaw !== null && nRaw !== '') {
    if (!/^\d+$/.test(nRaw)) throw registryError('pagination-invalid', `invalid n ${JSON.stringify(nRaw)}`);
    n = Number(nRaw);
  }
  const items = last !== null && last !== '' ? sorted.filter((x) => compare(x, last) > 0) : sorted;
  if (n === undefined || items.length <= n) return { items };
  const page = items.slice(0, n);
  const tail = page[page.length - 1];
  return tail === undefined ? { items: page } : { items: page, next: tail };
}

/** RFC 5988 Link to the next page. */
export function nextLink(path: string, n: string | null, last: string): string {
  const q = new URLSearchParams();
  if (n !== null) q.set('n', n);
  q.set('last', last);
  return `<${path}?${q.toString()}>; rel="next"`;
}
