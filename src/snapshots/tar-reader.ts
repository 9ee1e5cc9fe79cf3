// A streaming tar reader for layer changesets: ustar, GNU (long names) and PAX. Our own rather
// than tar-stream's because PAX values must stay bytes (a `SCHILY.xattr.security.capability`
// value is binary; tar-stream decodes it as UTF-8 and corrupts it) and because the PAX
// uid/gid/mtime records must be honoured.

import { invalid } from '../core/errors.ts';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch, possibly fractional (PAX). */
  readonly mtime: number;
  readonly atime: number | undefined;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

export interface TarEntry {
  readonly header: TarHeader;
  /** The entry's data; read it fully or not at all before asking for the next entry. */
  readonly body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
/** Limit on PAX and GNU long-name bodies (Go's archive/tar uses the same 1 MiB). */
const MAX_META = 1 << 20;

function corrupt(what: string): Error {
  return invalid(`invalid layer: corrupt tar archive: ${what}`, 'invalid-layer');
}

class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const r = await this.source.next();
      if (r.done === true) this.ended = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.buffered += r.value.length;
      }
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Exactly n bytes; null at a clean end of stream; throws on a truncated read. */
  async read(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0 && this.ended) return null;
    if (this.buffered < n) throw corrupt('unexpected end of archive');
    return this.take(n);
  }

  /** n bytes as they arrive. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1);
      if (this.buffered === 0) throw corrupt('unexpected end of archive');
      const c = this.take(Math.min(left, this.chunks[0]!.length));
      left -= c.length;
      yield c;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) { /* discard */ }
  }

  /** Read and discard everything left (the digest covers the whole stream). */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (!this.ended) {
      const r = await this.source.next();
      if (r.done === true) this.ended = true;
    }
  }
}

function cstring(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul === -1 ? field.length : nul);
}

function numeric(buf: Buffer, start: number, length: number, what: string): number {
  const field = buf.subarray(start, start + length);
  const first = field[0] ?? 0;
  if ((first & 0x80) !== 0) {
    // GNU base-256: big-endian two's complement, marked by the high bit.
    if (first === 0xff) throw corrupt(`negative ${what}`);
    let v = first & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    if (!Number.isSafeInteger(v)) throw corrupt(`${what} out of range`);
    return v;
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw corrupt(`bad ${what} field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = numeric(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** PAX extended header records `"<len> <key>=<value>\n"`, values kept as bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break; // NUL padding
    const space = body.indexOf(0x20, pos);
    if (space === -1) throw corrupt('bad PAX record');
    const lenText = body.toString('latin1', pos, space);
    if (!/^[0-9]+$/.test(lenText)) throw corrupt('bad PAX record length');
    const len = parseInt(lenText, 10);
    const end = pos + len;
    if (len <= space - pos + 1 || end > body.length || body[end - 1] !== 0x0a) throw corrupt('bad PAX record');
    const kv = body.subarray(space + 1, end - 1);
    const eq = kv.indexOf(0x3d);
    if (eq === -1) throw corrupt('bad PAX record');
    records.set(kv.toString('utf8', 0, eq), Buffer.from(kv.subarray(eq + 1)));
    pos = end;
  }
  return records;
}

function paxNumber(pax: Map<string, Buffer> | undefined, key: string, what: string): number | undefined {
  const v = pax?.get(key);
  if (v === undefined) return undefined;
  const s = v.toString('latin1');
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(s)) throw corrupt(`bad PAX ${what} ${JSON.stringify(s)}`);
  const n = Number(s);
  if (!Number.isFinite(n)) throw corrupt(`bad PAX ${what}`);
  return n;
}

function xattrsOf(pax: Map<string, Buffer> | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (pax === undefined) return out;
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) out.set(key.slice('SCHILY.xattr.'.length), value);
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      let name: string;
      try {
        name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      } catch {
        throw corrupt(`bad xattr name in ${JSON.stringify(key)}`);
      }
      out.set(name, Buffer.from(value.toString('latin1'), 'base64'));
    }
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

/**
 * Entries of a tar stream. Reads the stream to its very end (past the end-of-archive blocks),
 * so that a digest taken over `source` covers every byte.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry, void, undefined> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, Buffer> | undefined;

  const readMeta = async (size: number, what: string): Promise<Buffer> => {
    if (size > MAX_META) throw corrupt(`${what} too large (${size} bytes)`);
    const body = size === 0 ? Buffer.alloc(0) : await reader.read(size);
    if (body === null) throw corrupt('unexpected end of archive');
    await reader.skip((BLOCK - (size % BLOCK)) % BLOCK);
    return body;
  };

  for (;;) {
    const block = await reader.read(BLOCK);
    if (block === null || isZeroBlock(block)) break;
    if (!checksumOk(block)) throw corrupt('header checksum mismatch');

    const flag = String.fromCharCode(block[156]!);
    const magic = block.toString('latin1', 257, 263);
    let size = numeric(block, 124, 12, 'size');
    const paxSize = paxNumber(pax, 'size', 'size');
    if (paxSize !== undefined) size = paxSize;
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt('bad size');

    switch (flag) {
      case 'x':
        pax = await readMeta(size, 'PAX header').then(parsePax);
        continue;
      case 'g':
        await readMeta(size, 'PAX global header'); // ignored, as Go's archive/tar and Docker do
        continue;
      case 'L':
        longName = cstring(await readMeta(size, 'GNU long name'), 0, MAX_META);
        continue;
      case 'K':
        longLink = cstring(await readMeta(size, 'GNU long link'), 0, MAX_META);
        continue;
      case 'V':
        await reader.skip(size + ((BLOCK - (size % BLOCK)) % BLOCK));
        continue;
    }

    let name = cstring(block, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cstring(block, 345, 155);
      if (prefix !== '') name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    const paxPath = pax?.get('path');
    if (paxPath !== undefined) name = paxPath.toString('utf8');
    let linkname = longLink ?? cstring(block, 157, 100);
    const paxLink = pax?.get('linkpath');
    if (paxLink !== undefined) linkname = paxLink.toString('utf8');

    let type = TYPES[flag];
    if (type === undefined) {
      throw invalid(`invalid layer: unsupported tar entry type ${JSON.stringify(flag)} for ${JSON.stringify(name)}`, 'invalid-layer');
    }
    if (type === 'file' && flag === '\0' && name.endsWith('/')) type = 'directory';
    for (const key of pax?.keys() ?? []) {
      if (key.startsWith('GNU.sparse.')) throw invalid(`invalid layer: sparse tar entry ${JSON.stringify(name)} is not supported`, 'invalid-layer');
    }

    const mtime = paxNumber(pax, 'mtime', 'mtime') ?? numeric(block, 136, 12, 'mtime');
    const header: TarHeader = {
      name,
      type,
      mode: numeric(block, 100, 8, 'mode') & 0o7777,
      uid: paxNumber(pax, 'uid', 'uid') ?? numeric(block, 108, 8, 'uid'),
      gid: paxNumber(pax, 'gid', 'gid') ?? numeric(block, 116, 8, 'gid'),
      size: type === 'file' ? size : 0,
      mtime,
      atime: paxNumber(pax, 'atime', 'atime'),
      linkname,
      devmajor: numeric(block, 329, 8, 'devmajor'),
      devminor: numeric(block, 337, 8, 'devminor'),
      xattrs: xattrsOf(pax),
    };
    longName = undefined;
    longLink = undefined;
    pax = undefined;

    // Entries other than files may still carry data: it is skipped below.
    let unread = size;
    const bodySize = header.size;
    let started = false;
    const body = (async function* () {
      if (started) return;
      started = true;
      for await (const chunk of reader.stream(bodySize)) {
        unread -= chunk.length;
        yield chunk;
      }
    })();
    yield { header, body };
    // Whatever the consumer left unread, plus the padding to the next block.
    await reader.skip(unread + ((BLOCK - (size % BLOCK)) % BLOCK));
  }
  await reader.drain();
}
