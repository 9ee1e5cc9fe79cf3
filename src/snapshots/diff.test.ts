import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { diffLayer } from './diff.ts';
import { readTar } from './tar-reader.ts';
import { withTempDir } from './testing.ts';

describe('diffLayer', () => {
  it('archives large files, read in several chunks, byte for byte, and the entries after them', () =>
    withTempDir(async (dir) => {
      const upper = join(dir, 'upper');
      await mkdir(join(upper, 'd'), { recursive: true });
      // Sizes around the small-file limit (256 KiB) and the large-file read size (1 MiB), none a
      // multiple of the 512-byte block.
      const files = new Map<string, Buffer>([
        ['a-just-large', randomBytes(256 * 1024 + 1)],
        ['b-three-reads', randomBytes(2 * 1024 * 1024 + 7)],
        ['c-small', randomBytes(1000)],
        ['d/e-one-read', randomBytes(1024 * 1024)],
      ]);
      for (const [name, data] of files) await writeFile(join(upper, name), data);
      await link(join(upper, 'b-three-reads'), join(upper, 'd', 'f-hardlink'));

      const seen = new Map<string, { type: string; data: Buffer; linkname: string }>();
      for await (const e of readTar(diffLayer(upper))) {
        const parts: Buffer[] = [];
        for await (const c of e.body) parts.push(c);
        seen.set(e.header.name, { type: e.header.type, data: Buffer.concat(parts), linkname: e.header.linkname });
      }
      assert.deepEqual([...seen.keys()], ['a-just-large', 'b-three-reads', 'c-small', 'd/', 'd/e-one-read', 'd/f-hardlink']);
      for (const [name, data] of files) assert.ok(seen.get(name)?.data.equals(data), `${name}: data differs`);
      assert.deepEqual(seen.get('d/f-hardlink'), { type: 'link', data: Buffer.alloc(0), linkname: 'b-three-reads' });
    }));
});
