// parallelGzip makes one standard gzip member: node's gunzip and the system's gzip read it back
// byte for byte, whatever the data (empty, smaller than a segment, compressible text, random
// bytes, both mixed, odd chunk sizes); compressible data is compressed about as well as by a
// single gzip stream; random data is stored rather than compressed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { incompressible, parallelGzip } from './pgzip.ts';

async function gz(data: Buffer, chunk = 64 * 1024, segment = 256 * 1024): Promise<Buffer> {
  async function* source(): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.byteLength; i += chunk) yield data.subarray(i, i + chunk);
  }
  const out: Buffer[] = [];
  for await (const c of parallelGzip(source(), { segment })) out.push(c);
  return Buffer.concat(out);
}

function text(n: number): Buffer {
  const words = ['layer', 'image', 'container', 'registry', 'manifest', 'digest', 'busybox', 'runc'];
  let s = '';
  let i = 0;
  while (s.length < n) s += `${words[(i * 7 + (i >> 3)) % words.length]} ${i++}\n`;
  return Buffer.from(s.slice(0, n));
}

describe('parallelGzip', () => {
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['smaller than a segment', text(1000)],
    ['text over many segments', text(3 * 1024 * 1024 + 17)],
    ['random over many segments', randomBytes(1024 * 1024 + 5)],
    ['random then text then random', Buffer.concat([randomBytes(600_000), text(700_000), randomBytes(300_000)])],
  ];
  for (const [name, data] of cases) {
    test(`round trip: ${name}`, async () => {
      const z = await gz(data, 50_000);
      assert.deepEqual(gunzipSync(z), data);
      assert.deepEqual(execFileSync('gzip', ['-dc'], { input: z, maxBuffer: 64 * 1024 * 1024 }), data);
    });
  }

  test('compressible data compresses about as well as one gzip stream', async () => {
    const data = text(4 * 1024 * 1024);
    const ours = (await gz(data)).byteLength;
    const single = gzipSync(data).byteLength;
    assert.ok(ours < data.byteLength / 4, `${ours} of ${data.byteLength}`);
    assert.ok(ours <= single * 1.05, `${ours} vs ${single}`);
  });

  test('random data is stored: the output is barely larger than the input', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const z = await gz(data);
    assert.ok(z.byteLength < data.byteLength * 1.001 + 64, `${z.byteLength}`);
    assert.equal(incompressible(data), true);
    assert.equal(incompressible(text(1024 * 1024)), false);
  });

  test('the same input gives the same bytes (a layer keeps its digest from push to push)', async () => {
    const data = Buffer.concat([text(900_000), randomBytes(400_000)]);
    assert.deepEqual(await gz(data, 10_000), await gz(data, 333_333));
  });

  test('an error of the source comes through', async () => {
    async function* bad(): AsyncGenerator<Buffer> {
      yield text(10);
      throw new Error('source broke');
    }
    await assert.rejects(
      (async () => {
        for await (const _ of parallelGzip(bad())) {
          /* drain */
        }
      })(),
      /source broke/,
    );
  });
});
