// tee(): the two readers of a layer being pulled (the content store and the snapshot being
// unpacked) get the same bytes at the pace of the slower; an error of the download reaches both;
// when one reader stops, the other fails rather than taking a truncated stream for the whole.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { tee } from './tee.ts';

async function* chunks(data: Buffer, size: number, fail?: Error): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.byteLength; i += size) yield data.subarray(i, i + size);
  if (fail) throw fail;
}

async function collect(r: AsyncIterable<Buffer>, delayMs = 0): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) {
    parts.push(c);
    if (delayMs) await sleep(delayMs);
  }
  return Buffer.concat(parts);
}

describe('tee', () => {
  test('both readers get every byte, one of them slow', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const [a, b] = tee(chunks(data, 64 * 1024), 256 * 1024);
    const [x, y] = await Promise.all([collect(a), collect(b, 1)]);
    assert.deepEqual(x, data);
    assert.deepEqual(y, data);
  });

  test('an error of the source reaches both readers', async () => {
    const [a, b] = tee(chunks(randomBytes(100_000), 10_000, new Error('digest mismatch')));
    await assert.rejects(collect(a), /digest mismatch/);
    await assert.rejects(collect(b), /digest mismatch/);
  });

  test('when one reader stops, the other fails instead of seeing a clean end', async () => {
    const [a, b] = tee(chunks(randomBytes(4 * 1024 * 1024), 64 * 1024), 64 * 1024);
    const other = collect(b);
    for await (const _ of a) break; // stops after the first chunk
    await assert.rejects(other, /other reader of the layer stopped/);
  });
});
