// Tar headers for layer changesets, the way Go's archive/tar writes them for Docker: ustar
// headers, and a PAX extended header first when a name or number does not fit or when there
// are xattrs (values written as raw bytes).

import type { TarEntryType } from './tar-reader.ts';

export interface TarWriteHeader {
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Whole seconds since the epoch. */
  readonly mtime: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyMap<string, Uint8Array>;
}

const BLOCK = 512;
const FLAGS: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

/** Two zero blocks: the end of an archive. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

export function paddingFor(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

const isAscii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);

function fitsOctal(n: number, width: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n < 8 ** (width - 1);
}

function writeOctal(buf: Buffer, offset: number, width: number, n: number): void {
  buf.write(`${n.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

/** Split a long name into ustar (prefix, name) if possible. */
function splitUstar(name: string): [string, string] | undefined {
  if (Buffer.byteLength(name) <= 100) return ['', name];
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest !== '') return [prefix, rest];
    if (prefix.length > 155) return undefined;
  }
  return undefined;
}

function paxRecord(key: string, value: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function ustarBlock(h: {
  name: string;
  prefix: string;
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  writeOctal(b, 100, 8, h.mode);
  writeOctal(b, 108, 8, h.uid);
  writeOctal(b, 116, 8, h.gid);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, h.mtime);
  b.write(h.flag, 156, 1, 'latin1');
  b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(b, 329, 8, h.devmajor);
  writeOctal(b, 337, 8, h.devminor);
  b.write(h.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/** The header block(s) of one entry (the data and its padding follow, written by the caller). */
export function encodeHeader(h: TarWriteHeader): Buffer {
  const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const linkname = h.linkname ?? '';
  const records: Buffer[] = [];

  let split = isAscii(name) ? splitUstar(name) : undefined;
  if (split === undefined) {
    records.push(paxRecord('path', Buffer.from(name)));
    split = ['', Buffer.from(name).subarray(0, 100).toString('latin1').replace(/[^\x01-\x7f]/g, '_')];
  }
  let link = linkname;
  if (!isAscii(linkname) || Buffer.byteLength(linkname) > 100) {
    records.push(paxRecord('linkpath', Buffer.from(linkname)));
    link = '';
  }
  const num = (key: string, v: number, width: number): number => {
    if (fitsOctal(v, width)) return v;
    records.push(paxRecord(key, Buffer.from(String(v))));
    return 0;
  };
  const uid = num('uid', h.uid, 8);
  const gid = num('gid', h.gid, 8);
  const size = num('size', h.size, 12);
  const mtime = num('mtime', Math.max(0, Math.floor(h.mtime)), 12);
  for (const [key, value] of [...(h.xattrs ?? new Map<string, Uint8Array>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    records.push(paxRecord(`SCHILY.xattr.${key}`, value));
  }

  const main = ustarBlock({
    name: split[1],
    prefix: split[0],
    flag: FLAGS[h.type],
    mode: h.mode & 0o7777,
    uid,
    gid,
    size,
    mtime,
    linkname: link,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (records.length === 0) return main;

  const pax = Buffer.concat(records);
  const paxName = `PaxHeaders.0/${split[1]}`.slice(0, 100);
  const paxHeader = ustarBlock({
    name: paxName,
    prefix: '',
    flag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: pax.length,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, pax, paddingFor(pax.length), main]);
}
