import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isEngineError } from '../core/errors.ts';
import * as native from './native.ts';
import { readTar, type TarHeader } from './tar-reader.ts';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarWriteHeader } from './tar-writer.ts';
import { buildTar, T0, withTempDir } from './testing.ts';

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}
/** The archive fed in small odd-sized pieces, to exercise block reassembly. */
async function* dribble(b: Buffer, n = 97): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

async function entriesOf(source: AsyncIterable<Buffer>): Promise<{ header: TarHeader; data: Buffer }[]> {
  const out: { header: TarHeader; data: Buffer }[] = [];
  for await (const e of readTar(source)) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ header: e.header, data: Buffer.concat(parts) });
  }
  return out;
}

function writeArchive(entries: readonly (TarWriteHeader & { data?: Buffer })[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeHeader({ ...e, size: e.data?.length ?? 0 }));
    if (e.data !== undefined) parts.push(e.data, paddingFor(e.data.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

// A VFS capability (revision 2) granting cap_setfcap (bit 31): binary, not valid UTF-8.
const CAPABILITY = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe('tar reader', () => {
  it('reads what tar-stream writes, fed in odd-sized pieces', async () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(90)}`;
    const tar = await buildTar([
      { name: 'dir/', mode: 0o1777, uid: 1000, gid: 1001 },
      { name: 'dir/suid', content: 'x'.repeat(1000), mode: 0o4755 },
      { name: 'dir/link', type: 'symlink', linkname: '../elsewhere' },
      { name: 'dir/hard', type: 'link', linkname: 'dir/suid' },
      { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'loop0', type: 'block-device', devmajor: 7, devminor: 0 },
      { name: 'pipe', type: 'fifo' },
      { name: long, content: 'deep' },
      { name: 'ünïcode', content: 'u' },
    ]);
    const entries = await entriesOf(dribble(tar));
    assert.deepEqual(
      entries.map((e) => [e.header.name, e.header.type]),
      [
        ['dir/', 'directory'],
        ['dir/suid', 'file'],
        ['dir/link', 'symlink'],
        ['dir/hard', 'link'],
        ['null', 'char'],
        ['loop0', 'block'],
        ['pipe', 'fifo'],
        [long, 'file'],
        ['ünïcode', 'file'],
      ],
    );
    const [dir, suid, link, hard, nul, loop] = entries;
    assert.equal(dir!.header.mode, 0o1777);
    assert.equal(dir!.header.uid, 1000);
    assert.equal(dir!.header.gid, 1001);
    assert.equal(dir!.header.mtime, T0.getTime() / 1000);
    assert.equal(suid!.header.mode, 0o4755);
    assert.equal(suid!.data.toString(), 'x'.repeat(1000));
    assert.equal(link!.header.linkname, '../elsewhere');
    assert.equal(hard!.header.linkname, 'dir/suid');
    assert.deepEqual([nul!.header.devmajor, nul!.header.devminor], [1, 3]);
    assert.deepEqual([loop!.header.devmajor, loop!.header.devminor], [7, 0]);
    assert.equal(entries[7]!.data.toString(), 'deep');
  });

  it('reads GNU tar archives: GNU long names, PAX, binary xattrs', async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, 'src');
      const longDir = join(src, 'a'.repeat(120));
      await mkdir(longDir, { recursive: true });
      await writeFile(join(longDir, 'f'.repeat(120)), 'long');
      await symlink('t'.repeat(150), join(src, 'longlink'));
      await writeFile(join(src, 'cap'), 'c');
      native.setXattr(join(src, 'cap'), 'security.capability', CAPABILITY);
      native.setXattr(join(src, 'cap'), 'user.binary', Buffer.from([0xff, 0x00, 0xfe]));
      for (const format of ['gnu', 'pax']) {
        const args = ['-C', src, `--format=${format}`, '--sort=name', '-cf', '-', '.'];
        if (format === 'pax') args.unshift('--xattrs', '--xattrs-include=*');
        const tar = execFileSync('tar', args, { maxBuffer: 1 << 26 });
        const entries = await entriesOf(once(tar));
        const byName = new Map(entries.map((e) => [e.header.name.replace(/^\.\//, ''), e]));
        assert.equal(byName.get(`${'a'.repeat(120)}/${'f'.repeat(120)}`)?.data.toString(), 'long', format);
        assert.equal(byName.get('longlink')?.header.linkname, 't'.repeat(150), format);
        if (format === 'pax') {
          const xattrs = byName.get('cap')!.header.xattrs;
          assert.deepEqual(xattrs.get('security.capability'), CAPABILITY);
          assert.deepEqual(xattrs.get('user.binary'), Buffer.from([0xff, 0x00, 0xfe]));
        }
      }
    });
  });

  it('round-trips our writer: long and non-ASCII names, big ids, binary xattrs; GNU tar reads it too', async () => {
    const deep = `${'p'.repeat(200)}/${'q'.repeat(150)}`;
    const archive = writeArchive([
      { name: 'ok', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 },
      { name: `ok/${deep}`, type: 'file', mode: 0o600, uid: 3_000_000, gid: 4_000_000, size: 0, mtime: 1_600_000_000, data: Buffer.from('deep') },
      { name: 'ok/naïve', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 2, linkname: `/${'l'.repeat(120)}/ü` },
      { name: 'ok/cap', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 3, xattrs: new Map([['security.capability', CAPABILITY]]), data: Buffer.from('c') },
    ]);
    const entries = await entriesOf(dribble(archive, 511));
    assert.deepEqual(
      entries.map((e) => e.header.name),
      ['ok/', `ok/${deep}`, 'ok/naïve', 'ok/cap'],
    );
    assert.equal(entries[1]!.header.uid, 3_000_000);
    assert.equal(entries[1]!.header.gid, 4_000_000);
    assert.equal(entries[1]!.header.mtime, 1_600_000_000);
    assert.equal(entries[1]!.data.toString(), 'deep');
    assert.equal(entries[2]!.header.linkname, `/${'l'.repeat(120)}/ü`);
    assert.deepEqual(entries[3]!.header.xattrs.get('security.capability'), CAPABILITY);

    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', '-'], { input: archive }).toString();
    assert.match(listing, new RegExp(`3000000/4000000 +4 .* ok/${deep}`));
    assert.match(listing, /ok\/naïve -> \/l+\/ü/);
  });

  it('refuses a corrupt header, a truncated archive and unsupported entry types', async () => {
    const tar = await buildTar([{ name: 'a', content: 'hello' }]);
    const corrupt = Buffer.from(tar);
    corrupt[0] = 'b'.charCodeAt(0);
    await assert.rejects(entriesOf(once(corrupt)), (e) => isEngineError(e, 'invalid-parameter') && /checksum/.test(e.message));
    await assert.rejects(entriesOf(once(tar.subarray(0, 600))), (e) => isEngineError(e, 'invalid-parameter') && /unexpected end/.test(e.message));
    const sparse = Buffer.from(tar);
    sparse[156] = 'S'.charCodeAt(0);
    let sum = 0;
    sparse.fill(0x20, 148, 156);
    for (const b of sparse.subarray(0, 512)) sum += b;
    sparse.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await assert.rejects(entriesOf(once(sparse)), (e) => isEngineError(e, 'invalid-parameter') && /unsupported tar entry type/.test(e.message));
  });

  it('treats an empty stream and a bare end-of-archive as no entries', async () => {
    assert.deepEqual(await entriesOf(once(Buffer.alloc(0))), []);
    assert.deepEqual(await entriesOf(once(Buffer.alloc(10240))), []);
  });

  it('skips bodies the consumer does not read', async () => {
    const tar = await buildTar([
      { name: 'big', content: Buffer.alloc(5000, 1) },
      { name: 'small', content: 'yes' },
    ]);
    const names: string[] = [];
    let last = '';
    for await (const e of readTar(dribble(tar, 1000))) {
      names.push(e.header.name);
      if (e.header.name === 'small') for await (const c of e.body) last += c.toString();
      else for await (const _ of e.body) break; // read one chunk only
    }
    assert.deepEqual(names, ['big', 'small']);
    assert.equal(last, 'yes');
  });
});
